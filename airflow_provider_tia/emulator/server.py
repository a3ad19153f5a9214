"""TIAEmulator: the whole local TI-A and TI-ONE service in-process (uvicorn in a background thread)."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from .core.app import create_app
from .core.auth import DEFAULT_APP_ID, DEFAULT_UIN, Account, Verifier
from .core.faults import FaultInjector
from .core.history import RequestHistory
from .core.limits import LOCAL_MAX_REPLICAS, LOCAL_MAX_RUNNING_JOBS
from .core.timefmt import QUERY_ZONES
from .core.transport import ErrorEnvelopeProtocol
from .tia.actions import Service
from .tia.runners import TiaLocalRunner, TiaSimulatedRunner
from .tia.store import JobStore
from .tione.actions import TioneService
from .tione.runners import TioneLocalRunner, TioneSimulatedRunner
from .tione.store import TaskStore

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Iterable

    from .core.app import ActionService
    from .runners.base import Runner

RUNNER_KINDS = ("local", "simulated")


class TIAEmulator:
    """A local TI-A and TI-ONE service on one port, wire-compatible with the official SDKs (``TiaClient``,
    ``TioneClient``): the service a request signs (``tia`` or ``tione``) picks the API.

    With ``cos_endpoint`` (an S3-compatible URL, e.g. a moto server), the local runner fetches
    ``cos://`` PackageDir entries from it (credentials: ``cos_access_key``/``cos_secret_key``, else the
    emulator's own SecretId/SecretKey). ``query_logs_zone`` (``"+08:00"`` or ``"utc"``) is how QueryLogs reads
    StartTime/EndTime. ``max_replicas``/``max_running`` bound the local runner (processes per job, jobs at
    once). The default credential belongs to the account ``app_id``/``uin``; ``add_credential`` adds others.
    TI-ONE tasks run on a runner of the same kind (``tione_runner``: "local" or "simulated"; default: as
    ``runner``, "local" when that is a Runner object); ``tione_submit_delay`` keeps new tasks SUBMITTING.

    Example::

        with TIAEmulator(runner="simulated") as emu:
            profile = ClientProfile(httpProfile=HttpProfile(endpoint=emu.endpoint, scheme="http"))
            client = TiaClient(Credential(emu.secret_id, emu.secret_key), "ap-beijing", profile)
    """

    def __init__(
        self,
        secret_id: str = "AKIDemulator",
        secret_key: str = "emulator-secret",
        token: str | None = None,
        runner: str | Runner = "local",
        faults: str | None = None,
        seed: int | None = 0,
        state_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        sim_duration: float = 1.0,
        cos_endpoint: str | None = None,
        cos_access_key: str | None = None,
        cos_secret_key: str | None = None,
        query_logs_zone: str = "+08:00",
        max_replicas: int | None = None,
        max_running: int | None = None,
        app_id: int = DEFAULT_APP_ID,
        uin: str = DEFAULT_UIN,
        tione_runner: str | None = None,
        tione_submit_delay: float = 0.0,
    ) -> None:
        self.secret_id, self.secret_key, self.token = secret_id, secret_key, token
        self.account = Account(app_id, uin)
        self.verifier = Verifier(("tia", "tione"))
        self.verifier.add(secret_id, secret_key, token, self.account)
        if query_logs_zone not in QUERY_ZONES:
            raise ValueError(
                f"query_logs_zone must be one of {', '.join(QUERY_ZONES)}, not {query_logs_zone!r}"
            )
        self.query_logs_zone = query_logs_zone
        tione_kind = tione_runner or (runner if isinstance(runner, str) else "local")
        if tione_kind not in RUNNER_KINDS:
            raise ValueError(f"tione_runner must be 'local' or 'simulated', not {tione_kind!r}")
        if isinstance(runner, str) and runner not in RUNNER_KINDS:
            raise ValueError(f"runner must be 'local', 'simulated' or a Runner, not {runner!r}")
        replicas, running = max_replicas or LOCAL_MAX_REPLICAS, max_running or LOCAL_MAX_RUNNING_JOBS
        self.tione_runner: TioneLocalRunner | TioneSimulatedRunner = (
            TioneLocalRunner(max_replicas=replicas, max_running=running)
            if tione_kind == "local"
            else TioneSimulatedRunner(duration=sim_duration)
        )
        self.tione_submit_delay = tione_submit_delay
        if isinstance(runner, str):
            runner = (
                TiaLocalRunner(max_replicas=replicas, max_running=running)
                if runner == "local"
                else TiaSimulatedRunner(duration=sim_duration)
            )
        if cos_endpoint:  # cos:// PackageDir entries are fetched from this S3-compatible endpoint
            if not isinstance(runner, TiaLocalRunner):
                raise ValueError("cos_endpoint needs the local runner")
            from .runners.cos import COSResolver

            cos = COSResolver(cos_endpoint, cos_access_key or secret_id, cos_secret_key or secret_key)
            runner.package_resolvers.setdefault("cos", cos)
            if isinstance(self.tione_runner, TioneLocalRunner):
                self.tione_runner.cos = cos
        self.cos_endpoint = cos_endpoint
        self.runner = runner
        self.faults = FaultInjector(faults, seed)
        self.state_dir = Path(state_dir) if state_dir else None
        self._host, self._port = host, port
        self.calls: Counter[str] = Counter()
        # The latest requests (action, params), for tests; bounded so a long-running emulator stays small.
        # Looked up in this module when the emulator is built, so a wrapper may replace it here.
        self.requests: deque[tuple[str, dict]] = RequestHistory()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: str | None = None
        self.store: JobStore | None = None
        self.service: Service | None = None
        self.tione: TioneService | None = None
        self.services: dict[str, ActionService] = {}

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> TIAEmulator:
        """Load state, bind the port, serve in a background thread; returns once connections are accepted."""
        if self._server is not None:
            return self
        if self.state_dir is not None:
            output_root = self.state_dir / "outputs"
        else:
            self._tmp = tempfile.mkdtemp(prefix="tia-emulator-")
            output_root = Path(self._tmp) / "outputs"
        output_root.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(self.state_dir, app_id=self.account.app_id, uin=self.account.uin)
        self.runner.bind(self.store, output_root)
        for job in self.store.unfinished():
            self.runner.recover(job)
        self.service = Service(self.store, self.runner, self.query_logs_zone)
        self.tione = TioneService(
            TaskStore(self.state_dir), self.tione_runner, output_root, self.tione_submit_delay
        )
        self.tione.recover()
        self.services = {"tia": self.service, "tione": self.tione}
        sock = socket.socket(socket.AF_INET6 if ":" in self._host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self),
            log_level="warning",
            access_log=False,
            lifespan="off",
            http=ErrorEnvelopeProtocol,
            timeout_keep_alive=75,
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="tia-emulator-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the TI-A emulator's HTTP server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Kill every replica, stop the HTTP server, remove the temporary output dir (if any)."""
        if self._server is None:
            return
        self._server.should_exit = True  # stop taking requests while the jobs are stopped
        self.runner.shutdown()
        self.tione_runner.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> TIAEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses ---------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        """``host:port``, what ``HttpProfile(endpoint=...)`` takes."""
        return f"[{self._host}]:{self._port}" if ":" in self._host else f"{self._host}:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}/"

    # ---- control -----------------------------------------------------------------------------
    def add_credential(
        self,
        secret_id: str,
        secret_key: str,
        token: str | None = None,
        *,
        uin: str | None = None,
        app_id: int | None = None,
    ) -> Account:
        """Accept another key pair (with ``token``: a temporary credential that must send it).

        It belongs to the emulator's own account unless ``uin`` names another one (``app_id`` defaults to a
        new AppId per Uin); jobs of one account are invisible to the others. Returns the account.
        """
        if uin is None or uin == self.account.uin:
            account = self.account
        else:
            known = {c.account.uin: c.account for c in self.verifier.credentials()}
            account = known.get(uin) or Account(app_id or DEFAULT_APP_ID + len(known) + 1, uin)
            if app_id is not None and account.app_id != app_id:
                account = Account(app_id, uin)
        self.verifier.add(secret_id, secret_key, token, account)
        return account

    def set_faults(self, spec: str | None, seed: int | None = 0) -> None:
        """Replace the fault spec (``core.faults`` holds the grammar) and reseed."""
        self.faults.configure(spec, seed)

    @property
    def fault_counts(self) -> Counter[tuple[str, str]]:
        """Injected faults per (action, kind label), e.g. ``{("CreateJob", "drop_after"): 2}``."""
        return self.faults.counts

    def reset_counters(self) -> None:
        """Clear ``calls``, ``requests`` and ``fault_counts``."""
        self.calls.clear()
        self.requests.clear()
        self.faults.reset_counts()

    def wait_for_state(
        self,
        name: str,
        cluster: str,
        states: str | Iterable[str] = ("Succeeded", "Failed"),
        timeout: float = 30.0,
        uin: str | None = None,
    ) -> dict:
        """Block until the job (of account ``uin``, default the emulator's) is in one of ``states``; returns the
        job, TimeoutError otherwise."""
        wanted = {states} if isinstance(states, str) else set(states)
        store = self.store
        assert store is not None, "start() the emulator first"
        if not store.wait_for(lambda: store.state(cluster, name, uin) in wanted, timeout):
            raise TimeoutError(
                f"job {name!r} in {cluster!r} is {store.state(cluster, name, uin)!r}, not in {wanted}"
            )
        job = store.get(cluster, name, uin)
        assert job is not None
        return job

    def wait_for_task(
        self,
        task_id: str,
        statuses: str | Iterable[str] = ("SUCCEED", "FAILED", "STOPPED"),
        timeout: float = 30.0,
    ) -> dict:
        """Block until the TI-ONE task is in one of ``statuses``; returns its TrainingTaskDetail, TimeoutError
        otherwise."""
        from .tione.views import detail

        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        assert self.tione is not None, "start() the emulator first"
        store = self.tione.store
        if not store.wait_for(lambda: store.status(task_id) in wanted, timeout):
            raise TimeoutError(f"task {task_id!r} is {store.status(task_id)!r}, not in {wanted}")
        return detail(store.require(task_id, None))

    def arrears_stop(self, task_id: str) -> None:
        """Stop a running TI-ONE task as the platform does when the account is in arrears: it ends STOPPED
        with ``ChargeStatus`` ARREARS_STOP."""
        from .tione.actions import ARREARS

        assert self.tione is not None, "start() the emulator first"
        self.tione.end_run(task_id, None, ARREARS, "ARREARS_STOP")

    def connection_uri_json(self, conn_id_region: str = "ap-beijing") -> str:
        """JSON for ``AIRFLOW_CONN_<ID>`` pointing the provider at this emulator."""
        extra: dict[str, Any] = {"region": conn_id_region, "endpoint": self.url}
        if self.token:
            extra["token"] = self.token
        return json.dumps(
            {
                "conn_type": "tencentcloud",
                "login": self.secret_id,
                "password": self.secret_key,
                "extra": extra,
            }
        )
