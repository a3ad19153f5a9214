"""What the operators do in production, held against the emulator (simulated runner) over real HTTP.

Each test here failed on the code before the fix it covers, or fails when the one-line mistake it names
is planted back:

* envs and tags are rendered once (they were listed twice in ``template_fields``);
* a scheduled DAG with a FIXED name trains on every run (default ``if_exists="new"``), and a retry of a
  run finds that run's own job again;
* a retry never restarts (TI-ONE) or recreates (TI-A) a job another run left behind;
* re-attaching to a finished own task returns the task's detail (same keys as the first try);
* a kill applies ``on_kill_action``, a timeout applies ``on_timeout`` (not the kill action);
* ``if_exists="fail"``/``"replace"`` treat another run's job as another run's.

The jobs and tasks are read back with the hooks (the official SDK clients), never from our own state.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_tia.exceptions import JobAlreadyExists, JobFailed, JobNotFound, JobWaitTimeout
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.models.tia.job_spec import MAX_NAME_LENGTH as TIA_MAX_NAME
from airflow_provider_tia.operators.base import run_suffix, suffixed
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione.training import CreateTrainingTaskOperator
from tests.helpers import airflow_compat
from tests.helpers.dag_runs import xcom
from tests.helpers.support import CLUSTER, HAS_STATE_STORE, FakeTI
from tests.helpers.task_state import TaskStateStore

CONN = "tencentcloud_default"
# TI-A's ownership of a plain-named job is the task state store's record (Airflow 3.3+); below it, names
# carry the run's hash (tests/operators/test_tia.py checks that).
pytestmark = pytest.mark.skipif(not HAS_STATE_STORE, reason="Airflow < 3.3: no task state store")
WORKER = [{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}]
TAG_KEY = "airflow-task-key"


# ------------------------------------------------------------------------------------------ helpers
def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def load_dag(dag_id: str):
    """A DAG of the test DAGs folder (conftest links tests/dags there), as conftest's ``load_dag``."""
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"pt_dag_{dag_id}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.dag


def run_on(dag, day: int):
    date = pendulum.datetime(2024, 5, day, tz="UTC")
    return airflow_compat.dag_test(dag, logical_date=date, run_after=date)


def stored_record(run, task_id: str, key: str) -> Any:
    """What the run's task instance recorded in Airflow's task state store (the metadata DB)."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == run.dag_id,
                TaskStateStoreModel.run_id == run.run_id,
                TaskStateStoreModel.task_id == task_id,
                TaskStateStoreModel.key == key,
            )
        ).first()
        return None if row is None else json.loads(row.value)


def states(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in run.get_task_instances()}


def ti_ids(run) -> dict[str, str]:
    return {ti.task_id: str(ti.id) for ti in run.get_task_instances()}


def requests_of(emulator, action: str) -> list[dict]:
    return [params for name, params in list(emulator.requests) if name == action]


@pytest.fixture(scope="module")
def module_connection(simulated_emulator):
    """``tencentcloud_default`` pointing at this module's simulated emulator, for module fixtures."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", simulated_emulator.connection_uri_json())
        yield simulated_emulator


@pytest.fixture
def emulator(simulated_emulator, connect, airflow_db):
    connect(CONN, simulated_emulator)
    simulated_emulator.set_faults(None)
    return simulated_emulator


def tione_operator(name: str, duration: float = 0.3, **options: Any) -> CreateTrainingTaskOperator:
    """A one-worker task of the simulated runner, running ``duration`` seconds, polled every 0.2 s."""
    tags = {"sim.duration": str(duration), **options.pop("tags", {})}
    return CreateTrainingTaskOperator(
        task_id="train",
        name=name,
        resource_config_infos=WORKER,
        start_cmd="python train.py",
        tags=tags,
        poll_interval=0.2,
        **options,
    )


def tia_operator(name: str, **options: Any) -> CreateJobOperator:
    return CreateJobOperator(
        task_id="train",
        name=name,
        cluster=CLUSTER,
        runtime_version="tia-1.7.0",
        runtime_conf=["sim.duration=0.3"],
        poll_interval=0.2,
        **options,
    )


def outcome(op, context: dict) -> Any:
    """What ``op.execute`` returned, or the error it raised."""
    try:
        return op.execute(context)
    except BaseException as error:
        return error


# -------------------------------------------------------------------- 2. envs and tags rendered once
def test_envs_and_tags_are_rendered_exactly_once(emulator, airflow_db, capfd) -> None:
    run = load_dag("pt_render_once").test()
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    result = xcom(run, "tione")
    # Envs are secrets: the XCom (the task's detail) never shows their values. The service holds the
    # values themselves; DescribeTrainingTasks' list item echoes them (the hook's raw reply).
    assert all(env["Value"] == "***" for env in result.get("Envs") or [])
    (listed,) = TIONEHook(CONN).find_training_tasks(ids=[result["Id"]])
    envs = {env["Name"]: env["Value"] for env in listed.raw["Envs"]}
    assert envs == {"RAW": "{{x}}", "P": "logs/{{ ds }}", "PLAIN": "pt_render_once"}
    assert {env["Value"] for env in listed.to_dict()["Envs"]} == {"***"}  # what an XCom would carry
    task = TIONEHook(CONN).describe_training_task(result["Id"])
    assert task.tags["raw-tag"] == "{{y}}" and task.tags["p-tag"] == "logs/{{ ds }}"
    assert {tag["TagKey"]: tag["TagValue"] for tag in result["Tags"]}["p-tag"] == "logs/{{ ds }}"


# --------------------------------------------------------- 3. a fixed name trains on every scheduled run
@pytest.fixture(scope="module")
def fixed_name_runs(module_connection, airflow_db):
    """pt_fixed_name (schedule @daily, fixed names) run on three logical dates; what each run left
    (states, results, task state store records) is read at once: a later test runs day 1 again."""
    emulator = module_connection
    dag = load_dag("pt_fixed_name")
    emulator.reset_counters()
    runs = [run_on(dag, day) for day in (1, 2, 3)]
    return {
        "dag": dag,
        "runs": runs,
        "states": [states(run) for run in runs],
        "ti_ids": [ti_ids(run) for run in runs],
        "tia": [xcom(run, "tia") for run in runs],
        "tione": [xcom(run, "tione") for run in runs],
        "records": [stored_record(run, "tia", CreateJobOperator.external_id_key) for run in runs],
        "calls": dict(emulator.calls),
        "requests": list(emulator.requests),
    }


def test_fixed_name_tia_job_trains_on_every_run(fixed_name_runs) -> None:
    runs, jobs = fixed_name_runs["runs"], fixed_name_runs["tia"]
    assert [state["tia"] for state in fixed_name_runs["states"]] == [("success", 1)] * 3
    assert fixed_name_runs["calls"]["CreateJob"] == 3
    created = [params["Name"] for name, params in fixed_name_runs["requests"] if name == "CreateJob"]
    assert [job["State"] for job in jobs] == ["Succeeded"] * 3
    assert len({job["Id"] for job in jobs}) == 3
    # The first run takes the plain name; later runs find it held by another run and use their own.
    expected = ["pt-fixed-job"] + [
        suffixed("pt-fixed-job", run_suffix("pt_fixed_name", "tia", run.run_id, -1), TIA_MAX_NAME)
        for run in runs[1:]
    ]
    assert [job["Name"] for job in jobs] == expected == created
    assert all(re.fullmatch(r"pt-fixed-job-[0-9a-f]{8}", name) for name in expected[1:])
    hook = TIAHook(CONN)
    assert [hook.describe_job(name, CLUSTER).raw["Id"] for name in expected] == [job["Id"] for job in jobs]


def test_fixed_name_tione_task_trains_on_every_run(fixed_name_runs) -> None:
    runs, tasks = fixed_name_runs["runs"], fixed_name_runs["tione"]
    assert [state["tione"] for state in fixed_name_runs["states"]] == [("success", 1)] * 3
    assert fixed_name_runs["calls"]["CreateTrainingTask"] == 3
    assert [task["Status"] for task in tasks] == ["SUCCEED"] * 3
    assert len({task["Id"] for task in tasks}) == 3
    tags = [run_suffix("pt_fixed_name", "tione", run.run_id, -1, 32) for run in runs]
    assert [{t["TagKey"]: t["TagValue"] for t in task["Tags"]}[TAG_KEY] for task in tasks] == tags
    assert [task["Name"] for task in tasks] == ["pt-fixed-task"] + [
        f"pt-fixed-task-{tag[:8]}" for tag in tags[1:]
    ]
    hook = TIONEHook(CONN)
    for task, tag in zip(tasks, tags, strict=True):
        assert [found.id for found in hook.find_training_tasks(tags={TAG_KEY: tag})] == [task["Id"]]


@pytest.mark.parametrize("day", [0, 1], ids=["first-run", "later-run"])
def test_a_retry_of_a_fixed_name_run_reattaches_to_its_own_job(fixed_name_runs, emulator, day) -> None:
    """Try 2 of a run's task instance (as after a worker crash) finds the job that run created."""
    dag, run = fixed_name_runs["dag"], fixed_name_runs["runs"][day]
    emulator.reset_counters()
    # TI-ONE: found by its tag (no task state store needed).
    tione = dag.get_task("tione").prepare_for_execution()
    ti = FakeTI("tione", try_number=2, dag_id="pt_fixed_name", run_id=run.run_id)
    again = tione.execute({"ti": ti})
    first = fixed_name_runs["tione"][day]
    assert again["Id"] == first["Id"] and again["Status"] == "SUCCEED"
    assert sorted(again) == sorted(first)
    # TI-A: found through the task state store record the run's try 1 wrote (read from Airflow's DB).
    record = fixed_name_runs["records"][day]
    assert record is not None and record["id"] == fixed_name_runs["tia"][day]["Id"]
    tia = dag.get_task("tia").prepare_for_execution()
    ti = FakeTI("tia", try_number=2, dag_id="pt_fixed_name", run_id=run.run_id)
    store = TaskStateStore({CreateJobOperator.external_id_key: record})
    job = tia.execute({"ti": ti, "task_state_store": store})
    assert job["Id"] == record["id"] and job["State"] == "Succeeded"
    assert emulator.calls["CreateTrainingTask"] == emulator.calls["CreateJob"] == 0
    assert emulator.calls["StartTrainingTask"] == emulator.calls["DeleteJob"] == 0


@pytest.fixture(scope="module")
def first_day_again(fixed_name_runs, module_connection):
    """dag.test() on day 1 again: the same task instances run again (cleared: a new try, an empty task
    state store), as tests/operators/test_tia_dag.py's
    ``test_if_exists_suffix_names_one_job_per_run_and_a_rerun_reattaches`` does."""
    emulator = module_connection
    emulator.reset_counters()
    run = run_on(fixed_name_runs["dag"], 1)
    assert run.run_id == fixed_name_runs["runs"][0].run_id
    return {
        "states": states(run),
        "ti_ids": ti_ids(run),
        "tia": xcom(run, "tia"),
        "tione": xcom(run, "tione"),
        "calls": dict(emulator.calls),
    }


def test_running_the_first_run_again_reattaches_its_tione_task(fixed_name_runs, first_day_again) -> None:
    assert first_day_again["states"]["tione"][0] == "success"
    assert first_day_again["ti_ids"]["tione"] != fixed_name_runs["ti_ids"][0]["tione"]  # it ran again
    assert first_day_again["calls"].get("CreateTrainingTask", 0) == 0  # found by its tag
    assert first_day_again["calls"].get("StartTrainingTask", 0) == 0
    assert first_day_again["tione"]["Id"] == fixed_name_runs["tione"][0]["Id"]


def test_running_the_first_run_again_trains_a_tia_job_anew(fixed_name_runs, first_day_again) -> None:
    """Clearing a task makes Airflow forget its task state store's record, and a TI-A job carries no tag:
    the plain-named job cannot be told to be this task instance's, so the task trains anew under
    ``<name>-<hash>`` (documented; TI-ONE finds its task again by its tag)."""
    assert first_day_again["states"]["tia"][0] == "success"
    assert first_day_again["ti_ids"]["tia"] != fixed_name_runs["ti_ids"][0]["tia"]  # it ran again
    assert first_day_again["calls"].get("CreateJob", 0) == 1
    assert first_day_again["tia"]["Id"] != fixed_name_runs["tia"][0]["Id"]
    assert first_day_again["tia"]["Name"].startswith(fixed_name_runs["tia"][0]["Name"] + "-")


# ------------------------------------------------- 4. a retry never runs another run's failed job again
@pytest.fixture(scope="module")
def retry_runs(module_connection, airflow_db):
    """pt_retry_other: day 1's jobs fail (each retried once: its own job runs again); then day 2 runs.
    Snapshots of day 1's jobs before day 2, and day 2's requests."""
    emulator = module_connection
    dag = load_dag("pt_retry_other")
    day1 = run_on(dag, 1)
    tione, tia = TIONEHook(CONN), TIAHook(CONN)
    before = {
        "tione": {
            mode: tione.describe_training_task(
                tione.find_training_tasks(name=f"pt-failing-task-{mode}")[0].id
            )
            for mode in ("attach", "new")
        },
        "tia": {mode: tia.describe_job(f"pt-failing-job-{mode}", CLUSTER) for mode in ("attach", "new")},
    }
    emulator.reset_counters()
    day2 = run_on(dag, 2)
    return {
        "day1": day1,
        "day2": day2,
        "states1": states(day1),
        "states2": states(day2),
        "before": before,
        "requests": list(emulator.requests),
        "calls": dict(emulator.calls),
    }


def test_day_one_failed_and_retried_its_own_jobs(retry_runs) -> None:
    assert retry_runs["states1"] == dict.fromkeys(
        ("tione_attach", "tione_new", "tia_attach", "tia_new"), ("failed", 2)
    )
    for task in retry_runs["before"]["tione"].values():
        assert task.state_name == "FAILED"
    for job in retry_runs["before"]["tia"].values():
        assert job.state_name == "Failed"


def test_tione_attach_retry_never_restarts_another_runs_task(retry_runs) -> None:
    """if_exists="attach": day 2 reports day 1's failed task (both tries) and never starts it again."""
    old = retry_runs["before"]["tione"]["attach"]
    assert retry_runs["states2"]["tione_attach"] == ("failed", 2)  # the retry really ran
    started = [params["Id"] for params in _requests(retry_runs, "StartTrainingTask")]
    assert old.id not in started
    now = TIONEHook(CONN).describe_training_task(old.id)
    assert now.latest_instance_id == old.latest_instance_id and now.state_name == "FAILED"
    named = [p["Name"] for p in _requests(retry_runs, "CreateTrainingTask")]
    assert not any(name.startswith("pt-failing-task-attach") for name in named)


def test_tione_new_creates_and_restarts_only_its_own_task(retry_runs) -> None:
    """Default if_exists="new": day 2 creates its own task; its retry restarts that one only."""
    old = retry_runs["before"]["tione"]["new"]
    day2 = retry_runs["day2"]
    assert retry_runs["states2"]["tione_new"] == ("failed", 2)
    tag = run_suffix("pt_retry_other", "tione_new", day2.run_id, -1, 32)
    (own,) = TIONEHook(CONN).find_training_tasks(tags={TAG_KEY: tag})
    assert own.id != old.id and own.name == f"pt-failing-task-new-{tag[:8]}"
    created = [
        p["Name"]
        for p in _requests(retry_runs, "CreateTrainingTask")
        if p["Name"].startswith("pt-failing-task-new")
    ]
    assert created == [own.name]
    started = [p["Id"] for p in _requests(retry_runs, "StartTrainingTask")]
    assert started.count(own.id) == 1 and old.id not in started
    now = TIONEHook(CONN).describe_training_task(old.id)
    assert now.latest_instance_id == old.latest_instance_id and now.state_name == "FAILED"


def test_tia_attach_retry_never_recreates_another_runs_job(retry_runs) -> None:
    old = retry_runs["before"]["tia"]["attach"]
    assert retry_runs["states2"]["tia_attach"] == ("failed", 2)
    touched = [p["Name"] for p in _requests(retry_runs, "DeleteJob") + _requests(retry_runs, "CreateJob")]
    assert "pt-failing-job-attach" not in touched
    assert TIAHook(CONN).describe_job("pt-failing-job-attach", CLUSTER).raw["Id"] == old.raw["Id"]


def test_tia_new_creates_and_recreates_only_its_own_job(retry_runs) -> None:
    old = retry_runs["before"]["tia"]["new"]
    day2 = retry_runs["day2"]
    assert retry_runs["states2"]["tia_new"] == ("failed", 2)
    own = suffixed(
        "pt-failing-job-new", run_suffix("pt_retry_other", "tia_new", day2.run_id, -1), TIA_MAX_NAME
    )
    # Try 1 creates this run's job; try 2 finds it failed: deletes it and creates it again (its own).
    created = [
        p["Name"] for p in _requests(retry_runs, "CreateJob") if p["Name"].startswith("pt-failing-job-new")
    ]
    deleted = [
        p["Name"] for p in _requests(retry_runs, "DeleteJob") if p["Name"].startswith("pt-failing-job-new")
    ]
    assert created == [own, own] and deleted == [own]
    assert TIAHook(CONN).describe_job("pt-failing-job-new", CLUSTER).raw["Id"] == old.raw["Id"]


def _requests(runs: dict, action: str) -> list[dict]:
    return [params for name, params in runs["requests"] if name == action]


# ------------------------------------------------ 5. re-attaching to a finished own task: the same shape
def test_reattaching_to_a_finished_own_task_returns_its_detail(emulator) -> None:
    name = unique("pt-shape")
    ti = FakeTI("train", run_id=name)
    emulator.reset_counters()
    first = tione_operator(name).execute({"ti": ti})
    assert first["Status"] == "SUCCEED"
    ti.try_number = 2  # the same task instance again (a retry after a crash, a cleared task)
    again = tione_operator(name).execute({"ti": ti})
    assert emulator.calls["CreateTrainingTask"] == 1 and emulator.calls["StartTrainingTask"] == 0
    assert sorted(again) == sorted(first)  # the same shape on every path
    for key in ("Id", "Name", "LatestInstanceId", "StartCmdInfo", "CodePackagePath", "DataConfigs", "Status"):
        assert key in again and again[key] == first[key], key
    assert again["LatestInstanceId"] and again["StartCmdInfo"]["StartCmd"] == "python train.py"


# ----------------------------------------------------------------------- 6b. a kill: on_kill_action
def _start_in_thread(op, ti) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(outcome(op, {"ti": ti})), daemon=True)
    thread.start()
    return thread, results


def _running_task_of(op, emulator) -> str:
    deadline = time.monotonic() + 60
    while op.jobs.last is None:
        assert time.monotonic() < deadline, "the operator never created its task"
        time.sleep(0.02)
    task_id = op.jobs.last.id
    emulator.wait_for_task(task_id, "RUNNING", timeout=60)
    return task_id


@pytest.mark.parametrize("action", ["stop", "delete", "leave"])
def test_kill_applies_on_kill_action(emulator, action) -> None:
    name = unique(f"pt-kill-{action}")
    op = tione_operator(name, duration=120, on_kill_action=action, max_wait=300)
    thread, results = _start_in_thread(op, FakeTI("train", run_id=name))
    hook = TIONEHook(CONN)
    task_id = None
    try:
        task_id = _running_task_of(op, emulator)
        emulator.reset_counters()
        op.on_kill()
        if action == "stop":
            assert emulator.wait_for_task(task_id, "STOPPED")["Status"] == "STOPPED"
            assert hook.describe_training_task(task_id).state_name == "STOPPED"  # stopped, still there
            assert emulator.calls["DeleteTrainingTask"] == 0
        elif action == "delete":
            with pytest.raises(JobNotFound):
                hook.describe_training_task(task_id)
            assert hook.find_training_tasks(name=name) == []
        else:
            assert emulator.calls["StopTrainingTask"] == emulator.calls["DeleteTrainingTask"] == 0
            assert hook.describe_training_task(task_id).state_name == "RUNNING"
    finally:  # a task still running is stopped by the test, so the operator's wait ends
        if task_id is not None and _running(hook, task_id):
            hook.stop_training_task(task_id, missing_ok=True)
        thread.join(60)
    assert not thread.is_alive()
    (result,) = results
    assert isinstance(result, JobNotFound if action == "delete" else JobFailed), result


def _running(hook: TIONEHook, task_id: str) -> bool:
    return any(not task.is_terminal for task in hook.find_training_tasks(ids=[task_id]))


# ------------------------------------------------ 6c. a timeout: on_timeout, not the kill action
@pytest.mark.parametrize(
    ("kill", "timeout", "expected"), [("leave", "delete", "deleted"), ("delete", "stop", "stopped")]
)
def test_timeout_applies_on_timeout_not_on_kill_action(emulator, kill, timeout, expected) -> None:
    name = unique(f"pt-timeout-{timeout}")
    op = tione_operator(name, duration=120, on_kill_action=kill, on_timeout=timeout, max_wait=3)
    with pytest.raises(JobWaitTimeout, match=rf"the job was {expected} \(on_timeout='{timeout}'\)"):
        op.execute({"ti": FakeTI("train", run_id=name)})
    task_id = op.jobs.target.task_id
    hook = TIONEHook(CONN)
    if timeout == "delete":
        with pytest.raises(JobNotFound):
            hook.describe_training_task(task_id)
    else:
        assert emulator.wait_for_task(task_id, "STOPPED")["Status"] == "STOPPED"
        assert [task.id for task in hook.find_training_tasks(name=name)] == [task_id]  # not deleted


# --------------------------------------- 6d. if_exists "fail" / "replace": another run's job is not ours
def _other_runs_task(name: str) -> str:
    """A task another run of the same DAG task created under ``name`` (its own tag), finished."""
    return tione_operator(name).execute({"ti": FakeTI("train", run_id=f"{name}-other-run")})["Id"]


def test_tione_if_exists_fail_refuses_another_runs_task(emulator) -> None:
    name = unique("pt-fail")
    other = _other_runs_task(name)
    emulator.reset_counters()
    op = tione_operator(name, if_exists="fail")
    with pytest.raises(JobAlreadyExists, match=rf"{name}.* already exists \(if_exists='fail'\)"):
        op.execute({"ti": FakeTI("train", run_id=f"{name}-this-run")})
    assert emulator.calls["CreateTrainingTask"] == 0 and emulator.calls["DeleteTrainingTask"] == 0
    assert [task.id for task in TIONEHook(CONN).find_training_tasks(name=name)] == [other]


def test_tione_if_exists_replace_deletes_another_runs_task(emulator) -> None:
    name = unique("pt-replace")
    other = _other_runs_task(name)
    emulator.reset_counters()
    run_id = f"{name}-this-run"
    result = tione_operator(name, if_exists="replace").execute({"ti": FakeTI("train", run_id=run_id)})
    assert emulator.calls["CreateTrainingTask"] == 1
    hook = TIONEHook(CONN)
    with pytest.raises(JobNotFound):
        hook.describe_training_task(other)
    (task,) = hook.find_training_tasks(name=name)
    assert task.id == result["Id"] != other and result["Status"] == "SUCCEED"
    assert task.tags[TAG_KEY] == run_suffix("d", "train", run_id, -1, 32)


def _other_runs_job(name: str) -> str:
    other = TaskStateStore()
    context = {"ti": FakeTI("train", run_id=f"{name}-other-run"), "task_state_store": other}
    return tia_operator(name).execute(context)["Id"]


def test_tia_if_exists_fail_refuses_another_runs_job(emulator) -> None:
    name = unique("pt-fail-job")
    other = _other_runs_job(name)
    emulator.reset_counters()
    context = {"ti": FakeTI("train", run_id=f"{name}-this-run"), "task_state_store": TaskStateStore()}
    with pytest.raises(JobAlreadyExists, match=rf"{name} in {CLUSTER} already exists \(if_exists='fail'\)"):
        tia_operator(name, if_exists="fail").execute(context)
    assert emulator.calls["CreateJob"] == 0 and emulator.calls["DeleteJob"] == 0
    assert TIAHook(CONN).describe_job(name, CLUSTER).raw["Id"] == other


def test_tia_if_exists_replace_deletes_another_runs_job(emulator) -> None:
    name = unique("pt-replace-job")
    other = _other_runs_job(name)
    emulator.reset_counters()
    context = {"ti": FakeTI("train", run_id=f"{name}-this-run"), "task_state_store": TaskStateStore()}
    result = tia_operator(name, if_exists="replace").execute(context)
    assert emulator.calls["DeleteJob"] == 1 and emulator.calls["CreateJob"] == 1
    assert result["Name"] == name and result["Id"] != other and result["State"] == "Succeeded"
    assert TIAHook(CONN).describe_job(name, CLUSTER).raw["Id"] == result["Id"]


# ------------------------------------------- 3b. two runs of a fixed-name DAG creating at the same moment
def test_two_runs_creating_a_fixed_name_at_once_train_a_job_each(emulator) -> None:
    """Both runs find the name free (DescribeJob answers slowly) and both create: the refused one
    decides again and trains under its suffixed name, never adopting the other run's job."""
    name = unique("pt-race")
    emulator.set_faults("DescribeJob:latency=1.0@1.0")
    try:
        runs = [FakeTI("train", dag_id="pt_race", run_id=f"scheduled__2026-12-0{day}") for day in (1, 2)]
        ops = [tia_operator(name) for _ in runs]
        threads = [
            threading.Thread(
                target=lambda op=op, ti=ti: results.append(
                    outcome(op, {"ti": ti, "task_state_store": TaskStateStore()})
                )
            )
            for op, ti in zip(ops, runs, strict=True)
        ]
        results: list[Any] = []
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        emulator.set_faults(None)
    assert [r.get("State") if isinstance(r, dict) else r for r in results] == ["Succeeded", "Succeeded"]
    names = sorted(r["Name"] for r in results)
    assert names[0] == name and names[1].startswith(f"{name}-"), names
