"""Services that really serve: each replica of a service is a local ``tiinfer`` process, as in TI-ONE's
inference images.

A replica runs ``python -m tiinfer`` (PyPI ``tencent-tiinfer``, which serves through ``mosec``; both in the
``serving`` extra) under the runners' supervisor, in the model version's folder of the model store: tiinfer
imports ``model_service.py`` from there by name, finds its ``tiinfer.Model`` subclass, builds it with
``TI_MODEL_DIR`` (that folder) and calls ``load()``. It listens on 127.0.0.1 and a free port
(``MOSEC_ADDRESS``/``MOSEC_PORT``) and answers ``POST /inference``. The environment is the runners' clean
one plus the service's ``Env``: no secret of the emulator reaches a replica.

A replica is *ready* once its port accepts connections; one whose ``model_service.py`` fails to load
exits (with code 0) without ever listening, which is how a failure is told from a start. The service's
Status follows its replicas of the current configuration (a *generation*; Create, a configuration
Modify and RESUME start a new one): Waiting until they are all ready, then Normal; Abnormal (with the
reason and a Warning event) as soon as one of them fails or dies, and it stays Abnormal until the next
Modify (the emulator does not restart failed replicas). During a roll the previous generation's ready
replicas keep serving and Status stays Normal; they are stopped once the new generation is all ready.
With the simulated runner (``simulated``) no process starts: a replica is ready ``sim_delay`` seconds after it
is scheduled (its model version's tag ``sim.start_seconds`` overrides it), or fails then when the version
carries the tag ``sim.outcome=Abnormal``; the gateway
answers such a service with ``{"simulated": true, ...}`` (many services at once, without a model). The
workload counts follow Kubernetes: ``Replicas`` is every replica present (old, new, failed),
``UpdatedReplicas`` the current generation's, ``ReadyReplicas``/``AvailableReplicas`` the ready ones, so
``UpdatedReplicas == AvailableReplicas == Replicas`` holds only when a roll is over: the moment it first
holds for a configuration is kept as the service's ``ServedNs`` (epoch ns; ``ServedGeneration``), the
exact time a waiter's "served" became true (a benchmark's reference clock).
"""

from __future__ import annotations

import importlib.util
import logging
import secrets
import socket
import string
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.errors import ApiError
from ..core.limits import MAX_LOG_LINE_BYTES
from ..runners.processes import SUPERVISOR, base_env, free_ports, terminate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .repo import ModelRepo
    from .service_store import ServiceStore

log = logging.getLogger(__name__)
START_TIMEOUT = 120.0  # seconds a replica may take to listen before it counts as failed
KILL_GRACE = 3.0
_ALNUM = string.ascii_lowercase + string.digits
SERVING_MODULES = ("tiinfer", "mosec")


@dataclass
class Pod:
    """One replica process of a service."""

    name: str
    generation: int
    port: int
    created_ns: int
    proc: subprocess.Popen | None = None
    state: str = "starting"  # starting, ready, failed
    reason: str = ""
    stopping: bool = False
    threads: list[threading.Thread] = field(default_factory=list)


def missing_modules() -> list[str]:
    """Which of tiinfer and mosec this Python lacks."""
    return [m for m in SERVING_MODULES if importlib.util.find_spec(m) is None]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Serving:
    """The replicas of every service; ``reconcile(service id)`` after any change of a service."""

    def __init__(
        self,
        services: ServiceStore,
        repo: ModelRepo,
        work_root: Path,
        simulated: bool = False,
        sim_delay: float = 1.0,
    ) -> None:
        self.services, self.repo, self.work_root = services, repo, work_root
        self.simulated, self.sim_delay = simulated, sim_delay
        self._lock = threading.RLock()
        self._pods: dict[str, list[Pod]] = {}
        self._closed = False

    # ---- what the gateway and the views read --------------------------------------------------
    def pods(self, sid: str) -> list[Pod]:
        with self._lock:
            return list(self._pods.get(sid, []))

    def ready_ports(self, sid: str) -> list[int]:
        return [p.port for p in self.pods(sid) if p.state == "ready" and not p.stopping]

    # ---- reconciling -------------------------------------------------------------------------
    def reconcile(self, sid: str) -> None:
        """Start or stop replicas so the service matches its stored state, then update its status."""
        try:
            _, service = self.services.service(sid, None)
        except ApiError:  # deleted: stop whatever is left
            self._stop_pods(sid, lambda p: True)
            with self._lock:
                self._pods.pop(sid, None)
            return
        if service["Status"] in ("Stopping", "Stopped"):
            self._stop_pods(sid, lambda p: True)
            self.refresh(sid)
            return
        gen, want = service["Generation"], service["DesiredReplicas"]
        with self._lock:
            if self._closed:
                return
            pods = self._pods.setdefault(sid, [])
            # replicas of an older generation that never got ready go at once (a failed roll is replaced)
            stale = [p for p in pods if p.generation != gen and p.state != "ready"]
            current = [p for p in pods if p.generation == gen]
            extra = current[want:] if len(current) > want else []
            start = 0 if any(p.state == "failed" for p in current) else max(0, want - len(current))
            new = [self._new_pod(sid, gen) for _ in range(start)]
            pods.extend(new)
        self._stop_pods(sid, lambda p: p in stale or p in extra)
        for pod in new:
            self._launch(sid, service, pod)
        self.refresh(sid)

    def _new_pod(self, sid: str, gen: int) -> Pod:
        suffix = "".join(secrets.choice(_ALNUM) for _ in range(5))
        name = f"{sid}-{gen:04x}{secrets.token_hex(3)}-{suffix}"
        port = 0 if self.simulated else free_ports(1)[0]
        return Pod(name=name, generation=gen, port=port, created_ns=time.time_ns())

    def _stop_pods(self, sid: str, which: Callable[[Pod], bool]) -> None:
        with self._lock:
            pods = self._pods.get(sid, [])
            gone = [p for p in pods if which(p)]
            self._pods[sid] = [p for p in pods if p not in gone]
        for pod in gone:
            pod.stopping = True
            if pod.proc is not None:
                terminate(pod.proc)

    def refresh(self, sid: str) -> None:
        """Write the service's Status and workload counts from its replicas; finish a roll that is done."""

        def fn(service: dict) -> bool:
            pods = self.pods(sid)  # read under the store's lock: the last refresh sees the latest states
            gen, want = service["Generation"], service["DesiredReplicas"]
            current = [p for p in pods if p.generation == gen]
            ready = [p for p in pods if p.state == "ready"]
            failed = [p for p in current if p.state == "failed"]
            if service["Status"] in ("Stopping", "Stopped"):
                status, reason = (
                    ("Stopping" if any(p.proc and p.proc.poll() is None for p in pods) else "Stopped"),
                    "",
                )
            elif failed:
                status, reason = "Abnormal", failed[0].reason
            elif ready or want == 0:
                status, reason = "Normal", ""
            else:
                status, reason = "Waiting", ""
            if status == "Normal" and len([p for p in current if p.state == "ready"]) >= want:
                service["RolledOut"] = True
                if len(pods) == len(current) == want and service.get("ServedGeneration") != gen:
                    service.update(ServedGeneration=gen, ServedNs=time.time_ns())
            workload = {
                "Replicas": len(pods), "UpdatedReplicas": len(current), "ReadyReplicas": len(ready),
                "AvailableReplicas": len(ready), "UnavailableReplicas": max(0, want - len(ready)),
                "Status": status, "Reason": reason,
            }  # fmt: skip
            changed = (service["Status"], service.get("Workload"), service.get("Reason")) != (
                status,
                workload,
                reason,
            )
            service.update(Status=status, Workload=workload, Reason=reason)
            if status == "Normal":
                service["EverNormal"] = True
            return changed

        self.services.update_service(sid, fn)
        try:
            _, service = self.services.service(sid, None)
        except ApiError:
            return
        pods = self.pods(sid)
        gen, want = service["Generation"], service["DesiredReplicas"]
        if len([p for p in pods if p.generation == gen and p.state == "ready"]) >= want:
            self._stop_pods(sid, lambda p: p.generation != gen)  # the roll is over
            if any(p.generation != gen for p in pods):
                self.refresh(sid)

    # ---- one replica -------------------------------------------------------------------------
    def _fail(self, sid: str, pod: Pod, reason: str) -> None:
        pod.state, pod.reason = "failed", reason
        self.services.add_event(sid, "Warning", "BackOff", reason, ("Pod", pod.name))
        self.refresh(sid)

    def _launch(self, sid: str, service: dict, pod: Pod) -> None:
        self.services.add_event(
            sid, "Normal", "Scheduled", f"Successfully assigned {pod.name}", ("Pod", pod.name)
        )
        model = service["Config"].get("ModelInfo", {})
        version = self.repo.version(model.get("ModelVersionId", ""), None)
        if self.simulated:
            tags = version[1]["Spec"].get("Tags", []) if version else []
            broken = {"TagKey": "sim.outcome", "TagValue": "Abnormal"} in tags
            delay = next(
                (t["TagValue"] for t in tags if t.get("TagKey") == "sim.start_seconds"), self.sim_delay
            )
            timer = threading.Timer(float(delay), self._simulated_start, (sid, pod, broken))
            timer.daemon = True
            timer.start()
            return
        folder = self.repo.files_dir(version[1]["Id"]) if version else None
        missing = missing_modules()
        if missing:
            self._fail(sid, pod, f"cannot run the model: {' and '.join(missing)} not installed (pip install 'airflow-provider-tia[serving]')")  # fmt: skip
            return
        if folder is None or not (folder / "model_service.py").is_file():
            what = "no model version" if folder is None else "no model_service.py in the model version"
            self._fail(
                sid, pod, f"cannot run the model: {what} (the emulator runs model versions with tiinfer)"
            )
            return
        home = self.work_root / pod.name
        home.mkdir(parents=True, exist_ok=True)
        user = {e["Name"]: e.get("Value", "") for e in service["Config"].get("Env", []) if e.get("Name")}
        env = {**base_env(home), **user, "TI_MODEL_DIR": str(folder), "MOSEC_ADDRESS": "127.0.0.1",
               "MOSEC_PORT": str(pod.port), "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        argv = [sys.executable, "-I", SUPERVISOR, str(KILL_GRACE), "--", sys.executable, "-m", "tiinfer"]
        try:
            pod.proc = subprocess.Popen(argv, cwd=str(folder), env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        except OSError as exc:
            self._fail(sid, pod, f"the replica could not start: {exc}")
            return
        if pod.stopping:  # stopped while starting
            terminate(pod.proc)
        self.services.add_event(sid, "Normal", "Started", "Started container tiinfer", ("Pod", pod.name))
        for target in (self._read, self._watch):
            thread = threading.Thread(
                target=target, args=(sid, pod), name=f"tione-serve-{pod.name}", daemon=True
            )
            pod.threads.append(thread)
            thread.start()

    def _simulated_start(self, sid: str, pod: Pod, broken: bool) -> None:
        if pod.stopping:
            return
        if broken:
            self.services.append_logs(sid, [(pod.name, "[simulated] model_service.py failed to load")])
            self._fail(
                sid, pod, "model_service.py failed to load: the replica exited without serving (simulated)"
            )
            return
        self.services.append_logs(sid, [(pod.name, "[simulated] serving")])
        pod.state = "ready"
        self.refresh(sid)

    def _read(self, sid: str, pod: Pod) -> None:
        assert pod.proc is not None and pod.proc.stdout is not None
        for raw in iter(lambda: pod.proc.stdout.readline(MAX_LOG_LINE_BYTES), b""):  # type: ignore[union-attr]
            self.services.append_logs(sid, [(pod.name, raw.decode("utf-8", "replace").rstrip("\n"))])

    def _watch(self, sid: str, pod: Pod) -> None:
        """Ready once the port listens; failed when the process ends first or takes too long."""
        assert pod.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while pod.proc.poll() is None and not pod.stopping:
            if _listening(pod.port):
                pod.state = "ready"
                self.refresh(sid)
                break
            if time.monotonic() > deadline:
                terminate(pod.proc)
                self._fail(sid, pod, f"the replica did not listen within {START_TIMEOUT:.0f} s")
                return
            time.sleep(0.1)
        else:
            if not pod.stopping:
                self._fail(sid, pod, "model_service.py failed to load: the replica exited without serving "
                                     "(see DescribeLogs)")  # fmt: skip
            return
        code = pod.proc.wait()
        if not pod.stopping:
            self._fail(sid, pod, f"the replica exited with code {code} while serving")
        else:
            self.refresh(sid)

    def shutdown(self) -> None:
        """Stop every replica and wait for them (a few seconds at most)."""
        with self._lock:
            self._closed = True
            sids = list(self._pods)
        pods = [p for sid in sids for p in self.pods(sid)]
        for sid in sids:
            self._stop_pods(sid, lambda p: True)
        deadline = time.monotonic() + KILL_GRACE + 2
        for pod in pods:
            if pod.proc is not None:
                try:
                    pod.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pod.proc.kill()
