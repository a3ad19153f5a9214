"""TI-ONE rows of the reliability table: 100 training tasks through CreateTrainingTaskOperator (50 polling,
50 deferred) under ~20% transient faults on every TI-ONE action, lost CreateTrainingTask replies, and
crashes and restarts (worker, triggerer, user kill, service). Every task must end in its training task's
true status, no task instance may create two training tasks (TI-ONE has no client token: the operator's
``airflow-task-key`` tag is what finds a task again), and every log line must be printed exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from tia_rel_helpers import (
    USER_ACTION,
    FakeTI,
    Outcome,
    Triggerer,
    capture,
    conn_json,
    context_for,
    drive,
    line_figures,
    rebuild,
    run_like_triggerer,
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
