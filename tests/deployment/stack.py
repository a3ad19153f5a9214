"""The production-like stack of tests/deployment and what its tests read from it.

``Deployment`` is ``UIStack`` (example_dags/run_ui.py) on PostgreSQL with two triggerers, the deployment
DAGs, and the emulator recording its changing calls; plus bounded waits, the REST API, the metadata DB,
the emulator's state (official SDK clients), task log files and process logs. Nothing here imports Airflow.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import sys
import time
import urllib.error
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DAG_FILES = sorted((HERE / "dags").glob("*.py"))
# [triggerer] triggerer_health_check_threshold: a triggerer silent this long is dead and loses its triggers.
# Airflow's default. On this 2-core machine a triggerer's heartbeat was seen to stall up to 18 s while ~15
# task processes start at once (28 s without ``nice``), so a smaller threshold moves triggers unasked.
HEALTH_THRESHOLD = 30
AIRFLOW_ENV = {
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_THRESHOLD),
    # A paused triggerer's supervisor must not take its own runner for deadlocked when it resumes (the
    # pauses here stay well under this); that watchdog is Airflow's, not what these tests are about.
    "AIRFLOW__TRIGGERER__RUNNER_HEALTH_CHECK_THRESHOLD": str(HEALTH_THRESHOLD * 4),
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "32",
}
TERMINAL_RUN = ("success", "failed")
TERMINAL_TI = ("success", "failed", "skipped", "upstream_failed", "removed")
REGION = CLUSTER = "ap-beijing"
TIONE_END = ("SUCCEED", "FAILED", "STOPPED", "SUBMIT_FAILED")
# Process logs whose ERROR-level lines count (the emulator, COS and PostgreSQL are reported apart).
AIRFLOW_PROCESSES = ("scheduler", "dag-processor", "api-server", "triggerer-1", "triggerer-2")
ERROR_LEVEL = re.compile(
    r"\[(error|critical|fatal)\s*\]|\s(ERROR|CRITICAL|FATAL)\s|\"level\":\s*\"(error|critical)\""
)
TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)")
REPORT: dict[str, list[str]] = {}  # scenario -> figures, printed at the end of the session (conftest)


def load_run_ui() -> Any:
    spec = importlib.util.spec_from_file_location("tia_run_ui", ROOT / "example_dags" / "run_ui.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_ui = load_run_ui()


def report(scenario: str, line: str) -> None:
    """A figure of a scenario, for the session summary (and the test's own output)."""
    REPORT.setdefault(scenario, []).append(line)
    print(f"[{scenario}] {line}", flush=True)


class WaitTimeout(AssertionError):
    """A bounded wait ran out; the message says what was waited for and what was seen last."""


def wait_for(
    what: str,
    probe: Callable[[], Any],
    timeout: float,
    interval: float = 1.0,
    context: Callable[[], str] | None = None,
) -> Any:
    """``probe()`` until it returns something truthy (returned), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            detail = context() if context else ""
            raise WaitTimeout(
                f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})\n{detail}"
            )
        time.sleep(interval)


@dataclass(frozen=True)
class TI:
    """One task instance of a DAG run (``map_index`` -1 when not mapped)."""

    dag_id: str
    run_id: str
    task_id: str = "train"
    map_index: int = -1

    @property
    def path(self) -> str:
        base = (
            f"/api/v2/dags/{self.dag_id}/dagRuns/{quote(self.run_id, safe='')}/taskInstances/{self.task_id}"
        )
        return base if self.map_index < 0 else f"{base}/{self.map_index}"

    def __str__(self) -> str:
        index = "" if self.map_index < 0 else f"[{self.map_index}]"
        return f"{self.dag_id}/{self.run_id}/{self.task_id}{index}"


@dataclass
class LineCount:
    """Numbered lines of one job in one task instance's log files."""

    expected: int
    counts: Counter[int] = field(default_factory=Counter)
    by_file: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> list[int]:
        return [n for n in range(1, self.expected + 1) if not self.counts[n]]

    @property
    def repeated(self) -> int:
        return sum(c - 1 for c in self.counts.values() if c > 1)

    def summary(self) -> str:
        lost = self.lost
        shown = f"{lost[:12]}{'...' if len(lost) > 12 else ''}"
        files = ", ".join(f"{name}: {n}" for name, n in self.by_file.items())
        lost_text = f"{len(lost)} lost {shown}" if lost else "0 lost"
        return f"{self.expected} printed, {lost_text}, {self.repeated} repeated ({files})"


class Emulator:
    """The emulator's state through the official SDK clients, and its recorded changing calls."""

    def __init__(self, endpoint: str, calls_file: Path) -> None:
        from tencentcloud.common.credential import Credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.tia.v20180226.tia_client import TiaClient
        from tencentcloud.tione.v20211111.tione_client import TioneClient

        cred = Credential(run_ui.EMULATOR_SECRET_ID, run_ui.EMULATOR_SECRET_KEY)
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=endpoint, protocol="http", reqTimeout=20))
        self.tione = TioneClient(cred, REGION, profile)
        self.tia = TiaClient(cred, REGION, profile)
        self.calls_file = calls_file
        self.seen: dict[
            str, dict[str, Any]
        ] = {}  # every job listed once, by name: a deleted one is remembered

    def tione_tasks(self, prefix: str = "") -> list[dict[str, Any]]:
        """Every training task (DescribeTrainingTasks, 50 a page) whose name starts with ``prefix``."""
        tasks: list[dict[str, Any]] = []
        for offset in range(0, 10_000, 50):
            page = self.tione.call_json("DescribeTrainingTasks", {"Limit": 50, "Offset": offset})["Response"]
            tasks += page["TrainingTaskSet"]
            if offset + 50 >= page["TotalCount"]:
                break
        self.seen.update((t["Name"], t) for t in tasks)
        return [t for t in tasks if t["Name"].startswith(prefix)]

    def tia_jobs(self, prefix: str = "") -> list[dict[str, Any]]:
        """Every TI-A job of the cluster (ListJobs) whose name starts with ``prefix`` (deleted: gone)."""
        jobs = self.tia.call_json("ListJobs", {"Cluster": CLUSTER})["Response"]["Jobs"]
        self.seen.update((j["Name"], j) for j in jobs)
        return [j for j in jobs if j["Name"].startswith(prefix)]

    def calls(self, *actions: str) -> list[dict[str, Any]]:
        """The recorded changing calls (all, or of these actions), oldest first."""
        if not self.calls_file.exists():
            return []
        found = [json.loads(line) for line in self.calls_file.read_text().splitlines() if line.strip()]
        return [c for c in found if not actions or c["action"] in actions]

    def ends_of(self, prefix: str) -> list[dict[str, Any]]:
        """Stop/Delete calls that hit a job whose name starts with ``prefix`` (a TI-ONE task by its Id, as
        seen in any listing so far; a TI-A job by its name)."""
        self.tione_tasks()  # refresh what is known of the TI-ONE tasks' ids
        ids = {job["Id"] for name, job in self.seen.items() if name.startswith(prefix) and "Id" in job}
        return [
            c
            for c in self.calls("StopTrainingTask", "DeleteTrainingTask", "DeleteJob")
            if c["params"].get("Id") in ids or str(c["params"].get("Name", "")).startswith(prefix)
        ]


class Deployment:
    """UIStack on PostgreSQL with two triggerers, serving the deployment DAGs; what the tests read of it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.calls_file = home / "emulator-calls.jsonl"
        self.stack = run_ui.UIStack(
            home,
            port=0,
            emulator_port=0,
            database="postgres",
            triggerers=2,
            extra_dags=DAG_FILES,
            emulator_command=[sys.executable, str(HERE / "recording_emulator.py")],
            emulator_args=["--max-running-jobs", "64"],
            parallelism=8,
            airflow_env={**AIRFLOW_ENV, "TIA_EMULATOR_CALLS": str(self.calls_file)},
            # Task start-ups (the scheduler's LocalExecutor workers) and DAG parsing yield the CPU to the
            # triggerers, as on separate hosts: on 2 cores, ~15 task processes starting at once otherwise
            # stall a triggerer's heartbeat past the threshold (28 s seen) and move its triggers unasked.
            nice={"scheduler": 15, "dag-processor": 15},
        )
        self.emulator: Emulator | None = None

    def start(self) -> None:
        self.stack.start(timeout=360)
        self.emulator = Emulator(self.stack.emulator_endpoint, self.calls_file)

    @property
    def emu(self) -> Emulator:
        assert self.emulator is not None, "the stack is not started"
        return self.emulator

    # ---- REST API -----------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return self.stack.api(method, path, body)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:800]
            raise AssertionError(f"{method} {path} -> HTTP {error.code}: {detail}") from None

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> str:
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        return str(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"))

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100"
        return list(self.api("GET", path)["task_instances"])

    def ti(self, key: TI) -> dict[str, Any]:
        return dict(self.api("GET", key.path))

    def ti_state(self, key: TI) -> str | None:
        return self.ti(key).get("state")

    def links(self, key: TI) -> dict[str, str | None]:
        path = f"{key.path.rsplit('/', 1)[0] if key.map_index >= 0 else key.path}/links"
        if key.map_index >= 0:
            path += f"?map_index={key.map_index}"
        return dict(self.api("GET", path)["extra_links"])

    def import_errors(self) -> dict[str, str]:
        """File name -> the end of its import error's stack trace."""
        errors = self.api("GET", "/api/v2/importErrors?limit=100")["import_errors"]
        return {Path(e["filename"]).name: e["stack_trace"][-1500:] for e in errors}

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """The DAG run once it has ended (success or failed)."""
        return dict(
            wait_for(
                f"DAG run {dag_id}/{run_id} to end",
                lambda: (run := self.dag_run(dag_id, run_id))["state"] in TERMINAL_RUN and run,
                timeout,
                interval=2,
                context=lambda: self.context(dag_id, run_id),
            )
        )

    def context(self, dag_id: str | None = None, run_id: str | None = None) -> str:
        """What to print when a wait fails: the run's task states and the process logs' tails."""
        parts = []
        if dag_id and run_id:
            with contextlib.suppress(Exception):
                states = [
                    (t["task_id"], t["map_index"], t["state"]) for t in self.task_instances(dag_id, run_id)
                ]
                parts.append(f"task instances of {dag_id}/{run_id}: {states}")
        for name in ("scheduler", *self.stack.triggerer_names, "emulator"):
            parts.append(f"---- {name} (last lines)\n{self.stack.log_tail(name, 12)}")
        return "\n".join(parts)

    # ---- the metadata DB ----------------------------------------------------------------------
    def trigger_row(self, key: TI) -> tuple[int, int | None] | None:
        """(trigger id, triggerer job id) of a deferred task instance, None when it has no trigger."""
        rows = self.stack.sql(
            "SELECT t.id, t.triggerer_id FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id "
            "WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s AND ti.map_index = %s",
            (key.dag_id, key.run_id, key.task_id, key.map_index),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def triggerer_heartbeat_ages(self) -> list[tuple[int, float]]:
        """(job id, seconds since its last heartbeat) of every triggerer job not ended."""
        rows = self.stack.sql(
            "SELECT id, EXTRACT(EPOCH FROM (now() - latest_heartbeat)) FROM job "
            "WHERE job_type = 'TriggererJob' AND state = 'running' AND end_date IS NULL"
        )
        return [(row[0], float(row[1])) for row in rows]

    def alive_triggerer_jobs(self) -> list[int]:
        """Triggerer jobs that heartbeat within the health threshold (the ones that take triggers)."""
        rows = self.stack.sql(
            "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' AND end_date IS NULL "
            "AND latest_heartbeat > now() - make_interval(secs => %s) ORDER BY id",
            (HEALTH_THRESHOLD,),
        )
        return [row[0] for row in rows]

    # ---- task logs ----------------------------------------------------------------------------
    def log_files(self, key: TI) -> list[Path]:
        """The task instance's log files: each attempt's, and each triggerer's ``.trigger.<job>.log``."""
        base = self.home / "logs" / f"dag_id={key.dag_id}" / f"run_id={key.run_id}" / f"task_id={key.task_id}"
        if key.map_index >= 0:
            base = base / f"map_index={key.map_index}"
        return sorted(base.glob("attempt=*.log*"))

    def log_events(self, key: TI) -> Iterable[tuple[Path, str]]:
        for path in self.log_files(key):
            for raw in path.read_text(errors="replace").splitlines():
                try:
                    event = json.loads(raw).get("event", "")
                except (ValueError, AttributeError):
                    event = raw
                yield path, str(event)

    def count_lines(self, key: TI, token: str, expected: int) -> LineCount:
        """How often each numbered line of the job (``<token> line NNNN/MMMM``) is in the task's logs."""
        pattern = re.compile(rf"{re.escape(token)} line (\d{{4}})/(\d{{4}})")
        result = LineCount(expected)
        for path, event in self.log_events(key):
            if match := pattern.search(event):
                result.counts[int(match.group(1))] += 1
                result.by_file[path.name] = result.by_file.get(path.name, 0) + 1
        return result

    def triggerers_that_logged(self, key: TI) -> list[int]:
        """The triggerer job ids that ran this task's trigger (one ``.trigger.<job>.log`` file each)."""
        return sorted(int(p.name.rsplit(".", 2)[-2]) for p in self.log_files(key) if ".trigger." in p.name)

    # ---- process logs -------------------------------------------------------------------------
    def error_lines(self, processes: Iterable[str] = AIRFLOW_PROCESSES) -> list[tuple[str, str]]:
        """(process, line) of every ERROR-level line in these processes' logs (a restart appends)."""
        found = []
        for name in processes:
            path = self.stack.logs / f"{name}.log"
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                if ERROR_LEVEL.search(line):
                    found.append((name, line))
        return found


def line_time(line: str) -> float | None:
    """Epoch seconds of a process log line's leading ISO timestamp (UTC), if it has one."""
    from datetime import datetime, timezone

    match = TIMESTAMP.match(line)
    if not match:
        return None
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc).timestamp()
