"""CreateJobOperator end to end: dag.test() against the emulator over real HTTP (local runner)."""

from __future__ import annotations

import re
import threading
import time
import urllib.request

import pendulum
import pytest

from airflow_provider_tia.exceptions import JobNotFound
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.links.tia import TIAJobLink
from airflow_provider_tia.models.tia.job_spec import MAX_NAME_LENGTH as TIA_MAX_NAME
from airflow_provider_tia.operators.base import run_suffix, suffixed
from tests.helpers import airflow_compat
from tests.helpers.dag_runs import xcom
from tests.helpers.support import CLUSTER, script_spec


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def served_lines(name: str) -> list[str]:
    """Every log line the service holds for a job, as the operator formats them."""
    hook = TIAHook()
    now = pendulum.now("UTC")
    return [line.format() for line in hook.query_logs(name, CLUSTER, now.subtract(hours=1), now.add(hours=1))]


def job_lines(name: str, token: str, roles: list[str], lines: int) -> list[str]:
    out = []
    for role in roles:
        pod = f"{name}-{role[:-1]}-{role[-1]}"
        out += [f"[{pod}] {token} {role} step {i}" for i in range(lines)]
    return out


def assert_once(output: str, lines: list[str], caplog=None) -> None:
    """Each job line was emitted to the task log exactly once, by the operator or by its trigger while
    deferred (error messages may quote it again)."""
    for line in lines:
        by_task = max(
            output.count(f"] {line} [airflow.task.operators"),
            airflow_compat.records_of(caplog, line.__eq__, ("airflow.task.operators",)),
        )
        by_trigger = max(
            output.count(f"] {line} [airflow_provider_tia.triggers"),
            airflow_compat.records_of(caplog, line.__eq__, ("airflow_provider_tia.triggers",)),
        )
        assert by_task + by_trigger == 1, (line, by_task, by_trigger)


@pytest.fixture
def hook(tia_connection) -> TIAHook:
    return TIAHook(tia_connection)


def test_a_job_trains_with_rendered_fields_prints_each_line_once_and_links_its_page(
    run_dag, tia_emulator, capfd, caplog
):
    tia_emulator.reset_counters()
    dag_run = run_dag("tia_test_train", conf={"prefix": "ok", "workers": 2, "debug": "true"})
    output = capfd.readouterr().out
    assert states(dag_run) == {"train": "success"}
    name = f"ok-{dag_run.logical_date:%Y%m%d}"  # name="{{ params.prefix }}-{{ ds_nodash }}"
    result = xcom(dag_run, "train")
    assert result["State"] == "Succeeded" and result["Name"] == name
    # "{{ params.workers }}" and "{{ params.debug }}" render as text and are converted before CreateJob.
    assert result["WorkerCount"] == 2 and result["Debug"] is True and result["RuntimeConf"] == ["env=ok"]
    assert result["Args"] == ["train.py", "--lines", "3", "--fail", "False", "--token", "ok"]
    assert tia_emulator.calls["CreateJob"] == 1
    assert_once(
        output, job_lines(name, "ok", ["master0"], 3) + [f"[{name}-master-0] ok master0 done"], caplog
    )
    # Workers still running when the master ends are stopped: check whatever lines they wrote.
    served = served_lines(name)
    assert any("worker1" in line for line in served)
    assert_once(output, served, caplog)
    # The job runs on the emulator: the link opens the emulator's own page of the job.
    page = f"http://{tia_emulator.endpoint}/console/tia/job?cluster={CLUSTER}&name={name}"
    assert xcom(dag_run, "train", key=TIAJobLink().xcom_key) == page
    with urllib.request.urlopen(page, timeout=10) as reply:
        html = reply.read().decode()
    assert name in html and "Succeeded" in html


def test_failed_job_fails_task_with_message_and_last_lines(run_dag, tia_emulator, capfd, caplog):
    dag_run = run_dag("tia_test_train", conf={"prefix": "bad", "fail": True})
    output = capfd.readouterr().out
    assert states(dag_run) == {"train": "failed"}
    name = f"bad-{dag_run.logical_date:%Y%m%d}"
    job = tia_emulator.store.get(CLUSTER, name)
    assert job["State"] == "Failed" and job["Message"]
    error = output[output.index(f"TI-A job {name} in {CLUSTER} failed: ") :]
    assert job["Message"] in error
    assert "Last log lines:" in error and "bad master0 error: loss is nan" in error
    assert_once(output, job_lines(name, "bad", ["master0"], 3), caplog)


def test_bad_templated_value_is_rejected_before_any_call(run_dag, tia_emulator, capfd):
    tia_emulator.reset_counters()
    dag_run = run_dag("tia_test_train", conf={"prefix": "badvalue", "workers": "two"})
    output = capfd.readouterr().out
    assert states(dag_run) == {"train": "failed"}
    assert tia_emulator.calls["CreateJob"] == 0 and sum(tia_emulator.calls.values()) == 0
    assert "Invalid parameter worker_count (WorkerCount)" in output and "'two'" in output


def test_deferred_jobs_print_live_lines_once_and_a_failure_carries_its_last_lines(
    run_dag, tia_emulator, capfd, caplog
):
    dag_run = run_dag("tia_test_deferrable")
    output = capfd.readouterr().out
    assert states(dag_run) == {"train_ok": "success", "train_bad": "failed"}
    # The trigger really ran, and printed job lines while the job ran (live logs while deferred).
    for job, state in (("d-ok", "Succeeded"), ("d-bad", "Failed")):
        said = f"TI-A job {job} in ap-beijing is {state}"
        trigger = ("airflow_provider_tia.triggers.tia.JobTrigger",)
        assert re.search(rf"{said}\s+\[{re.escape(trigger[0])}", output) or airflow_compat.records_of(
            caplog, lambda message, said=said: message.startswith(said), trigger
        )
    assert xcom(dag_run, "train_ok")["State"] == "Succeeded"
    assert_once(
        output, job_lines("d-ok", "dok", ["master0"], 8) + ["[d-ok-master-0] dok master0 done"], caplog
    )
    assert_once(output, job_lines("d-bad", "dbad", ["master0"], 8), caplog)
    assert re.search(
        r"\] \[d-ok-master-0\] dok master0 step \d \[airflow_provider_tia\.triggers", output
    ) or airflow_compat.records_of(
        caplog,
        re.compile(r"\[d-ok-master-0\] dok master0 step \d$").match,
        ("airflow_provider_tia.triggers",),
    )
    error = output[output.index("TI-A job d-bad in ap-beijing failed: ") :]
    assert "Last log lines:" in error and "dbad master0 error: loss is nan" in error
    # The tail printed before deferral reaches the error message too.
    assert "dbad master0 step 7" in error


def test_if_exists_attach_follows_a_running_job_and_fail_refuses_one(
    run_dag, tia_emulator, hook, capfd, caplog
):
    hook.create_job(script_spec("e-attach", "--lines", "3", "--sleep", "0.5", "--token", "pre"))
    hook.create_job(script_spec("e-refuse"))
    tia_emulator.wait_for_state("e-attach", CLUSTER, "Running")
    before = tia_emulator.store.get(CLUSTER, "e-attach")["Id"]
    tia_emulator.reset_counters()
    dag_run = run_dag("tia_test_if_exists")
    output = capfd.readouterr().out
    assert tia_emulator.calls["CreateJob"] == 0  # a retry finding its job running never creates another
    assert states(dag_run) == {"attach": "success", "refuse": "failed"}
    result = xcom(dag_run, "attach")
    assert result["State"] == "Succeeded" and result["Id"] == before
    assert_once(output, job_lines("e-attach", "pre", ["master0"], 3), caplog)
    assert "TI-A job e-refuse in ap-beijing already exists (if_exists='fail')" in output


def test_replace_and_retry_recreates_failed_job(run_dag, tia_emulator, hook, tmp_path, capfd):
    hook.create_job(script_spec("r-replace", "--token", "old"))
    old = tia_emulator.wait_for_state("r-replace", CLUSTER)["Id"]
    tia_emulator.reset_counters()
    dag_run = run_dag("tia_test_replace", conf={"marker": str(tmp_path / "failed-once")})
    output = capfd.readouterr().out
    assert states(dag_run) == {"replace": "success", "retry": "success"}
    replaced = xcom(dag_run, "replace")
    assert replaced["Id"] != old and replaced["Args"] == ["train.py", "--token", "new"]
    # replace: 1 CreateJob; retry: try 1 creates (fails), try 2 deletes the Failed job and creates again.
    assert tia_emulator.calls["CreateJob"] == 3
    assert [ti.try_number for ti in dag_run.get_task_instances() if ti.task_id == "retry"] == [2]
    assert "failing once: loss is nan" in output


def test_if_exists_suffix_names_one_job_per_run_and_a_rerun_reattaches(run_dag, tia_emulator, capfd):
    first_date = pendulum.datetime(2024, 3, 1, tz="UTC")
    tia_emulator.reset_counters()
    first = run_dag("tia_test_suffix", logical_date=first_date, run_after=first_date)
    first_name = xcom(first, "train")["Name"]
    second_date = pendulum.datetime(2024, 3, 2, tz="UTC")
    second = run_dag("tia_test_suffix", logical_date=second_date, run_after=second_date)
    assert tia_emulator.calls["CreateJob"] == 2
    # The same run again (dag.test clears it: a new try, as after a worker crash): reattach, no CreateJob.
    calls = sum(tia_emulator.calls.values())
    again = run_dag("tia_test_suffix", logical_date=first_date, run_after=first_date)
    assert again.run_id == first.run_id
    (ti,) = again.get_task_instances()
    assert ti.state == "success" and sum(tia_emulator.calls.values()) > calls  # the task really ran again
    capfd.readouterr()
    assert tia_emulator.calls["CreateJob"] == 2
    names = [first_name, xcom(second, "train")["Name"], xcom(again, "train")["Name"]]
    assert names[0] != names[1] and names[0] == names[2]
    assert all(re.fullmatch(r"s-[0-9a-f]{8}", n) for n in names)
    assert names[0] == suffixed("s", run_suffix("tia_test_suffix", "train", first.run_id, -1), TIA_MAX_NAME)


def test_max_wait_deletes_job_and_vanished_job_fails(run_dag, tia_emulator, tia_connection, capfd):
    deleted: list[str] = []

    def delete_when_running() -> None:
        hook = TIAHook(tia_connection)
        tia_emulator.wait_for_state("w-vanish", CLUSTER, "Running", timeout=60)
        time.sleep(1)
        hook.delete_job("w-vanish", CLUSTER)
        deleted.append("w-vanish")

    thread = threading.Thread(target=delete_when_running, daemon=True)
    thread.start()
    dag_run = run_dag("tia_test_timeout")
    thread.join(5)
    output = capfd.readouterr().out
    assert deleted == ["w-vanish"]
    assert states(dag_run) == {"timeout": "failed", "timeout_deferred": "failed", "vanish": "failed"}
    for name in ("w-timeout", "w-timeout-d"):
        assert tia_emulator.store.get(CLUSTER, name) is None  # on_timeout="delete"
        assert "the job was deleted (on_timeout='delete')" in output
    assert "TI-A job w-timeout in ap-beijing did not finish within 2s" in output
    assert "w-vanish in ap-beijing no longer exists" in output
    with pytest.raises(JobNotFound):
        TIAHook(tia_connection).describe_job("w-timeout", CLUSTER)
