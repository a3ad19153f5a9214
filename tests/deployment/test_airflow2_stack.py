"""The provider in a real Airflow 2.11 deployment (issue 20): PostgreSQL, LocalExecutor, scheduler, triggerer
and webserver, the emulator (local runner: jobs really run) and COS (moto), all on 127.0.0.1.

What only a deployment shows on 2.11: ``example_tione_training`` defers to the triggerer and resumes to
success, the webserver serves the operator's extra link, and a user marking a deferred task failed stops
its training task: 2.11 has no ``BaseTrigger.on_kill``, so the triggerer only cancels the trigger, which
then reads its task instance's state from the metadata DB (``compat.task_instance_state``) and stops the
job once the task is no longer deferred.

Run (in the Airflow 2.11 venv): ``pytest -m deployment -p no:randomly tests/deployment/test_airflow2_stack.py``.
Skipped on Airflow 3. The figures are printed at the end of the session.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.deployment.airflow2_stack import HEALTH_PARTS, Airflow2Stack
from tests.deployment.stack import TIONE_END, report, run_ui, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

AIRFLOW_2 = importlib.metadata.version("apache-airflow").startswith("2.")
pytestmark = [
    pytest.mark.deployment,
    pytest.mark.skipif(not AIRFLOW_2, reason="the Airflow 2 deployment (Airflow 3: test_ha_stack.py)"),
    pytest.mark.timeout(600),
]

EXAMPLE, LIVE = "example_tione_training", "deploy_tione_live"
TRIGGER = "airflow_provider_tia.triggers.tione.training.TrainingTaskTrigger"
LINK = "TI-ONE Training Task"
ENDING = "The task is no longer deferred: ending"  # JobWatchTrigger.on_kill, before it stops the job
KILL_SIZE = {"lines": 150, "sleep": 1}  # ~150 s of a quiet job: ends only if stopped
STARTED = 300  # seconds for the stack to start (PostgreSQL, migration, webserver, scheduler, triggerer)
RUN_WAIT = 240  # seconds for a run to end / a task to defer (2 shared cores)
STOP_WAIT = 60  # seconds from "marked failed" to the job STOPPED (the triggerer polls every ~1-2 s)


@dataclass
class Run:
    """A DAG run triggered through the REST API, as the test saw it."""

    dag_id: str
    run_id: str
    triggered: float  # time.monotonic() of the trigger call
    deferred_after: float = 0.0  # seconds until the training task was seen deferred
    trigger: tuple[int, str] | None = None  # (id, classpath) of its trigger while deferred
    job: dict[str, Any] | None = None  # the emulator's training task


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow2Stack]:
    """One stack for the module; torn down (and checked to leave no process) whatever happens."""
    stack = Airflow2Stack(tmp_path_factory.mktemp("airflow2") / "home")
    began = time.monotonic()
    marks = [str(stack.home)]
    running = 0
    try:
        stack.start(timeout=STARTED)
        assert stack.postgres is not None and stack.postgres.data is not None
        marks.append(str(stack.postgres.data))
        report("airflow2", f"stack ready in {time.monotonic() - began:.0f} s: {stack.url}, home {stack.home}")
        running = len(processes_mentioning(marks))
        assert running, "processes_mentioning found none of the stack's processes: its check proves nothing"
        yield stack
    finally:
        stack.stop()
        left = processes_mentioning(marks)
        report("airflow2", f"teardown: {len(left)} process(es) left of {running} seen after the start")
        assert not left, "processes left after the stack stopped:\n" + "\n".join(left)


def processes_mentioning(marks: list[str]) -> list[str]:
    """``ps`` lines of the processes whose command line, working directory or environment names one of
    ``marks`` (the home, PostgreSQL's data dir): every process the stack started, its task processes and
    the emulator's job replicas (which run in sessions of their own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = [
                (entry / "cmdline").read_bytes().decode(errors="replace"),
                os.readlink(entry / "cwd"),
                (entry / "environ").read_bytes().decode(errors="replace"),
            ]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(mark in text for mark in marks for text in seen):
            pids.append(entry.name)
    if not pids:
        return []
    ps = subprocess.run(["ps", "-o", "pid,pgid,stat,args", "-p", ",".join(pids)], capture_output=True)
    return ps.stdout.decode(errors="replace").splitlines()[1:]


def wait_deferred(stack: Airflow2Stack, run: Run) -> None:
    """Until the run's ``train`` task is deferred; records when, and its trigger (read while deferred)."""

    def deferred() -> tuple[int, str] | None:
        state = stack.ti(run.dag_id, run.run_id, "train")["state"]
        assert state not in ("success", "failed", "upstream_failed"), f"train ended {state} before deferring"
        return stack.trigger_of(run.dag_id, run.run_id, "train") if state == "deferred" else None

    run.trigger = wait_for(
        f"{run.dag_id}/{run.run_id}: train deferred",
        deferred,
        RUN_WAIT,
        interval=0.5,
        context=lambda: stack.context(run.dag_id, run.run_id),
    )
    run.deferred_after = time.monotonic() - run.triggered


def wait_ended(stack: Airflow2Stack, run: Run) -> dict[str, Any]:
    return dict(
        wait_for(
            f"{run.dag_id}/{run.run_id} to end",
            lambda: (dr := stack.dag_run(run.dag_id, run.run_id))["state"] in ("success", "failed") and dr,
            RUN_WAIT,
            context=lambda: stack.context(run.dag_id, run.run_id),
        )
    )


def job_of(stack: Airflow2Stack, run: Run) -> dict[str, Any]:
    """The emulator's training task of the run's ``train`` task, found by the Id its extra link carries."""
    links = stack.api("GET", f"{stack.ti_path(run.dag_id, run.run_id, 'train')}/links")
    job_id = parse_qs(urlparse(links[LINK] or "").query).get("id", [""])[0]
    found = [t for t in stack.emu.tione_tasks() if t["Id"] == job_id]
    assert found, f"no training task {job_id!r} in the emulator (links: {links})"
    return found[0]


def trigger_lines(stack: Airflow2Stack, run: Run) -> list[str]:
    """What the triggerer logged for the run's ``train`` task (its ``.trigger.<job>.log`` files)."""
    paths = [p for p in stack.task_logs(run.dag_id, run.run_id, "train") if ".trigger." in p.name]
    return [line for path in paths for line in path.read_text(errors="replace").splitlines()]


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@pytest.fixture(scope="module")
def example_run(stack: Airflow2Stack) -> Run:
    """``example_tione_training`` triggered and waited for to its end (its default params: 5 epochs)."""
    assert stack.import_errors() == {}, f"DAG files fail to import: {stack.import_errors()}"
    run = Run(EXAMPLE, f"af2-example-{uuid.uuid4().hex[:8]}", time.monotonic())
    stack.trigger(run.dag_id, run.run_id)
    wait_deferred(stack, run)
    dag_run = wait_ended(stack, run)
    report(
        "airflow2",
        f"{EXAMPLE}: train deferred {run.deferred_after:.1f} s after the trigger call; run {dag_run['state']} "
        f"in {seconds(dag_run['start_date'], dag_run['end_date']):.1f} s (start to end), "
        f"{time.monotonic() - run.triggered:.1f} s from the trigger call",
    )
    return run


def test_example_runs_deferred_to_success(stack: Airflow2Stack, example_run: Run) -> None:
    """The example's training task waits in the triggerer (the provider's trigger) and the run succeeds
    on the training task's own success."""
    run = example_run
    states = stack.task_states(run.dag_id, run.run_id)
    assert states == {"prepare_data": "success", "train": "success", "read_model": "success"}, states
    assert run.trigger is not None and run.trigger[1] == TRIGGER, run.trigger
    job = job_of(stack, run)
    assert any(f"({job['Id']}) is SUCCEED" in line for line in trigger_lines(stack, run)), (
        "the task's trigger log does not show the trigger seeing the training task succeed"
    )
    assert job["Status"] == "SUCCEED", job
    assert stack.emu.ends_of(job["Name"]) == [], "the succeeded training task was stopped or deleted"


def test_webserver_health_and_extra_link(stack: Airflow2Stack, example_run: Run) -> None:
    """The webserver reports each component healthy and serves the training task's link: the emulator's
    console page of that task (Tencent Cloud's console for a real endpoint), which answers."""
    health = stack.health()
    for part in HEALTH_PARTS:
        assert health[part]["status"] == "healthy", health
    links = stack.api("GET", f"{stack.ti_path(example_run.dag_id, example_run.run_id, 'train')}/links")
    job = job_of(stack, example_run)
    assert links == {LINK: f"http://{stack.emulator_endpoint}/console/tione/task?id={job['Id']}"}, links
    with urllib.request.urlopen(links[LINK], timeout=30) as page:
        assert page.status == 200 and job["Id"] in page.read().decode(errors="replace")


@pytest.fixture(scope="module")
def killed_run(stack: Airflow2Stack) -> Run:
    """A deferred training task (``deploy_tione_live``: a quiet ~150 s job) that a user marks failed
    through the REST API (the UI's "Mark failed") while its job runs; waited for until the job ends."""
    token = f"af2-kill-{uuid.uuid4().hex[:8]}"
    run = Run(LIVE, token, time.monotonic())
    stack.trigger(run.dag_id, run.run_id, {**KILL_SIZE, "token": token})
    wait_deferred(stack, run)
    run.job = wait_for(
        f"{token}: its training task RUNNING",
        lambda: next((t for t in stack.emu.tione_tasks(token) if t["Status"] == "RUNNING"), None),
        RUN_WAIT,
        context=lambda: stack.context(run.dag_id, run.run_id),
    )
    # Its trigger runs in the triggerer (a task marked failed before the triggerer picks the trigger up
    # leaves the job running on any Airflow: no trigger, no cancel; see the report of issue 20).
    running = f"({run.job['Id']}) is RUNNING"
    wait_for(
        f"{token}: its trigger to report the job RUNNING in the task's trigger log",
        lambda: any(running in line for line in trigger_lines(stack, run)),
        RUN_WAIT,
        context=lambda: stack.context(run.dag_id, run.run_id),
    )
    assert stack.ti(run.dag_id, run.run_id, "train")["state"] == "deferred"
    marked = time.monotonic()
    stack.api(
        "PATCH", stack.ti_path(run.dag_id, run.run_id, "train"), {"dry_run": False, "new_state": "failed"}
    )
    ended = wait_for(
        f"{token}: its training task to end after the task was marked failed",
        lambda: next((t for t in stack.emu.tione_tasks(token) if t["Status"] in TIONE_END), None),
        STOP_WAIT,
        context=lambda: stack.context(run.dag_id, run.run_id),
    )
    run.job = ended
    report(
        "airflow2",
        f"{LIVE}: train deferred {run.deferred_after:.1f} s after the trigger call; marked failed -> "
        f"training task {ended['Status']} in {time.monotonic() - marked:.1f} s",
    )
    return run


def test_mark_failed_stops_the_training_task(stack: Airflow2Stack, killed_run: Run) -> None:
    """Marking the deferred task failed stops its training task: the cancelled trigger saw the task no
    longer deferred in the metadata DB and called StopTrainingTask once; the run fails."""
    run = killed_run
    assert run.trigger is not None and run.trigger[1] == TRIGGER, run.trigger
    assert run.job is not None and run.job["Status"] == "STOPPED", run.job
    stops = stack.emu.ends_of(run.run_id)
    assert [c["action"] for c in stops] == ["StopTrainingTask"], stops
    said = [line for line in trigger_lines(stack, run) if ENDING in line and run.job["Id"] in line]
    assert said, f"the task's trigger log does not say the trigger ended the job ({ENDING!r})"
    dag_run = wait_ended(stack, run)
    assert dag_run["state"] == "failed", dag_run
    assert stack.ti(run.dag_id, run.run_id, "train")["state"] == "failed"


def test_no_secret_in_any_log(stack: Airflow2Stack, example_run: Run, killed_run: Run) -> None:
    """After both runs, the connection's secret key is in no process log and no task log."""
    assert stack.files_containing(run_ui.EMULATOR_SECRET_KEY) == []
    # The search does read those logs: the killed run's id is in each of its task's log files.
    logs = stack.task_logs(killed_run.dag_id, killed_run.run_id, "train")
    assert logs and set(logs) <= set(stack.files_containing(killed_run.run_id)), logs
