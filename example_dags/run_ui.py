"""`make ui`: the TI-A and TI-ONE emulator, a local COS (moto) and Airflow 3 with the example DAGs.

Starts, all on 127.0.0.1 and under a private AIRFLOW_HOME (default ``.airflow-ui/``, SQLite, LocalExecutor):
the emulator (local runner: jobs really run), then Airflow's api-server, scheduler, dag-processor and
triggerer; creates the ``tencentcloud_default`` connection pointing at the emulator, waits until every
component is healthy and the example DAGs are loaded, prints the URL and the login, and on Ctrl-C stops
every process it started, with their children.

Why not ``airflow standalone``: it cannot pass ``--skip-serve-logs`` (the scheduler's and triggerer's log
servers would bind 0.0.0.0), it stops only its direct children, and its readiness is a timer.

``UIStack`` is also what the browser test (tests/ui/) starts.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "example_dags"
DEFAULT_HOME = ROOT / ".airflow-ui"
HOST = "127.0.0.1"
USER = "admin"
CONN_ID = "tencentcloud_default"
EMULATOR = "airflow_provider_tia.emulator"
TIONE_BUCKET = "tione-demo-1250000000"  # example_tione_training's default bucket
# The emulator's key pair: a local demo credential, given to the emulator and stored in the connection.
EMULATOR_SECRET_ID, EMULATOR_SECRET_KEY = "AKIDemulator", "emulator-secret"


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


class StackError(RuntimeError):
    """A component did not start; the message names it and ends with its last log lines."""


class UIStack:
    """The emulator and the four Airflow components as process groups of their own.

    Example::

        with UIStack(home=tmp_path / "home") as stack:
            print(stack.url, stack.user, stack.password)
    """

    user = USER

    def __init__(self, home: Path = DEFAULT_HOME, port: int = 8080, emulator_port: int = 9000) -> None:
        self.home = Path(home).resolve()
        self.logs = self.home / "process-logs"
        self._want_port, self._want_emulator_port = port, emulator_port
        self.port = self.emulator_port = self.cos_port = 0
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None

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

    def env(self) -> dict[str, str]:
        """The environment of every Airflow process: ours wins over anything inherited."""
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
        }

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 300) -> UIStack:
        """Start everything; returns once the UI can be used. StackError (after stopping) otherwise."""
        deadline = time.monotonic() + timeout
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port, self.emulator_port, self.cos_port = pick_ports(
            self._want_port, self._want_emulator_port, 0
        )
        _ = self.password  # made now: the api-server reads the file when it starts
        try:
            airflow, emulator = [sys.executable, "-m", "airflow"], [sys.executable, "-m", EMULATOR]
            port, state = str(self.emulator_port), str(self.home / "emulator")
            keys = ["--secret-id", EMULATOR_SECRET_ID, "--secret-key", EMULATOR_SECRET_KEY]
            self._run_once("db-migrate", [*airflow, "db", "migrate"], deadline)
            # moto's S3 server stands in for COS: TI-ONE code packages, data and outputs live there.
            self._spawn("cos", [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.cos_port)])
            self._spawn(
                "emulator",
                [*emulator, "--host", HOST, "--port", port, "--runner", "local", "--state-dir", state, *keys]
                + ["--cos-endpoint", self.cos_endpoint],
            )
            self._spawn(
                "api-server",
                [*airflow, "api-server", "--host", HOST, "--port", str(self.port), "--workers", "1"],
            )
            self._spawn("scheduler", [*airflow, "scheduler", "--skip-serve-logs"])
            self._spawn("dag-processor", [*airflow, "dag-processor"])
            self._spawn("triggerer", [*airflow, "triggerer", "--skip-serve-logs"])
            self._wait("the components to report healthy", self._healthy, deadline)
            self._put_connection()
            self._wait("the COS bucket of the TI-ONE example", self._bucket_ready, deadline)
            self._wait("the example DAGs to load", self._dags_loaded, deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM every process group (the emulator stops its replicas), SIGKILL what is left."""
        for proc in self.procs.values():
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
    def _spawn(self, name: str, argv: list[str]) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=self.home,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def _run_once(self, name: str, argv: list[str], deadline: float) -> None:
        self._spawn(name, argv)
        proc = self.procs[name]
        try:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise StackError(f"{name} did not finish in time\n{self.log_tail(name)}") from None
        if code != 0:
            raise StackError(f"{name} failed with exit code {code}\n{self.log_tail(name)}")
        del self.procs[name]

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
        """Create the TI-ONE example's bucket (``example_tione_training``'s default) once COS answers."""
        import boto3
        from botocore.exceptions import BotoCoreError

        s3 = boto3.client(
            "s3",
            endpoint_url=self.cos_endpoint,
            region_name="ap-beijing",
            aws_access_key_id=EMULATOR_SECRET_ID,
            aws_secret_access_key=EMULATOR_SECRET_KEY,
        )
        try:
            s3.create_bucket(
                Bucket=TIONE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"}
            )
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        except BotoCoreError:  # not listening yet
            return False
        return True

    def _dags_loaded(self) -> bool:
        """True once every example DAG is loaded or has an import error (shown in the UI)."""
        loaded = {d["dag_id"] for d in self.api("GET", "/api/v2/dags?limit=100")["dags"]}
        errors = self.api("GET", "/api/v2/importErrors?limit=100")["import_errors"]
        broken = {Path(e["filename"]).stem for e in errors}
        return set(example_dag_ids()) <= loaded | broken


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="AIRFLOW_HOME (default .airflow-ui/)")
    parser.add_argument("--port", type=int, default=8080, help="the UI's port, if free (else a free one)")
    parser.add_argument("--emulator-port", type=int, default=9000, help="the emulator's port, if free")
    args = parser.parse_args(argv)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    stack = UIStack(args.home, args.port, args.emulator_port)
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
