"""TI-ONE rows of the reliability table: 100 training tasks through CreateTrainingTaskOperator (50 polling,
50 deferred) under ~20% transient faults on every TI-ONE action, lost CreateTrainingTask replies, and
crashes and restarts (worker, triggerer, user kill, service). Every task must end in its training task's
true status, no task instance may create two training tasks (TI-ONE has no client token: the operator's
``airflow-task-key`` tag is what finds a task again), and every log line must be printed exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from tia_rel_helpers import (
    USER_ACTION,
    DictStore,
    FakeTI,
    Outcome,
    Spy,
    Triggerer,
    capture,
    conn_json,
    context_for,
    drive,
    line_figures,
    rebuild,
    run_like_triggerer,
    run_worker_until_job_line,
)
from tione_rel_helpers import (
    FAILED,
    SUCCEED,
    count_task_creations,
    served_task_lines,
    tasks_named,
    the_task,
    training_op,
)

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import JobAlreadyExists, JobFailed
from airflow_provider_tia.operators._tione_tasks import TASK_KEY_TAG

CONN = "tione_rel"
READS = ("DescribeTrainingTask", "DescribeTrainingTasks", "DescribeLogs")
READ_FAULTS = {"RequestLimitExceeded": 0.05, "InternalError": 0.05, "http5xx": 0.05, "drop": 0.05}
CREATE_FAULTS = {
    "RequestLimitExceeded": 0.04,
    "http5xx": 0.04,
    "drop_after": 0.06,
    "InternalError_after": 0.06,
}


def fault_spec(reads: dict[str, float], creates: dict[str, float]) -> str:
    """A spec of faults.py's grammar: ``reads`` on every read action, ``creates`` on CreateTrainingTask."""
    rules = [(",".join(READS), reads), ("CreateTrainingTask", creates)]
    return ";".join(
        f"{actions}:" + ",".join(f"{k}={v}" for k, v in kinds.items()) for actions, kinds in rules if kinds
    )


SPEC = fault_spec(READ_FAULTS, CREATE_FAULTS)
SEED = 20261127
TASKS = 100
LOST_TASKS = 30


@pytest.fixture(scope="module")
def tione_emu() -> TIAEmulator:
    with TIAEmulator(runner="simulated", sim_duration=1.0, seed=SEED) as emu:
        yield emu


@pytest.fixture
def tione_conn(tione_emu, monkeypatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_TIONE_REL", conn_json(tione_emu, retry_backoff=0.01))
    tione_emu.set_faults(None)
    tione_emu.reset_counters()
    return CONN


# ------------------------------------------------------------------------------------------ driver
def plan(i: int, prefix: str) -> dict[str, Any]:
    """Task i: polling (even) or deferred (odd), 0.4-1.9 s, every 5th FAILED, 2-21 lines, some 2-role."""
    kwargs: dict[str, Any] = {
        "name": f"{prefix}-{i:03d}",
        "conn_id": CONN,
        "duration": 0.4 + (i * 7 % 16) / 10,
        "lines": 2 + (i * 3) % 20,
        "outcome": "Failed" if i % 5 == 2 else "Succeeded",
        "start_delay": 0.3 if i % 10 == 7 else 0.0,
        "task_id": f"train_{i:03d}",
        "poll_interval": 0.3,
        "max_wait": 120,
        "deferrable": i % 2 == 1,
    }
    if i % 4 == 0:
        kwargs["resource_config_infos"] = [
            {"Role": "PS", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1},
            {"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 2},
        ]
        kwargs["training_mode"] = "PS_WORKER"
    return kwargs


def run_tasks(plans: list[dict[str, Any]], run_id: str) -> list[Outcome]:
    """Every planned task at once, one thread each, the deferred ones in one triggerer."""
    triggerer = Triggerer()
    try:
        with ThreadPoolExecutor(max_workers=len(plans)) as pool:
            futures = [
                pool.submit(
                    drive,
                    lambda p=p: training_op(**p),
                    FakeTI("tione_rel", p["task_id"], run_id=run_id),
                    triggerer,
                    None,
                    p["name"],
                )
                for p in plans
            ]
            return [f.result(timeout=150) for f in futures]
    finally:
        triggerer.close()


def judge(emu: TIAEmulator, outcome: Outcome, creations: Counter) -> dict[str, int]:
    """Figures of one task: false failure, duplicates (tasks and lines), lost lines."""
    found = tasks_named(emu, outcome.name)
    task = found[0] if found else {}
    seen = FAILED if outcome.state == "Failed" else outcome.state
    false_failure = seen != task.get("Status", "missing") or isinstance(outcome.error, JobAlreadyExists)
    if outcome.error is None and (outcome.result or {}).get("Id") != task.get("Id"):
        false_failure = True  # the XCom must describe the task that ran
    if isinstance(outcome.error, JobFailed):
        false_failure |= task["FailureReason"] not in str(outcome.error)
    lost, duplicated = (
        line_figures(task["Id"], served_task_lines(emu, task["Id"]), outcome.printed) if task else (0, 0)
    )
    return {
        "false_failure": int(false_failure),
        "duplicate_tasks": max(0, creations[outcome.name] - 1) + max(0, len(found) - 1),
        "missing_tasks": int(not found),
        "duplicate_lines": duplicated,
        "lost_lines": lost,
    }


def total_of(emu: TIAEmulator, outcomes: list[Outcome], creations: Counter) -> tuple[Counter, list]:
    """The summed figures, and the tasks with any non-zero figure (with what they ended with)."""
    figures = [judge(emu, o, creations) for o in outcomes]
    total: Counter = Counter()
    for f in figures:
        total.update(f)
    bad = [
        (o.name, o.state, repr(o.error)[:300], f)
        for o, f in zip(outcomes, figures, strict=True)
        if any(f.values())
    ]
    return total, bad


def own_tags(emu: TIAEmulator, outcomes: list[Outcome]) -> Counter:
    """How many tasks carry each task instance's idempotency tag (exactly one each)."""
    tags: Counter = Counter()
    for outcome in outcomes:
        for task in tasks_named(emu, outcome.name):
            tags[{t["TagKey"]: t["TagValue"] for t in task["Spec"]["Tags"]}.get(TASK_KEY_TAG)] += 1
    return tags


# ---------------------------------------------------------------------------------- transient faults
def test_100_tasks_under_transient_faults(tione_emu, tione_conn, reliability_results) -> None:
    tione_emu.set_faults(SPEC, seed=SEED)
    creations = count_task_creations(tione_emu)
    try:
        outcomes = run_tasks([plan(i, "rel-one") for i in range(TASKS)], "manual__tione_faults")
    finally:
        tione_emu.set_faults(None)
    faults = Counter(tione_emu.fault_counts)
    total, bad = total_of(tione_emu, outcomes, creations)
    reliability_results.record(
        "TI-ONE transient faults: 100 tasks (50 polling, 50 deferred)",
        TASKS,
        faults=sum(faults.values()),
        false_failures=total["false_failure"],
        duplicates=total["duplicate_tasks"] + total["duplicate_lines"],
        lost_lines=total["lost_lines"],
    )
    assert bad == []
    assert (total["false_failure"], total["duplicate_tasks"], total["missing_tasks"]) == (0, 0, 0)
    assert (total["duplicate_lines"], total["lost_lines"]) == (0, 0)
    assert Counter(o.state for o in outcomes) == {SUCCEED: 80, "Failed": 20}
    tags = own_tags(tione_emu, outcomes)
    assert len(tags) == TASKS and set(tags.values()) == {1} and None not in tags
    served = sum(len(served_task_lines(tione_emu, the_task(tione_emu, o.name)["Id"])) for o in outcomes)
    assert served == sum(2 + (i * 3) % 20 for i in range(TASKS))
    # Deferrable tasks really deferred (a task may rarely end before its first read), one event each.
    deferred = [o for o in outcomes if o.deferred]
    assert 40 <= len(deferred) <= 50 and all(len(o.events) == 1 for o in deferred)
    assert not any(o.deferred for o in outcomes[::2])
    # The faults really happened: every kind, about 20% of the reads, CreateTrainingTask replies lost.
    kinds: Counter = Counter()
    for (_action, kind), n in faults.items():
        kinds[kind] += n
    assert all(kinds[k] > 0 for k in [*READ_FAULTS, *CREATE_FAULTS]), kinds
    assert all(sum(n for (a, _), n in faults.items() if a == action) > 0 for action in READS), faults
    reads = sum(tione_emu.calls[a] for a in READS)
    read_faults = sum(n for (action, _), n in faults.items() if action in READS)
    assert 0.14 * reads <= read_faults <= 0.26 * reads, (read_faults, reads)
    lost_replies = (
        faults[("CreateTrainingTask", "drop_after")] + faults[("CreateTrainingTask", "InternalError_after")]
    )
    assert lost_replies >= 5
    create_faults = sum(n for (action, _), n in faults.items() if action == "CreateTrainingTask")
    assert TASKS < tione_emu.calls["CreateTrainingTask"] <= TASKS + create_faults
    assert sum(creations.values()) == TASKS


def test_lost_create_replies_make_no_duplicates(tione_emu, tione_conn, reliability_results) -> None:
    plans = [
        {**plan(i, "rel-lost"), "duration": 0.3, "lines": 3, "outcome": "Succeeded", "start_delay": 0.0}
        for i in range(LOST_TASKS)
    ]
    tione_emu.set_faults(fault_spec({}, {"drop_after": 0.6, "InternalError_after": 0.5}), seed=SEED + 1)
    creations = count_task_creations(tione_emu)
    try:
        outcomes = run_tasks(plans, "manual__tione_lost")
    finally:
        tione_emu.set_faults(None)
    faults = Counter(tione_emu.fault_counts)
    total, bad = total_of(tione_emu, outcomes, creations)
    reliability_results.record(
        "TI-ONE lost CreateTrainingTask replies",
        len(plans),
        faults=sum(faults.values()),
        false_failures=total["false_failure"],
        duplicates=total["duplicate_tasks"] + total["duplicate_lines"],
        lost_lines=total["lost_lines"],
    )
    assert bad == []
    assert total["missing_tasks"] == 0 and sum(creations.values()) == len(plans)
    assert set(own_tags(tione_emu, outcomes).values()) == {1}
    assert faults[("CreateTrainingTask", "drop_after")] >= 10
    assert faults[("CreateTrainingTask", "InternalError_after")] >= 3
    # A lost reply's retry found the task by its tag before sending CreateTrainingTask again.
    assert tione_emu.calls["CreateTrainingTask"] == LOST_TASKS
    assert all(o.state == SUCCEED for o in outcomes)


# ------------------------------------------------------------------------------------ crash / restart
CRASH_CONN = "tia_rel_crash"  # tia_rel_worker.py's connection: one connection serves both platforms
CRASH_DAG = "tia_rel_crash"  # the worker's task instance: (tia_rel_crash, train, <run id>)


@pytest.fixture
def crash_conn(tione_emu, monkeypatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_TIA_REL_CRASH", conn_json(tione_emu, retry_backoff=0.01))
    tione_emu.set_faults(None)
    tione_emu.reset_counters()
    return CRASH_CONN


def crash_figures(
    emu: TIAEmulator, name: str, printed: list[str], creations: Counter
) -> tuple[dict, int, int]:
    """(the one task of this name, lost lines, duplicates: extra tasks and lines printed twice)."""
    task = the_task(emu, name)
    assert task is not None, f"no task {name}"
    lost, duplicated = line_figures(task["Id"], served_task_lines(emu, task["Id"]), printed)
    return task, lost, duplicated + max(0, creations[name] - 1)


@pytest.mark.parametrize("state_store", [True, False], ids=["task-state-store", "tag-only"])
def test_worker_killed_mid_wait_retry_reattaches_by_tag(
    tione_emu, crash_conn, tmp_path, state_store, reliability_results
) -> None:
    name = f"rel-one-kill-{'store' if state_store else 'tag'}"
    creations = count_task_creations(tione_emu)
    store_file = tmp_path / "task_state_store.json"
    run_id = f"manual__{name}"  # a task instance of its own: its own idempotency tag
    first_try = run_worker_until_job_line(
        [name, str(store_file) if state_store else "-", "3", "30", "tione", run_id], "[train-"
    )
    running = the_task(tione_emu, name)
    assert running is not None and running["Status"] == "RUNNING"  # SIGKILL: no on_kill, the task goes on
    if state_store:
        assert json.loads(store_file.read_text())["tione_created_task"]["id"] == running["Id"]

    store = DictStore(json.loads(store_file.read_text())) if state_store else None
    retry = drive(
        lambda: training_op(name, CRASH_CONN, 3, 30),
        FakeTI(CRASH_DAG, "train", run_id, try_number=2),
        store=store,
        name=name,
    )
    task, lost, duplicated = crash_figures(tione_emu, name, retry.printed, creations)
    false_failures = int(retry.state != SUCCEED or retry.result["Id"] != running["Id"])
    reliability_results.record(
        f"TI-ONE crash: worker SIGKILLed, try 2 reattaches ({'state store' if state_store else 'by tag'})",
        1,
        faults=1,
        false_failures=false_failures,
        duplicates=duplicated,
        lost_lines=lost,
    )
    assert retry.error is None and retry.result["Id"] == task["Id"] == running["Id"]
    calls = tione_emu.calls
    assert (calls["CreateTrainingTask"], calls["StopTrainingTask"], calls["StartTrainingTask"]) == (1, 0, 0)
    assert creations == {name: 1}
    message = (
        "Reconnecting to existing job"
        if state_store
        else f"Attaching to existing TI-ONE training task {name}"
    )
    assert sum(message in m for m in retry.printed) == 1, retry.printed
    assert (false_failures, duplicated, lost) == (0, 0, 0)
    assert len(served_task_lines(tione_emu, task["Id"])) == 30
    assert any(m.startswith("[train-") for m in first_try)


def _defer(name: str, printed: list[str], ti: FakeTI, duration: float, lines: int) -> TaskDeferred:
    op = capture(training_op(name, CRASH_CONN, duration, lines, deferrable=True), printed)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context_for(ti))
    return deferred.value


def test_triggerer_restart_mid_wait_keeps_the_task(
    tione_emu, crash_conn, reliability_results, trigger_xcoms
) -> None:
    name = "rel-one-triggerer-restart"
    creations = count_task_creations(tione_emu)
    ti = FakeTI(CRASH_DAG, "train", "manual__restart")
    printed: list[str] = []
    deferred = _defer(name, printed, ti, 3, 30)
    payload = deferred.trigger.serialize()
    task_id = payload[1]["training_task_id"]
    assert payload[1]["tencentcloud_conn_id"] == CRASH_CONN

    first = rebuild(deferred.trigger, ti, printed)
    cleanup, on_kill = Spy(first, "cleanup"), Spy(first, "on_kill")
    old = Triggerer()
    try:
        running = old.submit(run_like_triggerer(first))
        tione_emu.wait_for_task(task_id, "RUNNING")
        deadline = time.monotonic() + 30  # until the first trigger printed lines (and checkpointed them)
        while not any(m.startswith("[train-") for m in printed) and time.monotonic() < deadline:
            time.sleep(0.05)
        running.cancel()  # the triggerer shuts down: its tasks are cancelled without a user action
        with contextlib.suppress(Exception):
            running.result(10)
        deadline = time.monotonic() + 10
        while cleanup.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        old.close()
    assert (cleanup.calls, on_kill.calls) == (1, 0)
    assert tione_emu.tione.store.status(task_id) == "RUNNING"  # not stopped by a restart

    new = Triggerer()  # another triggerer picks the trigger up from the database
    try:
        second = rebuild(first, ti, printed)
        assert second.serialize() == payload
        events = new.run(second)
    finally:
        new.close()
    result = capture(training_op(name, CRASH_CONN, 3, 30, deferrable=True), printed).execute_complete(
        context_for(ti), events[0]
    )
    assert trigger_xcoms.values, "the first trigger checkpointed its log position"
    task, lost, duplicated = crash_figures(tione_emu, name, printed, creations)
    false_failures = int(len(events) != 1 or result["Status"] != SUCCEED or result["Id"] != task_id)
    reliability_results.record(
        "TI-ONE crash: triggerer restarted mid-wait",
        1,
        faults=1,
        false_failures=false_failures,
        duplicates=duplicated,
        lost_lines=lost,
    )
    assert len(events) == 1 and events[0]["status"] == "success"
    assert task["Status"] == SUCCEED and tione_emu.calls["CreateTrainingTask"] == 1
    assert tione_emu.calls["StopTrainingTask"] == 0
    assert (false_failures, duplicated, lost) == (0, 0, 0)


def test_user_marks_deferred_task_failed_trigger_stops_the_task(
    tione_emu, crash_conn, reliability_results
) -> None:
    name = "rel-one-user-kill"
    ti, printed = FakeTI(CRASH_DAG, "train", "manual__userkill"), []
    deferred = _defer(name, [], ti, 30, 5)
    task_id = deferred.trigger.training_task_id
    trigger = rebuild(deferred.trigger, ti, printed)
    cleanup, on_kill = Spy(trigger, "cleanup"), Spy(trigger, "on_kill")

    async def scenario() -> None:
        task = asyncio.ensure_future(run_like_triggerer(trigger))
        deadline = time.monotonic() + 30  # until the trigger is mid-wait: it printed the first line
        while not any(m.startswith("[train-") for m in printed) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        task.cancel(USER_ACTION)  # what the triggerer does when a user marks the task failed
        with contextlib.suppress(asyncio.CancelledError):
            await task

    triggerer = Triggerer()
    try:
        triggerer.submit(scenario()).result(30)
    finally:
        triggerer.close()
    with contextlib.suppress(TimeoutError):
        tione_emu.wait_for_task(task_id, "STOPPED", timeout=10)
    stopped = tione_emu.tione.store.status(task_id) == "STOPPED"
    reliability_results.record(
        "TI-ONE crash: user marks deferred task failed", 1, faults=1, false_failures=int(not stopped)
    )
    assert stopped and (on_kill.calls, cleanup.calls) == (1, 1)
    calls = tione_emu.calls
    assert (calls["CreateTrainingTask"], calls["StopTrainingTask"], calls["DeleteTrainingTask"]) == (1, 1, 0)
    assert tione_emu.tione.store.get(task_id)["FailureReason"] == "User Stop"


def test_emulator_restarted_with_state_dir_mid_wait(tmp_path, monkeypatch, reliability_results) -> None:
    state = tmp_path / "state"
    first = TIAEmulator(runner="simulated", state_dir=state).start()
    monkeypatch.setenv("AIRFLOW_CONN_TIA_REL_CRASH", conn_json(first, retry_backoff=0.01))
    creations = count_task_creations(first)
    triggerer = Triggerer()
    outcomes: dict[str, Outcome] = {}
    names = {"rel-one-restart-sync": False, "rel-one-restart-deferred": True}

    def run(name: str, deferrable: bool) -> None:
        outcomes[name] = drive(
            lambda: training_op(name, CRASH_CONN, 3, 30, deferrable=deferrable),
            FakeTI(CRASH_DAG, f"t-{name}", "manual__svc"),
            triggerer,
            name=name,
        )

    threads = [threading.Thread(target=run, args=item) for item in names.items()]
    second = None
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            (task := the_task(first, n)) and task["Status"] == "RUNNING" for n in names
        ):
            time.sleep(0.05)
        time.sleep(0.8)  # a few polls and log lines before the service goes away
        first.stop()  # the service goes away mid-wait...
        time.sleep(1.0)
        second = TIAEmulator(
            runner="simulated", state_dir=state, port=first.port
        ).start()  # ...and comes back
        second_creations = count_task_creations(second)
        for thread in threads:
            thread.join(60)
    finally:
        triggerer.close()
        if second is not None:
            second.stop()
        first.stop()
    false_failures = lost = duplicated = 0
    for name, outcome in outcomes.items():
        task, task_lost, task_dup = crash_figures(second, name, outcome.printed, creations + second_creations)
        false_failures += outcome.state != task["Status"] or task["Status"] != SUCCEED
        lost, duplicated = lost + task_lost, duplicated + task_dup
    reliability_results.record(
        "TI-ONE crash: service restarted (state dir)",
        len(names),
        faults=1,
        false_failures=false_failures,
        duplicates=duplicated,
        lost_lines=lost,
    )
    assert [outcomes[n].state for n in names] == [SUCCEED, SUCCEED]
    assert outcomes["rel-one-restart-deferred"].deferred and not outcomes["rel-one-restart-sync"].deferred
    assert creations == Counter(dict.fromkeys(names, 1)) and not second_creations
    assert second.calls["CreateTrainingTask"] == 0
    assert second.calls["DescribeTrainingTask"] + second.calls["DescribeTrainingTasks"] > 0
    assert (false_failures, duplicated, lost) == (0, 0, 0)
