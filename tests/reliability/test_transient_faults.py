"""Transient faults: 100 jobs through CreateJobOperator (50 polling, 50 deferred) against an emulator that
fails ~20% of the reads (throttling, internal errors, timeouts, HTTP 5xx, dropped connections, latency) and
loses CreateJob replies after creating the job. Every task must end in its job's true state, no job may be
created twice, and every log line must be printed exactly once."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import JobAlreadyExists, JobFailed
from airflow_provider_tia.operators.tia import CreateJobOperator
from tests.helpers.reliability import (
    CLUSTER,
    FakeTI,
    Outcome,
    Triggerer,
    conn_json,
    connect,
    count_creations,
    drive,
    line_figures,
    served_lines,
    sim_conf,
)

READS = "DescribeJob,QueryLogs,ListJobs"
READ_FAULTS = {
    "RequestLimitExceeded": 0.04,
    "InternalError": 0.04,
    "FailedOperation.TimeOut": 0.04,
    "http5xx": 0.04,
    "drop": 0.03,
}
LATENCY = "latency=0.03@0.05"
CREATE_FAULTS = {"drop_after": 0.1, "InternalError_after": 0.1}
SPEC = (
    f"{READS}:" + ",".join(f"{k}={v}" for k, v in READ_FAULTS.items()) + f",{LATENCY};"
    "CreateJob:" + ",".join(f"{k}={v}" for k, v in CREATE_FAULTS.items())
)
SEED = 20240501
JOBS = 100


@pytest.fixture(scope="module")
def faulty() -> TIAEmulator:
    with TIAEmulator(runner="simulated", sim_duration=1.0, seed=SEED) as emu:
        yield emu


@pytest.fixture
def rel_conn(faulty, monkeypatch) -> str:
    return connect(monkeypatch, faulty, "tia_rel")


def plan(i: int) -> dict:
    """Job i: polling (even) or deferred (odd), 0.5-3 s, every 5th Failed, 3-32 lines, some Custom."""
    kwargs: dict = {
        "task_id": f"train_{i:03d}",
        "name": f"rel-{i:03d}",
        "cluster": CLUSTER,
        "runtime_version": "tia-1.7.0",
        "command": ["python"],
        "args": ["train.py", "--job", str(i)],
        "runtime_conf": sim_conf(
            duration=0.5 + (i * 7 % 26) / 10,
            outcome="Failed" if i % 5 == 2 else "Succeeded",
            lines=3 + (i * 3) % 30,
            start_delay=0.3 if i % 10 == 7 else 0.0,
        ),
        "tencentcloud_conn_id": "tia_rel",
        "poll_interval": 0.3,
        "max_wait": 120,
        "deferrable": i % 2 == 1,
    }
    if i % 4 == 0:
        kwargs.update(scale_tier="Custom", master_type="1U1G0P", worker_type="2U4G0P", worker_count=2)
    return kwargs


def judge(emu: TIAEmulator, outcome: Outcome, creations: Counter) -> dict:
    """Figures of one task: false failure, duplicates (jobs and lines), lost lines."""
    job = emu.store.get(CLUSTER, outcome.name)
    true_state = job["State"] if job else "missing"
    false_failure = outcome.state != true_state or isinstance(outcome.error, JobAlreadyExists)
    if outcome.error is None and outcome.ti.xcoms.get("return_value", {}).get("Id") != (job or {}).get("Id"):
        false_failure = True  # the XCom must describe the job that ran
    if isinstance(outcome.error, JobFailed):
        false_failure |= job["Message"] not in str(outcome.error)
    lost, duplicated = line_figures(outcome.name, served_lines(emu, outcome.name), outcome.printed)
    return {
        "false_failure": int(false_failure),
        "duplicate_jobs": max(0, creations[(CLUSTER, outcome.name)] - 1),
        "missing_jobs": int(creations[(CLUSTER, outcome.name)] == 0),
        "duplicate_lines": duplicated,
        "lost_lines": lost,
    }


def test_100_jobs_under_transient_faults(faulty, rel_conn, reliability_results) -> None:
    faulty.set_faults(SPEC, seed=SEED)
    faulty.reset_counters()
    creations = count_creations(faulty)
    triggerer = Triggerer()
    plans = [plan(i) for i in range(JOBS)]
    try:
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            futures = [
                pool.submit(
                    drive,
                    lambda p=p: CreateJobOperator(**p),
                    FakeTI("tia_rel", p["task_id"], run_id="manual__faults"),
                    triggerer,
                    None,
                    p["name"],
                )
                for p in plans
            ]
            outcomes = [f.result(timeout=150) for f in futures]
    finally:
        triggerer.close()
        faulty.set_faults(None)

    figures = [judge(faulty, o, creations) for o in outcomes]
    total = Counter()
    for f in figures:
        total.update(f)
    faults = faulty.fault_counts
    reliability_results.record(
        "transient faults: 100 jobs (50 polling, 50 deferred)",
        JOBS,
        faults=sum(faults.values()),
        false_failures=total["false_failure"],
        duplicates=total["duplicate_jobs"] + total["duplicate_lines"],
        lost_lines=total["lost_lines"],
    )

    bad = [
        (o.name, o.state, repr(o.error)[:300], f)
        for o, f in zip(outcomes, figures, strict=True)
        if any(f.values())
    ]
    assert bad == []
    assert (total["false_failure"], total["duplicate_jobs"], total["missing_jobs"]) == (0, 0, 0)
    assert (total["duplicate_lines"], total["lost_lines"]) == (0, 0)
    # The true states: every 5th job (i % 5 == 2) Failed, the others Succeeded.
    assert Counter(o.state for o in outcomes) == {"Succeeded": 80, "Failed": 20}
    assert sum(len(served_lines(faulty, o.name)) for o in outcomes) == sum(
        3 + (i * 3) % 30 for i in range(JOBS)
    )
    # Deferrable tasks really deferred (a job may rarely end before its first read) and fired one event each.
    deferred = [o for o in outcomes if o.deferred]
    assert 40 <= len(deferred) <= 50 and all(len(o.events) == 1 for o in deferred)
    assert not any(o.deferred for o in outcomes[::2])
    # The faults really happened: every kind, about 20% of the reads, and CreateJob replies lost.
    kinds = Counter()
    for (_action, kind), n in faults.items():
        kinds[kind] += n
    assert all(kinds[k] > 0 for k in [*READ_FAULTS, "latency", *CREATE_FAULTS]), kinds
    reads = sum(faulty.calls[a] for a in READS.split(","))
    read_faults = sum(n for (action, kind), n in faults.items() if action in READS.split(","))
    assert 0.14 * reads <= read_faults <= 0.26 * reads, (read_faults, reads)
    # CreateJob replies were lost after the job was created, and none of them made a duplicate.
    create_faults = sum(n for (action, _), n in faults.items() if action == "CreateJob")
    assert create_faults >= 5
    # Every extra CreateJob request is a retry caused by a fault (a fault may also end in reconciliation
    # by name without another CreateJob, e.g. when the SDK's attempts run out).
    assert JOBS < faulty.calls["CreateJob"] <= JOBS + create_faults
    # Lost CreateJob replies were reconciled by the hook itself (not by the operator's attach fallback).
    assert not [o.name for o in outcomes if any("appeared concurrently" in m for m in o.printed)]
    assert sum(creations.values()) == JOBS


# ------------------------------------------------------------------------------------ dag.test()
def test_dag_test_under_transient_faults(faulty, dag_loader, monkeypatch, capfd, reliability_results) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TIA_REL_DAG", conn_json(faulty, retry_backoff=0.01))
    faulty.set_faults(SPEC, seed=SEED + 1)
    faulty.reset_counters()
    creations = count_creations(faulty)
    try:
        dag_run = dag_loader("tia_rel_faults").test()
    finally:
        faulty.set_faults(None)
    output = capfd.readouterr().out
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    names = {
        "sync_ok": "rel-dag-sync-ok",
        "deferred_ok": "rel-dag-deferred-ok",
        "deferred_failed": "rel-dag-deferred-failed",
    }
    truth = {task: faulty.store.get(CLUSTER, name)["State"] for task, name in names.items()}
    expected_states = {task: "success" if truth[task] == "Succeeded" else "failed" for task in names}
    false_failures = sum(states[t] != expected_states[t] for t in names)
    lost = duplicated = 0
    for name in names.values():
        for line in served_lines(faulty, name):
            # printed by the task, or by its trigger while deferred (both go to the task log)
            printed = output.count(f"] {line} [airflow.task.operators") + output.count(
                f"] {line} [airflow_provider_tia.triggers"
            )
            lost += printed == 0
            duplicated += max(0, printed - 1)
    duplicated += sum(max(0, n - 1) for n in creations.values())
    reliability_results.record(
        "transient faults: dag.test() (1 polling, 2 deferred)",
        len(names),
        faults=sum(faulty.fault_counts.values()),
        false_failures=false_failures,
        duplicates=duplicated,
        lost_lines=lost,
    )
    assert truth == {"sync_ok": "Succeeded", "deferred_ok": "Succeeded", "deferred_failed": "Failed"}
    assert states == expected_states
    assert (false_failures, duplicated, lost) == (0, 0, 0)
    assert sorted(creations) == sorted((CLUSTER, n) for n in names.values())
    assert sum(len(served_lines(faulty, n)) for n in names.values()) == 12 + 12 + 8
    assert sum(faulty.fault_counts.values()) > 0
