"""A real Airflow 2.11 deployment: PostgreSQL, LocalExecutor, scheduler, triggerer and webserver.

``UIStack`` (example_dags/run_ui.py) starts Airflow 3's processes; Airflow 2 has other ones (the webserver
serves the UI and the REST API /api/v1, the scheduler parses the DAG files itself) and another login (FAB
users, HTTP basic auth). ``Airflow2Stack`` keeps UIStack's PostgreSQL cluster, emulator, COS (moto), process
handling and teardown, and replaces what differs. Nothing here imports Airflow: the processes do.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.deployment.stack import HERE, Emulator, run_ui

if TYPE_CHECKING:
    from collections.abc import Sequence

HOST, USER, CONN_ID = run_ui.HOST, run_ui.USER, run_ui.CONN_ID
# The example under test, and the deferrable job sized by conf that a user kills (scenario 2 of test_ha_stack).
DAG_FILES = (
    run_ui.DAGS / "example_tione_training.py",
    run_ui.DAGS / "_tione_digits.py",  # the helpers the TI-ONE examples import
    HERE / "dags" / "deploy_live.py",
    HERE / "dags" / "_deploy_common.py",
)
PROCESSES = ("scheduler", "triggerer", "webserver")
# What /health must report healthy (2.11's DAG processor runs inside the scheduler: its status is null).
HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer")
# The REST API with basic auth (FAB's backend: airflow.api.auth.backend.basic_auth is its deprecated alias),
# and the session backend the UI needs under the name 2.11 looks for (else it adds it to the running config
# with a FutureWarning in every process).
AUTH_BACKENDS = ",".join(
    ("airflow.providers.fab.auth_manager.api.auth.backend.basic_auth", "airflow.api.auth.backend.session")
)
AIRFLOW_ENV = {
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__API__AUTH_BACKENDS": AUTH_BACKENDS,
    "AIRFLOW__WEBSERVER__WORKERS": "1",  # gunicorn's default is 4: a test needs one (2 shared cores)
}


class Airflow2Stack(run_ui.UIStack):
    """PostgreSQL, the (recording) emulator and COS as UIStack starts them, then Airflow 2's components."""

    def __init__(self, home: Path, dag_files: Sequence[Path] = DAG_FILES) -> None:
        self.calls_file = Path(home).resolve() / "emulator-calls.jsonl"
        super().__init__(
            home,
            port=0,
            emulator_port=0,
            database="postgres",
            extra_dags=dag_files,
            emulator_command=[sys.executable, str(HERE / "recording_emulator.py")],
            parallelism=4,
            airflow_env={**AIRFLOW_ENV, "TIA_EMULATOR_CALLS": str(self.calls_file)},
        )
        self.emulator: Emulator | None = None

    @property
    def emu(self) -> Emulator:
        assert self.emulator is not None, "the stack is not started"
        return self.emulator

    def env(self) -> dict[str, str]:
        """Airflow 2's settings (UIStack's are Airflow 3's): the caller's ``AIRFLOW__`` ones left out."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        return {
            **inherited,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
            "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": HOST,
            "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.port),
            "AIRFLOW__WEBSERVER__BASE_URL": self.url,
            **self.airflow_env,
        }

    def start(self, timeout: float = 300) -> Airflow2Stack:
        """Start everything; returns once the webserver reports every component healthy and the DAGs are
        loaded. StackError (after stopping what was started) otherwise."""
        deadline = time.monotonic() + timeout
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port, self.emulator_port, self.cos_port, pg_port = run_ui.pick_ports(0, 0, 0, 0)
        try:
            airflow = [sys.executable, "-m", "airflow"]
            self._link_dags()
            self._start_postgres(pg_port, deadline)
            self._run_once("db-migrate", [*airflow, "db", "migrate"], deadline)
            self._run_once("users-create", [*airflow, "users", "create", *self._admin()], deadline)
            self._spawn("cos", [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.cos_port)])
            keys = ["--secret-id", run_ui.EMULATOR_SECRET_ID, "--secret-key", run_ui.EMULATOR_SECRET_KEY]
            self._spawn(
                "emulator",
                [
                    *self.emulator_command,
                    *("--host", HOST, "--port", str(self.emulator_port), *keys),
                    *("--runner", "local", "--state-dir", str(self.home / "emulator")),
                    *("--cos-endpoint", self.cos_endpoint),
                ],
            )
            self._spawn("webserver", [*airflow, "webserver", "--hostname", HOST, "--port", str(self.port)])
            self._spawn("scheduler", [*airflow, "scheduler", "--skip-serve-logs"])
            self.start_triggerer("triggerer", deadline)
            self._wait("the components to report healthy", self._healthy, deadline)
            self._put_connection()
            self._wait("the example DAGs' COS buckets", self._bucket_ready, deadline)
            self._wait("the DAG files to load", self._dags_loaded, deadline)
        except BaseException:
            self.stop()
            raise
        self.emulator = Emulator(self.emulator_endpoint, self.calls_file)
        return self

    def _admin(self) -> list[str]:
        return [
            *("--username", USER, "--password", self.password, "--role", "Admin"),
            *("--firstname", "Test", "--lastname", "Admin", "--email", "admin@example.com"),
        ]

    def _link_dags(self) -> None:
        """``<home>/dags`` holds symlinks to the DAG files under test only (UIStack adds every example)."""
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for path in self.extra_dags:
            (self.dags_folder / path.name).symlink_to(path)

    # ---- REST API /api/v1 (basic auth) -----------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the webserver's stable REST API as the admin; the decoded JSON (None for an empty body).
        An HTTP error becomes an AssertionError carrying the server's answer."""
        try:
            return self._request(method, path, body, timeout)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:800]
            raise AssertionError(f"{method} {path} -> HTTP {error.code}: {detail}") from None

    def _request(self, method: str, path: str, body: Any, timeout: float, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            login = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {login}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def health(self) -> dict[str, Any]:
        """The webserver's ``/health`` (no login): each component's status."""
        return dict(self._request("GET", "/health", None, 10, auth=False))

    def _healthy(self) -> bool:
        health = self.health()
        return all((health.get(part) or {}).get("status") == "healthy" for part in HEALTH_PARTS)

    def _put_connection(self) -> None:
        """The connection as UIStack stores it (the emulator's keys, its endpoint and COS in Extra)."""
        extra = {
            "region": "ap-beijing",
            "endpoint": f"http://{self.emulator_endpoint}",
            "cos_endpoint": self.cos_endpoint,
            "token": None,
        }
        self.api(
            "POST",
            "/api/v1/connections",
            {
                "connection_id": CONN_ID,
                "conn_type": "tencentcloud",
                "login": run_ui.EMULATOR_SECRET_ID,
                "password": run_ui.EMULATOR_SECRET_KEY,
                "extra": json.dumps(extra),
                "description": "The local TI-A and TI-ONE emulator (and COS)",
            },
        )

    def _dags_loaded(self) -> bool:
        """True once every DAG file (not a ``_`` helper) has a DAG in the API or an import error."""
        dags = self.api("GET", "/api/v1/dags?limit=100")["dags"]
        errors = self.api("GET", "/api/v1/importErrors?limit=100")["import_errors"]
        files = {Path(d["fileloc"]).name for d in dags} | {Path(e["filename"]).name for e in errors}
        return {p.name for p in self.extra_dags if not p.name.startswith("_")} <= files

    def import_errors(self) -> dict[str, str]:
        errors = self.api("GET", "/api/v1/importErrors?limit=100")["import_errors"]
        return {Path(e["filename"]).name: e["stack_trace"][-1500:] for e in errors}

    # ---- runs and task instances ---------------------------------------------------------------
    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        self.api("POST", f"/api/v1/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "conf": conf or {}})

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/api/v1/dags/{dag_id}/dagRuns/{run_id}"))

    def ti_path(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"/api/v1/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"

    def ti(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.api("GET", self.ti_path(dag_id, run_id, task_id)))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.api("GET", f"/api/v1/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: t["state"] for t in tis}

    def trigger_of(self, dag_id: str, run_id: str, task_id: str) -> tuple[int, str] | None:
        """(id, classpath) of the trigger a task instance waits on, from the metadata DB."""
        rows = self.sql(
            "SELECT t.id, t.classpath FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id "
            "WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s",
            (dag_id, run_id, task_id),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def context(self, dag_id: str = "", run_id: str = "") -> str:
        """What a failed wait prints: the run's task states and the tails of the process logs."""
        parts = []
        if dag_id and run_id:
            try:
                parts.append(f"task instances of {dag_id}/{run_id}: {self.task_states(dag_id, run_id)}")
            except (AssertionError, OSError) as error:
                parts.append(f"task instances of {dag_id}/{run_id}: unreadable ({error})")
        for name in (*PROCESSES, "emulator"):
            parts.append(f"---- {name} (last lines)\n{self.log_tail(name, 15)}")
        return "\n".join(parts)

    # ---- files ---------------------------------------------------------------------------------
    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The task instance's log files: each attempt's and the triggerer's ``.trigger.<job>.log``."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(folder.glob("attempt=*.log*"))

    def files_containing(self, text: str) -> list[Path]:
        """Every process log and task log file (anywhere under the home's log folders) holding ``text``."""
        found = []
        for folder in (self.logs, self.home / "logs"):
            for path in sorted(folder.rglob("*")):
                if path.is_file() and text in path.read_text(errors="replace"):
                    found.append(path)
        return found
