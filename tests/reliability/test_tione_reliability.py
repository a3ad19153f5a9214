"""TI-ONE rows of the reliability table: 100 training tasks through CreateTrainingTaskOperator (50 polling,
50 deferred) under ~20% transient faults on every TI-ONE action, lost CreateTrainingTask replies, and
crashes and restarts (worker, triggerer, user kill, service). Every task must end in its training task's
true status, no task instance may create two training tasks (TI-ONE has no client token: the operator's
``airflow-task-key`` tag is what finds a task again), and every log line must be printed exactly once."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import JobAlreadyExists, JobFailed
from airflow_provider_tia.operators.tione.training_control import TASK_KEY_TAG
from tests.helpers import reliability as rel
from tests.helpers.reliability_tione import (
    FAILED,
    SUCCEED,
    count_task_creations,
    served_task_lines,
    tasks_named,
    the_task,
    training_op,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_tia.compat import TaskDeferred

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


@pytest.fixture
def tione_conn(simulated_emulator, monkeypatch) -> str:
    return rel.connect(monkeypatch, simulated_emulator, CONN)


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


def run_tasks(plans: list[dict[str, Any]], run_id: str) -> list[rel.Outcome]:
    """Every planned task at once, one thread each, the deferred ones in one triggerer."""
    triggerer = rel.Triggerer()
    try:
        with ThreadPoolExecutor(max_workers=len(plans)) as pool:
            futures = [
                pool.submit(
                    rel.drive,
                    lambda p=p: training_op(**p),
                    rel.FakeTI("tione_rel", p["task_id"], run_id=run_id),
                    triggerer,
                    None,
                    p["name"],
                )
                for p in plans
            ]
            return [f.result(timeout=150) for f in futures]
    finally:
        triggerer.close()


def judge(emu: TIAEmulator, outcome: rel.Outcome, creations: Counter) -> dict[str, int]:
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
        rel.line_figures(task["Id"], served_task_lines(emu, task["Id"]), outcome.printed) if task else (0, 0)
    )
    return {
        "false_failure": int(false_failure),
        "duplicate_tasks": max(0, creations[outcome.name] - 1) + max(0, len(found) - 1),
        "missing_tasks": int(not found),
        "duplicate_lines": duplicated,
        "lost_lines": lost,
    }


@dataclasses.dataclass
class FaultyRun:
    """Planned tasks run under a fault spec: how they ended and their summed figures."""

    outcomes: list[rel.Outcome]
    faults: Counter  # injected faults per (action, kind)
    creations: Counter  # training tasks created per name
    total: Counter  # summed judge() figures
    bad: list  # the tasks with a non-zero figure, with how they ended


def run_under_faults(
    emu: TIAEmulator, spec: str, seed: int, plans: list[dict[str, Any]], scenario: str, results: Any
) -> FaultyRun:
    """Run the planned tasks with ``spec`` injected, judge each, and record the scenario's row."""
    emu.set_faults(spec, seed=seed)
    creations = count_task_creations(emu)
    try:
        outcomes = run_tasks(plans, f"manual__{seed}")
    finally:
        emu.set_faults(None)
    figures = [judge(emu, o, creations) for o in outcomes]
    total: Counter = Counter()
    for f in figures:
        total.update(f)
    run = FaultyRun(
        outcomes,
        Counter(emu.fault_counts),
        creations,
        total,
        [
            (o.name, o.state, repr(o.error)[:300], f)
            for o, f in zip(outcomes, figures, strict=True)
            if any(f.values())
        ],
    )
    results.record(
        scenario,
        len(plans),
        faults=sum(run.faults.values()),
        false_failures=total["false_failure"],
        duplicates=total["duplicate_tasks"] + total["duplicate_lines"],
        lost_lines=total["lost_lines"],
    )
    return run


def own_tags(emu: TIAEmulator, outcomes: list[rel.Outcome]) -> Counter:
    """How many tasks carry each task instance's idempotency tag (exactly one each)."""
    tags: Counter = Counter()
    for outcome in outcomes:
        for task in tasks_named(emu, outcome.name):
            tags[{t["TagKey"]: t["TagValue"] for t in task["Spec"]["Tags"]}.get(TASK_KEY_TAG)] += 1
    return tags


# ---------------------------------------------------------------------------------- transient faults
def test_100_tasks_under_transient_faults(simulated_emulator, tione_conn, reliability_results) -> None:
    emu = simulated_emulator
    plans = [plan(i, "rel-one") for i in range(TASKS)]
    run = run_under_faults(
        emu,
        SPEC,
        SEED,
        plans,
        "TI-ONE transient faults: 100 tasks (50 polling, 50 deferred)",
        reliability_results,
    )
    outcomes, faults, creations, total = run.outcomes, run.faults, run.creations, run.total
    assert run.bad == []
    assert (total["false_failure"], total["duplicate_tasks"], total["missing_tasks"]) == (0, 0, 0)
    assert (total["duplicate_lines"], total["lost_lines"]) == (0, 0)
    assert Counter(o.state for o in outcomes) == {SUCCEED: 80, "Failed": 20}
    tags = own_tags(simulated_emulator, outcomes)
    assert len(tags) == TASKS and set(tags.values()) == {1} and None not in tags
    served = sum(
        len(served_task_lines(simulated_emulator, the_task(simulated_emulator, o.name)["Id"]))
        for o in outcomes
    )
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
    reads = sum(simulated_emulator.calls[a] for a in READS)
    read_faults = sum(n for (action, _), n in faults.items() if action in READS)
    assert 0.14 * reads <= read_faults <= 0.26 * reads, (read_faults, reads)
    lost_replies = (
        faults[("CreateTrainingTask", "drop_after")] + faults[("CreateTrainingTask", "InternalError_after")]
    )
    assert lost_replies >= 5
    create_faults = sum(n for (action, _), n in faults.items() if action == "CreateTrainingTask")
    assert TASKS < simulated_emulator.calls["CreateTrainingTask"] <= TASKS + create_faults
    assert sum(creations.values()) == TASKS


def test_lost_create_replies_make_no_duplicates(simulated_emulator, tione_conn, reliability_results) -> None:
    plans = [
        {**plan(i, "rel-lost"), "duration": 0.3, "lines": 3, "outcome": "Succeeded", "start_delay": 0.0}
        for i in range(LOST_TASKS)
    ]
    lost = fault_spec({}, {"drop_after": 0.6, "InternalError_after": 0.5})
    run = run_under_faults(
        simulated_emulator,
        lost,
        SEED + 1,
        plans,
        "TI-ONE lost CreateTrainingTask replies",
        reliability_results,
    )
    faults, total = run.faults, run.total
    assert run.bad == []
    assert total["missing_tasks"] == 0 and sum(run.creations.values()) == len(plans)
    assert set(own_tags(simulated_emulator, run.outcomes).values()) == {1}
    assert faults[("CreateTrainingTask", "drop_after")] >= 10
    assert faults[("CreateTrainingTask", "InternalError_after")] >= 3
    # A lost reply's retry found the task by its tag before sending CreateTrainingTask again.
    assert simulated_emulator.calls["CreateTrainingTask"] == LOST_TASKS
    assert all(o.state == SUCCEED for o in run.outcomes)


# ------------------------------------------------------------------------------------ crash / restart
CRASH_CONN = "tia_rel_crash"  # tia_rel_worker.py's connection: one connection serves both platforms
CRASH_DAG = "tia_rel_crash"  # the worker's task instance: (tia_rel_crash, train, <run id>)


@pytest.fixture
def crash_conn(simulated_emulator, monkeypatch) -> str:
    return rel.connect(monkeypatch, simulated_emulator, CRASH_CONN)


def crash_figures(
    emu: TIAEmulator, name: str, printed: list[str], creations: Counter
) -> tuple[dict, Counter]:
    """The one task of this name, and its figures: lost lines, duplicates (extra tasks, lines printed twice)."""
    task = the_task(emu, name)
    assert task is not None, f"no task {name}"
    lost, duplicated = rel.line_figures(task["Id"], served_task_lines(emu, task["Id"]), printed)
    return task, Counter(lost_lines=lost, duplicates=duplicated + max(0, creations[name] - 1))


@pytest.mark.parametrize("store_name", ["task_state_store.json", None], ids=["task-state-store", "tag-only"])
def test_worker_killed_mid_wait_retry_reattaches_by_tag(
    simulated_emulator, crash_conn, tmp_path, store_name, reliability_results
) -> None:
    """Try 1 (a worker process) is SIGKILLed mid-wait; try 2 finds its task (by the task state store,
    else by the idempotency tag) and waits for it: no second task, every line printed."""
    state_store = store_name is not None
    name, store_file = f"rel-one-kill-{'store' if state_store else 'tag'}", tmp_path / (store_name or "-")
    run_id = f"manual__{name}"  # a task instance of its own: its own idempotency tag
    creations = count_task_creations(simulated_emulator)
    first_try, store = rel.kill_worker_mid_wait(
        name, store_file if state_store else None, ["3", "30", "tione", run_id], "[train-"
    )
    running = the_task(simulated_emulator, name)
    assert running is not None and running["Status"] == "RUNNING"  # SIGKILL: no on_kill, the task goes on
    if store is not None:
        assert store.data["tione_created_task"]["id"] == running["Id"]

    retry = rel.drive(
        lambda: training_op(name, CRASH_CONN, 3, 30),
        rel.FakeTI(CRASH_DAG, "train", run_id, try_number=2),
        store=store,
        name=name,
    )
    task, figures = crash_figures(simulated_emulator, name, retry.printed, creations)
    figures["false_failures"] = int(retry.state != SUCCEED or retry.result["Id"] != running["Id"])
    reliability_results.record(
        f"TI-ONE crash: worker SIGKILLed, try 2 reattaches ({'state store' if state_store else 'by tag'})",
        1,
        faults=1,
        **figures,
    )
    assert retry.error is None and retry.result["Id"] == task["Id"] == running["Id"]
    calls = simulated_emulator.calls
    assert (calls["CreateTrainingTask"], calls["StopTrainingTask"], calls["StartTrainingTask"]) == (1, 0, 0)
    assert creations == {name: 1}
    message = (
        "Reconnecting to existing job"
        if state_store
        else f"Attaching to existing TI-ONE training task {name}"
    )
    assert sum(message in m for m in retry.printed) == 1, retry.printed
    assert +figures == Counter()  # no non-zero figure
    assert len(served_task_lines(simulated_emulator, task["Id"])) == 30
    assert any(m.startswith("[train-") for m in first_try)


def _defer(name: str, printed: list[str], ti: rel.FakeTI, duration: float, lines: int) -> TaskDeferred:
    return rel.defer(
        rel.capture(training_op(name, CRASH_CONN, duration, lines, deferrable=True), printed), ti
    )


def _printed_a_line(printed: list[str]) -> Callable[[], bool]:
    """Whether the task log holds a line of the training task (the trigger is mid-wait, checkpointed)."""
    return lambda: any(m.startswith("[train-") for m in printed)


def test_triggerer_restart_mid_wait_keeps_the_task(
    simulated_emulator, crash_conn, reliability_results, trigger_xcoms
) -> None:
    name = "rel-one-triggerer-restart"
    creations = count_task_creations(simulated_emulator)
    ti = rel.FakeTI(CRASH_DAG, "train", "manual__restart")
    printed: list[str] = []
    deferred = _defer(name, printed, ti, 3, 30)
    payload = deferred.trigger.serialize()
    task_id = payload[1]["key"]["id"]
    assert payload[1]["tencentcloud_conn_id"] == CRASH_CONN

    first = rel.rebuild(deferred.trigger, ti, printed)
    cleanup, on_kill = rel.shut_down_mid_wait(first, _printed_a_line(printed))
    assert (cleanup.calls, on_kill.calls) == (1, 0)
    assert simulated_emulator.tione.store.status(task_id) == "RUNNING"  # not stopped by a restart

    events = rel.run_recreated(first, ti, printed)  # another triggerer picks the trigger up from the database
    result = rel.capture(training_op(name, CRASH_CONN, 3, 30, deferrable=True), printed).execute_complete(
        rel.context_for(ti), events[0]
    )
    assert trigger_xcoms.values, "the first trigger checkpointed its log position"
    task, figures = crash_figures(simulated_emulator, name, printed, creations)
    figures["false_failures"] = int(
        len(events) != 1 or result["Status"] != SUCCEED or result["Id"] != task_id
    )
    reliability_results.record(
        "TI-ONE crash: triggerer restarted mid-wait",
        1,
        faults=1,
        **figures,
    )
    assert len(events) == 1 and events[0]["status"] == "success"
    assert task["Status"] == SUCCEED and simulated_emulator.calls["CreateTrainingTask"] == 1
    assert simulated_emulator.calls["StopTrainingTask"] == 0
    assert +figures == Counter()  # no non-zero figure


def test_user_marks_deferred_task_failed_trigger_stops_the_task(
    simulated_emulator, crash_conn, reliability_results
) -> None:
    name = "rel-one-user-kill"
    ti, printed = rel.FakeTI(CRASH_DAG, "train", "manual__userkill"), []
    deferred = _defer(name, [], ti, 30, 5)
    task_id = deferred.trigger.training_task_id
    on_kill, cleanup = rel.user_kill_mid_wait(
        rel.rebuild(deferred.trigger, ti, printed), _printed_a_line(printed)
    )
    rel.wait_until(lambda: simulated_emulator.tione.store.status(task_id) == "STOPPED", 10)
    stopped = simulated_emulator.tione.store.status(task_id) == "STOPPED"
    reliability_results.record(
        "TI-ONE crash: user marks deferred task failed", 1, faults=1, false_failures=int(not stopped)
    )
    assert stopped and (on_kill.calls, cleanup.calls) == (1, 1)
    calls = simulated_emulator.calls
    assert (calls["CreateTrainingTask"], calls["StopTrainingTask"], calls["DeleteTrainingTask"]) == (1, 1, 0)
    assert simulated_emulator.tione.store.get(task_id)["FailureReason"] == "User Stop"


def test_emulator_restarted_with_state_dir_mid_wait(tmp_path, monkeypatch, reliability_results) -> None:
    first = TIAEmulator(runner="simulated", state_dir=tmp_path / "state").start()
    monkeypatch.setenv("AIRFLOW_CONN_TIA_REL_CRASH", rel.conn_json(first, retry_backoff=0.01))
    creations = count_task_creations(first)
    names = {"rel-one-restart-sync": False, "rel-one-restart-deferred": True}

    def run(name: str, deferrable: bool) -> Callable[[rel.Triggerer], rel.Outcome]:
        ti = rel.FakeTI(CRASH_DAG, f"t-{name}", "manual__svc")
        op = functools.partial(training_op, name, CRASH_CONN, 3, 30, deferrable=deferrable)
        return lambda triggerer: rel.drive(op, ti, triggerer, name=name)

    def mid_wait() -> bool:
        running = [the_task(first, n) for n in names]
        if not all(task and task["Status"] == "RUNNING" for task in running):
            return False
        time.sleep(0.8)  # a few polls and log lines before the service goes away
        return True

    second, outcomes, second_creations = rel.restart_service_mid_wait(
        first, {name: run(name, d) for name, d in names.items()}, mid_wait, count_task_creations
    )
    figures: Counter = Counter()
    for name, outcome in outcomes.items():
        task, task_figures = crash_figures(second, name, outcome.printed, creations + second_creations)
        figures.update(task_figures)
        figures["false_failures"] += outcome.state != task["Status"] or task["Status"] != SUCCEED
    reliability_results.record(
        "TI-ONE crash: service restarted (state dir)",
        len(names),
        faults=1,
        **figures,
    )
    assert [outcomes[n].state for n in names] == [SUCCEED, SUCCEED]
    assert outcomes["rel-one-restart-deferred"].deferred and not outcomes["rel-one-restart-sync"].deferred
    assert creations == Counter(dict.fromkeys(names, 1)) and not second_creations
    assert second.calls["CreateTrainingTask"] == 0
    assert second.calls["DescribeTrainingTask"] + second.calls["DescribeTrainingTasks"] > 0
    assert +figures == Counter()  # no non-zero figure
