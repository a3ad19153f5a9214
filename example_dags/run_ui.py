"""`make ui`: the TI-A and TI-ONE emulator, a local COS (moto) and Airflow 3 with the example DAGs.

Starts, all on 127.0.0.1 and under a private AIRFLOW_HOME (default ``.airflow-ui/``, SQLite, LocalExecutor):
the emulator (local runner: jobs really run), then Airflow's api-server, scheduler, dag-processor and
triggerer; creates the ``tencentcloud_default`` connection pointing at the emulator, waits until every
component is healthy and the example DAGs are loaded, prints the URL and the login, and on Ctrl-C stops
every process it started, with their children.

Why not ``airflow standalone``: it cannot pass ``--skip-serve-logs`` (the scheduler's and triggerer's log
servers would bind 0.0.0.0), it stops only its direct children, and its readiness is a timer.

``UIStack`` is also what the browser test (tests/ui/) starts, and, with its options (PostgreSQL in a private
cluster, two triggerers, extra DAG files, the emulator's runner), the production-like stack of
tests/deployment/ (``make test-deployment``). The defaults are what ``make ui`` starts.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "example_dags"
DEFAULT_HOME = ROOT / ".airflow-ui"
HOST = "127.0.0.1"
USER = "admin"
CONN_ID = "tencentcloud_default"
EMULATOR = "airflow_provider_tia.emulator"
# The example DAGs' default buckets: example_tione_training's, and example_tia_code_dir's code bucket.
EXAMPLE_BUCKETS = ("tione-demo-1250000000", "tia-code-1250000000")
# The emulator's key pair: a local demo credential, given to the emulator and stored in the connection.
EMULATOR_SECRET_ID, EMULATOR_SECRET_KEY = "AKIDemulator", "emulator-secret"
DATABASES = ("sqlite", "postgres")
PG_USER = PG_DB = "airflow"
PG_SYSTEM_USER = "postgres"  # the unprivileged account PostgreSQL runs as when we are root
# A throwaway test cluster: durability off; enough connections for every component's pools.
PG_SETTINGS = {
    "listen_addresses": HOST,
    "max_connections": "300",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "128MB",
}


def example_dag_ids() -> list[str]:
    """The DAGs `make ui` serves: one per example_*.py file (file name = dag_id)."""
    return sorted(p.stem for p in DAGS.glob("example_*.py"))


def pick_ports(*preferred: int) -> list[int]:
    """One distinct port per entry: the preferred one if free on 127.0.0.1, else (or for 0) a free one."""
    held: list[socket.socket] = []  # kept bound until all are picked, so no two picks are the same
    ports: list[int] = []
    try:
        for want in preferred:
            if want and want not in ports and _bindable(want):
                ports.append(want)
                continue
            held.append(socket.socket())
            held[-1].bind((HOST, 0))
            ports.append(held[-1].getsockname()[1])
        return ports
    finally:
        for sock in held:
            sock.close()


def _bindable(port: int) -> bool:
    """Can a server listen on ``port``? (With SO_REUSEADDR as uvicorn uses: TIME_WAIT does not count.)"""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the launcher dies without cleaning up (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _child_setup(nice: int) -> Any:
    """What a child runs before exec: ``_die_with_parent``, after lowering its priority by ``nice``."""
    if not nice:
        return _die_with_parent

    def setup() -> None:
        os.nice(nice)
        _die_with_parent()

    return setup


class StackError(RuntimeError):
    """A component did not start; the message names it and ends with its last log lines."""


def postgres_bindir() -> Path:
    """Where the PostgreSQL server binaries are: the newest /usr/lib/postgresql/*/bin (Debian), else PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).resolve().parent
    raise StackError(
        "PostgreSQL is not installed: apt-get install -y postgresql (its binaries are looked for in "
        "/usr/lib/postgresql/*/bin, then on PATH)"
    )


class PostgresCluster:
    """A private PostgreSQL cluster for one stack: initdb (trust auth) in a data dir of its own, the server
    on 127.0.0.1 and a free port, its socket in the data dir; removed when the stack stops.

    As root the server runs as the unprivileged ``postgres`` account (PostgreSQL refuses root), in a data
    dir under the system's temporary folder that account owns (a home under a 0700 folder, such as
    pytest's, would be out of its reach); otherwise as the current user in ``<home>/postgres``.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.bindir = postgres_bindir()
        self.port = 0
        self.user: str | None = None  # the account the server runs as (None: ours)
        self.data: Path | None = None
        self._owned_tmp: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}@{HOST}:{self.port}/{PG_DB}"

    def prepare(self, port: int) -> None:
        """Make the data dir and run initdb (as the server's account)."""
        self.port = port
        if os.geteuid() == 0:
            self.user = PG_SYSTEM_USER
            try:
                account = pwd.getpwnam(self.user)
            except KeyError:
                raise StackError(
                    f"running as root needs the {self.user!r} account (Debian's postgresql)"
                ) from None
            self._owned_tmp = Path(tempfile.mkdtemp(prefix="tia-postgres-"))
            os.chown(self._owned_tmp, account.pw_uid, account.pw_gid)
            self.data = self._owned_tmp / "data"
        else:
            self.data = self.home / "postgres"
            shutil.rmtree(self.data, ignore_errors=True)

    def initdb_argv(self) -> list[str]:
        assert self.data is not None
        return [
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
        ]

    def server_argv(self) -> list[str]:
        assert self.data is not None
        settings = {**PG_SETTINGS, "unix_socket_directories": str(self.data)}
        argv = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def client(self, tool: str, *args: str) -> list[str]:
        """A client tool (psql, createdb, pg_isready) addressing this cluster as the Airflow user."""
        return [str(self.bindir / tool), "-h", HOST, "-p", str(self.port), "-U", PG_USER, *args]

    def ready(self) -> bool:
        return subprocess.run(self.client("pg_isready", "-q", "-d", "postgres"), check=False).returncode == 0

    def cleanup(self) -> None:
        if self._owned_tmp is not None:
            shutil.rmtree(self._owned_tmp, ignore_errors=True)
            self._owned_tmp = None


class UIStack:
    """The emulator and the four Airflow components as process groups of their own.

    Example::

        with UIStack(home=tmp_path / "home") as stack:
            print(stack.url, stack.user, stack.password)

    Options (keywords; the defaults are ``make ui``'s stack):

    :param database: ``"sqlite"`` (a file in the home) or ``"postgres"`` (a private cluster started first
        and stopped last, see ``PostgresCluster``; needs Debian's ``postgresql`` and ``psycopg2``).
    :param triggerers: How many triggerers (HA). With more than one each is named ``triggerer-<n>`` (its own
        log file) and started after the previous one has its ``job`` row, so ``triggerer_jobs`` maps each
        name to its job id (the ``trigger`` table's ``triggerer_id``).
    :param extra_dags: DAG files served besides the example DAGs: the DAGs folder becomes ``<home>/dags``,
        holding symlinks to ``example_dags/example_*.py``, the helper modules they import (``_*.py``) and
        these (a name starting with ``_`` is a helper module the DAG files import: linked too, but not
        waited for as a DAG file).
    :param emulator_runner: The emulator's runner, ``"local"`` (jobs really run) or ``"simulated"``.
    :param emulator_command: The emulator's command before its options (default
        ``python -m airflow_provider_tia.emulator``), e.g. a wrapper that records the calls.
    :param emulator_args: More emulator options, e.g. ``["--max-running-jobs", "64"]``.
    :param parallelism: ``[core] parallelism`` (LocalExecutor's worker processes).
    :param airflow_env: More environment for every Airflow process (``AIRFLOW__...`` settings); wins.
    :param nice: Niceness added to components by name, e.g. ``{"scheduler": 10}``: its LocalExecutor
        workers and their task processes inherit it (on a small machine, task start-ups then cannot starve
        the triggerers of CPU for longer than their health threshold, as separate worker hosts would not).
    """

    user = USER

    def __init__(
        self,
        home: Path = DEFAULT_HOME,
        port: int = 8080,
        emulator_port: int = 9000,
        *,
        database: str = "sqlite",
        triggerers: int = 1,
        extra_dags: Sequence[Path] = (),
        emulator_runner: str = "local",
        emulator_command: Sequence[str] | None = None,
        emulator_args: Sequence[str] = (),
        parallelism: int = 4,
        airflow_env: Mapping[str, str] | None = None,
        nice: Mapping[str, int] | None = None,
    ) -> None:
        if database not in DATABASES:
            raise ValueError(f"database must be one of {DATABASES}, not {database!r}")
        if triggerers < 1:
            raise ValueError(f"triggerers must be at least 1, not {triggerers}")
        if emulator_runner not in ("local", "simulated"):
            raise ValueError(f"emulator_runner must be 'local' or 'simulated', not {emulator_runner!r}")
        self.home = Path(home).resolve()
        self.logs = self.home / "process-logs"
        self._want_port, self._want_emulator_port = port, emulator_port
        self.port = self.emulator_port = self.cos_port = 0
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None
        self.database, self.triggerers = database, triggerers
        self.extra_dags = [Path(p).resolve() for p in extra_dags]
        self.dags_folder = self.home / "dags" if self.extra_dags else DAGS
        self.emulator_runner = emulator_runner
        self.emulator_command = list(emulator_command or [sys.executable, "-m", EMULATOR])
        self.emulator_args = list(emulator_args)
        self.parallelism = parallelism
        self.airflow_env = dict(airflow_env or {})
        self.nice = dict(nice or {})
        self.postgres = PostgresCluster(self.home) if database == "postgres" else None
        self.triggerer_jobs: dict[str, int] = {}  # triggerer name -> its job id (more than one triggerer)

    # ---- addresses and login ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def emulator_endpoint(self) -> str:
        return f"{HOST}:{self.emulator_port}"

    @property
    def cos_endpoint(self) -> str:
        return f"http://{HOST}:{self.cos_port}"

    @property
    def password(self) -> str:
        """The admin's password, made once per AIRFLOW_HOME (SimpleAuthManager reads this file)."""
        path = self.home / "passwords.json"
        if not path.exists():
            path.write_text(json.dumps({USER: secrets.token_urlsafe(12)}) + "\n")
            path.chmod(0o600)
        return str(json.loads(path.read_text())[USER])

    @property
    def sql_alchemy_conn(self) -> str:
        return self.postgres.url if self.postgres else f"sqlite:///{self.home}/airflow.db"

    @property
    def triggerer_names(self) -> list[str]:
        """The triggerers' process (and log file) names."""
        if self.triggerers == 1:
            return ["triggerer"]
        return [f"triggerer-{n}" for n in range(1, self.triggerers + 1)]

    def env(self) -> dict[str, str]:
        """The environment of every Airflow process: the caller's, minus its ``AIRFLOW__`` settings (a
        deployment has its own configuration: a test process's settings, such as ``dag.test()``'s zero
        ``min_trigger_event_delay``, must not leak into it), plus ours and ``airflow_env``."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        return {
            **inherited,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            **self.airflow_env,
        }

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 300) -> UIStack:
        """Start everything; returns once the UI can be used. StackError (after stopping) otherwise."""
        deadline = time.monotonic() + timeout
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port, self.emulator_port, self.cos_port, pg_port = pick_ports(
            self._want_port, self._want_emulator_port, 0, 0
        )
        _ = self.password  # made now: the api-server reads the file when it starts
        try:
            airflow = [sys.executable, "-m", "airflow"]
            port, state = str(self.emulator_port), str(self.home / "emulator")
            keys = ["--secret-id", EMULATOR_SECRET_ID, "--secret-key", EMULATOR_SECRET_KEY]
            self._link_dags()
            if self.postgres is not None:
                self._start_postgres(pg_port, deadline)
            self._run_once("db-migrate", [*airflow, "db", "migrate"], deadline)
            # moto's S3 server stands in for COS: TI-ONE code packages, data and outputs live there.
            self._spawn("cos", [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.cos_port)])
            runner = ["--runner", self.emulator_runner, "--state-dir", state, *keys]
            if self.emulator_runner == "local":  # the simulated runner fetches nothing
                runner += ["--cos-endpoint", self.cos_endpoint]
            self._spawn(
                "emulator",
                [*self.emulator_command, "--host", HOST, "--port", port, *runner, *self.emulator_args],
            )
            self._spawn(
                "api-server",
                [*airflow, "api-server", "--host", HOST, "--port", str(self.port), "--workers", "1"],
            )
            self._spawn("scheduler", [*airflow, "scheduler", "--skip-serve-logs"])
            self._spawn("dag-processor", [*airflow, "dag-processor"])
            for name in self.triggerer_names:
                self.start_triggerer(name, deadline)
            self._wait("the components to report healthy", self._healthy, deadline)
            self._put_connection()
            self._wait("the example DAGs' COS buckets", self._bucket_ready, deadline)
            self._wait("the example DAGs to load", self._dags_loaded, deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def start_triggerer(self, name: str, deadline: float | None = None) -> int | None:
        """(Re)start one triggerer; with several, wait for its job row and return its job id."""
        deadline = deadline if deadline is not None else time.monotonic() + 120
        known = set(self.triggerer_job_ids()) if self.triggerers > 1 else set()
        self.procs.pop(name, None)
        self._spawn(name, [sys.executable, "-m", "airflow", "triggerer", "--skip-serve-logs"])
        if self.triggerers == 1:
            return None

        def new_job() -> bool:
            fresh = [job for job in self.triggerer_job_ids() if job not in known]
            if fresh:
                self.triggerer_jobs[name] = max(fresh)
            return bool(fresh)

        self._wait(f"{name}'s job row", new_job, deadline)
        return self.triggerer_jobs[name]

    def triggerer_job_ids(self) -> list[int]:
        """The job ids of the triggerers that are running (by their rows, without looking at heartbeats)."""
        rows = self.sql(
            "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id"
        )
        return [row[0] for row in rows]

    def triggerer_of_job(self, job_id: int) -> str | None:
        """The name of the triggerer process that runs job ``job_id``, if it is one of ours."""
        return next((name for name, job in self.triggerer_jobs.items() if job == job_id), None)

    def signal(self, name: str, sig: int) -> None:
        """Send ``sig`` to one component's process group (e.g. SIGSTOP/SIGCONT/SIGKILL a triggerer)."""
        _signal_group(self.procs[name], sig)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM every process group (the emulator stops its replicas), SIGKILL what is left; then the
        database (fast shutdown), whose clients are gone by then."""
        database = self.procs.pop("postgres", None)
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGCONT)  # a group stopped by a test could not see SIGTERM
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGKILL)  # stragglers (task processes) of a group whose leader left
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()
        if database is not None:
            _signal_group(database, signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                database.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(database, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    database.wait(timeout=5)
        if self.postgres is not None:
            self.postgres.cleanup()

    def __enter__(self) -> UIStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dead(self) -> str | None:
        """The name of a component that has exited, if any."""
        return next((name for name, proc in self.procs.items() if proc.poll() is not None), None)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # ---- the metadata database (read-only look-ups for tests) -------------------------------------
    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query on Airflow's metadata DB (``%s`` placeholders; psycopg2 for PostgreSQL)."""
        if self.postgres is None:
            with contextlib.closing(sqlite3.connect(self.home / "airflow.db", timeout=30)) as db:
                return list(db.execute(query.replace("%s", "?"), tuple(params)).fetchall())
        import psycopg2  # the driver Airflow itself uses for this database

        with contextlib.closing(
            psycopg2.connect(
                host=HOST, port=self.postgres.port, user=PG_USER, dbname=PG_DB, connect_timeout=10
            )
        ) as db:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute(query, tuple(params))
                return list(cursor.fetchall()) if cursor.description else []

    # ---- REST API (stdlib only: this process never imports Airflow) -------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the Airflow REST API as the admin; returns the decoded JSON (None for an empty body)."""
        if self._token is None:
            login = {"username": USER, "password": self.password}
            self._token = self._request("POST", "/auth/token", login, timeout, auth=False)["access_token"]
        return self._request(method, path, body, timeout)

    def _request(self, method: str, path: str, body: Any, timeout: float, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    # ---- steps -----------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], user: str | None = None) -> None:
        """Start one component in a process group of its own (as ``user`` when given: we are root)."""
        as_user: dict[str, Any] = {}
        if user is not None:
            as_user = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}
        with open(self.logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=self.home if user is None else "/",
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_child_setup(self.nice.get(name, 0)),
                **as_user,
            )

    def _run_once(self, name: str, argv: list[str], deadline: float, user: str | None = None) -> None:
        self._spawn(name, argv, user)
        proc = self.procs[name]
        try:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise StackError(f"{name} did not finish in time\n{self.log_tail(name)}") from None
        if code != 0:
            raise StackError(f"{name} failed with exit code {code}\n{self.log_tail(name)}")
        del self.procs[name]

    def _link_dags(self) -> None:
        """With extra DAG files: ``<home>/dags`` holds symlinks to the example DAGs and to them."""
        if not self.extra_dags:
            return
        shutil.rmtree(self.dags_folder, ignore_errors=True)
        self.dags_folder.mkdir(parents=True)
        for path in [*sorted(DAGS.glob("example_*.py")), *sorted(DAGS.glob("_*.py")), *self.extra_dags]:
            (self.dags_folder / path.name).symlink_to(path)

    def _start_postgres(self, port: int, deadline: float) -> None:
        """initdb, the server, then the Airflow database (``db migrate`` fills it)."""
        assert self.postgres is not None
        cluster = self.postgres
        cluster.prepare(port)
        self._run_once("postgres-initdb", cluster.initdb_argv(), deadline, cluster.user)
        self._spawn("postgres", cluster.server_argv(), cluster.user)
        self._wait("PostgreSQL to accept connections", cluster.ready, deadline)
        self._run_once("postgres-createdb", cluster.client("createdb", PG_DB), deadline)

    def _wait(self, what: str, ready: Any, deadline: float) -> None:
        while True:
            if name := self.dead():
                raise StackError(f"{name} exited while waiting for {what}\n{self.log_tail(name)}")
            with contextlib.suppress(OSError, ValueError, KeyError):  # not listening yet, 503, ...
                if ready():
                    return
            if time.monotonic() > deadline:
                raise StackError(f"timed out waiting for {what}")
            time.sleep(1)

    def _healthy(self) -> bool:
        health = self._request("GET", "/api/v2/monitor/health", None, 10, auth=False)
        parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def _put_connection(self) -> None:
        """(Re)create the connection: the emulator's port may differ from the last run.

        Port 0 is stored because the 3.3.2 UI's Test button sends 0 for the hidden port field and the API
        refuses a test whose port differs from the stored one (None); a connection saved in the UI has 0 too.
        """
        with contextlib.suppress(urllib.error.HTTPError):  # 404: not there yet
            self.api("DELETE", f"/api/v2/connections/{CONN_ID}")
        # The scheme goes in the endpoint URL: a short extra value such as "http" makes Airflow's secret
        # masker warn in every task log; "token": null shows the Session token field in the Edit form.
        extra = {
            "region": "ap-beijing",
            "endpoint": f"http://{self.emulator_endpoint}",
            "cos_endpoint": self.cos_endpoint,
            "token": None,
        }
        self.api(
            "POST",
            "/api/v2/connections",
            {
                "connection_id": CONN_ID,
                "conn_type": "tencentcloud",
                "port": 0,
                "login": EMULATOR_SECRET_ID,
                "password": EMULATOR_SECRET_KEY,
                "extra": json.dumps(extra),
                "description": "The local TI-A and TI-ONE emulator (and COS) started by `make ui`",
            },
        )

    def _bucket_ready(self) -> bool:
        """Create the example DAGs' buckets (``EXAMPLE_BUCKETS``) once COS answers."""
        import boto3
        from botocore.exceptions import BotoCoreError

        s3 = boto3.client(
            "s3",
            endpoint_url=self.cos_endpoint,
            region_name="ap-beijing",
            aws_access_key_id=EMULATOR_SECRET_ID,
            aws_secret_access_key=EMULATOR_SECRET_KEY,
        )
        for bucket in EXAMPLE_BUCKETS:
            try:
                s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"}
                )
            except s3.exceptions.BucketAlreadyOwnedByYou:
                pass
            except BotoCoreError:  # not listening yet
                return False
        return True

    def _dags_loaded(self) -> bool:
        """True once every example DAG (and extra DAG file) is loaded or has an import error (in the UI)."""
        dags = self.api("GET", "/api/v2/dags?limit=100")["dags"]
        loaded = {d["dag_id"] for d in dags}
        errors = self.api("GET", "/api/v2/importErrors?limit=100")["import_errors"]
        broken = {Path(e["filename"]).stem for e in errors}
        files = {Path(d.get("fileloc") or "").stem for d in dags} | broken
        return (
            set(example_dag_ids()) <= loaded | broken
            and {p.stem for p in self.extra_dags if not p.name.startswith("_")} <= files
        )


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="AIRFLOW_HOME (default .airflow-ui/)")
    parser.add_argument("--port", type=int, default=8080, help="the UI's port, if free (else a free one)")
    parser.add_argument("--emulator-port", type=int, default=9000, help="the emulator's port, if free")
    parser.add_argument(
        "--database",
        choices=DATABASES,
        default="sqlite",
        help="postgres: a private cluster (Debian's postgresql)",
    )
    parser.add_argument("--triggerers", type=int, default=1, help="how many triggerers (2: HA)")
    args = parser.parse_args(argv)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    stack = UIStack(
        args.home, args.port, args.emulator_port, database=args.database, triggerers=args.triggerers
    )
    print(f"==> starting the TI-A emulator and Airflow in {stack.home} (logs: {stack.logs})", flush=True)
    began = time.monotonic()
    try:
        stack.start()
        print(
            f"""
==> ready in {time.monotonic() - began:.0f} s
    Airflow UI:    {stack.url}
    login:         {stack.user} / {stack.password}
    TI-A emulator: http://{stack.emulator_endpoint}  (connection {CONN_ID})
    DAGs:          {", ".join(example_dag_ids())} (the Trigger button unpauses)
    Ctrl-C stops everything.
""",
            flush=True,
        )
        while (name := stack.dead()) is None:
            time.sleep(1)
        print(f"==> {name} exited; stopping the rest\n{stack.log_tail(name)}", file=sys.stderr)
        return 1
    except StackError as exc:
        print(f"==> {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> stopping (up to 30 s while a task is running)", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        stack.stop()
        print("==> stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
