"""Runners execute jobs for the store: LocalRunner (real processes) and SimulatedRunner (timers only).

Interface: ``bind(store, output_root)``, ``validate(job_spec) -> error or None``, ``start(job)``,
``stop(job_id)``, ``recover(job)`` (after a restart) and ``shutdown()``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from .store import JobStore

REPLICA_LABELS = {"master": "MASTER", "ps": "PS", "worker": "WORKER"}


def is_custom(job: dict) -> bool:
    """True when ScaleTier enables the Custom fields."""
    return str(job.get("ScaleTier") or "").upper() == "CUSTOM"


def replicas(job: dict) -> list[tuple[str, int]]:
    """(type, index) of every replica: one master, then parameter servers and workers when Custom."""
    result = [("master", 0)]
    if is_custom(job):
        result += [("ps", i) for i in range(job.get("ParameterServerCount") or 0)]
        result += [("worker", i) for i in range(job.get("WorkerCount") or 0)]
    return result


def pod_name(job: dict, rtype: str, index: int) -> str:
    """Pod name of a replica, e.g. ``test-job-worker-1``."""
    return f"{job['Name']}-{rtype}-{index}"


def replica_message(states: dict[tuple[str, int], str]) -> str:
    """TI-A style status, e.g. ``[MASTER/Running : Running/1] ;[WORKER/Running : Running/2]``."""
    parts = []
    for rtype, label in REPLICA_LABELS.items():
        sts = [s for (t, _), s in states.items() if t == rtype]
        if not sts:
            continue
        overall = "Failed" if "Failed" in sts else "Running" if "Running" in sts else sts[0]
        counts = ", ".join(f"{s}/{n}" for s, n in Counter(sts).items())
        parts.append(f"[{label}/{overall} : {counts}]")
    return " ;".join(parts)


class Runner:
    """Base class: a runner moves jobs of a bound store through their states."""

    name = "base"
    store: JobStore
    output_root: Path

    def bind(self, store: JobStore, output_root: Path) -> None:
        """Attach to the store whose jobs this runner runs."""
        self.store = store
        self.output_root = Path(output_root)

    def validate(self, spec: dict) -> str | None:
        """Return an error message if this runner cannot accept the CreateJob parameters."""
        return None

    def start(self, job: dict) -> None:
        """Begin running a freshly created job (must not block)."""
        raise NotImplementedError

    def stop(self, job_id: str) -> None:
        """Stop a job (deleted); must not block for long."""

    def recover(self, job: dict) -> None:
        """Handle an unfinished job found in the state dir after a restart."""
        self.store.finish(job["Id"], "Failed", "the emulator restarted and this runner cannot resume the job")

    def shutdown(self) -> None:
        """Stop everything this runner started."""


# ---------------------------------------------------------------------------------------------
SIM_KEYS = ("sim.duration", "sim.outcome", "sim.log_lines", "sim.start_delay")


def parse_sim_conf(runtime_conf: list[str] | None, defaults: dict) -> dict:
    """Read ``sim.*=value`` entries of RuntimeConf over ``defaults``; ValueError names a bad entry."""
    conf = dict(defaults)
    for entry in runtime_conf or []:
        key, sep, value = entry.partition("=")
        key = key.strip()
        if not key.startswith("sim."):
            continue
        if not sep or key not in SIM_KEYS:
            raise ValueError(f"RuntimeConf entry {entry!r}: expected one of {', '.join(SIM_KEYS)} as key=value")
        value = value.strip()
        try:
            if key == "sim.outcome":
                if value not in ("Succeeded", "Failed"):
                    raise ValueError
                conf["outcome"] = value
            elif key == "sim.log_lines":
                conf["log_lines"] = int(value)
                if conf["log_lines"] < 0:
                    raise ValueError
            else:
                number = float(value)
                if not number >= 0:
                    raise ValueError
                conf[key[4:]] = number
        except ValueError:
            raise ValueError(f"RuntimeConf entry {entry!r}: bad value {value!r}") from None
    return conf


class SimulatedRunner(Runner):
    """No processes: jobs wait ``start_delay`` in Created, run ``duration`` seconds, then end in ``outcome``.

    One timer thread and a heap serve every job, so thousands of concurrent jobs are cheap. Per job,
    RuntimeConf entries ``sim.duration``, ``sim.outcome``, ``sim.log_lines``, ``sim.start_delay`` override
    the defaults. Log lines are emitted in up to 20 batches spread over the run, master and workers
    taking turns. After a restart, a job resumes its timer (remaining time from its StartTime).
    """

    name = "simulated"
    BATCHES = 20

    def __init__(self, duration: float = 1.0, outcome: str = "Succeeded", log_lines: int = 2,
                 start_delay: float = 0.0) -> None:
        self.defaults = {"duration": duration, "outcome": outcome, "log_lines": log_lines,
                         "start_delay": start_delay}
        self._heap: list[tuple[float, int, str, str, tuple]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._cancelled: set[str] = set()
        self._confs: dict[str, dict] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def validate(self, spec: dict) -> str | None:
        try:
            parse_sim_conf(spec.get("RuntimeConf"), self.defaults)
        except ValueError as exc:
            return str(exc)
        return None

    def _push(self, due: float, job_id: str, kind: str, payload: tuple = ()) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), job_id, kind, payload))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="tia-sim-runner", daemon=True)
                self._thread.start()
            self._cond.notify()

    def start(self, job: dict) -> None:
        conf = parse_sim_conf(job.get("RuntimeConf"), self.defaults)
        conf["job"] = job
        self._confs[job["Id"]] = conf
        self._push(time.time() + conf["start_delay"], job["Id"], "run")

    def recover(self, job: dict) -> None:
        conf = parse_sim_conf(job.get("RuntimeConf"), self.defaults)
        conf["job"] = job
        self._confs[job["Id"]] = conf
        meta = self.store.meta(job["Id"]) or {}
        if job["State"] == "Running" and meta.get("start_ns"):
            self._push(meta["start_ns"] / 1e9 + conf["duration"], job["Id"], "finish")
        else:
            self._push(meta.get("create_ns", time.time_ns()) / 1e9 + conf["start_delay"], job["Id"], "run")

    def stop(self, job_id: str) -> None:
        with self._cond:
            self._cancelled.add(job_id)
            self._confs.pop(job_id, None)

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.time()):
                    self._cond.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.time()))
                if self._closed:
                    return
                _, _, job_id, kind, payload = heapq.heappop(self._heap)
                if job_id in self._cancelled:
                    continue
                conf = self._confs.get(job_id)
            if conf is not None:
                self._handle(job_id, kind, payload, conf)

    def _states(self, job: dict, state: str) -> dict[tuple[str, int], str]:
        return dict.fromkeys(replicas(job), state)

    def _handle(self, job_id: str, kind: str, payload: tuple, conf: dict) -> None:
        job = conf["job"]
        if kind == "run":
            self.store.mark_running(job_id, replica_message(self._states(job, "Running")))
            start, n = time.time(), conf["log_lines"]
            batches = min(n, self.BATCHES)
            for b in range(batches):
                lo, hi = n * b // batches, n * (b + 1) // batches
                due = start + conf["duration"] * (b / (batches - 1) if batches > 1 else 1.0)
                self._push(due, job_id, "logs", (lo, hi))
            self._push(start + conf["duration"], job_id, "finish")
        elif kind == "logs":
            lo, hi = payload
            n = conf["log_lines"]
            pods = [pod_name(job, t, i) for t, i in replicas(job) if t != "ps"]
            lines = ((pods[i % len(pods)], f"step {i + 1}/{n} loss={1.0 / (i + 1):.6f}") for i in range(lo, hi))
            self.store.append_logs(job_id, lines)
        elif kind == "finish":
            self._confs.pop(job_id, None)
            if conf["outcome"] == "Succeeded":
                self.store.finish(job_id, "Succeeded", replica_message(self._states(job, "Succeeded")))
            else:
                states = self._states(job, "Succeeded")
                states[("master", 0)] = "Failed"
                self.store.finish(job_id, "Failed",
                                  f"replica master-0 exited with code 1 (simulated) {replica_message(states)}")


# ---------------------------------------------------------------------------------------------
class JobSetupError(Exception):
    """A job cannot start (bad PackageDir, empty Command...); the message becomes the job's Message."""


PackageResolver = Callable[[str, Path], str]


def _strip_mount(path: str) -> str:
    """``/data/pkg:/opt/ml/code`` -> ``/data/pkg`` (the optional mount path is ignored)."""
    return path.split(":", 1)[0]


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free TCP ports on ``host``."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class _Replica:
    def __init__(self, rtype: str, index: int, pod: str, proc: subprocess.Popen) -> None:
        self.rtype, self.index, self.pod, self.proc = rtype, index, pod, proc
        self.reader: threading.Thread | None = None

    @property
    def label(self) -> str:
        return f"{self.rtype}-{self.index}"


class _LocalJob:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.replicas: list[_Replica] = []
        self.thread: threading.Thread | None = None


class LocalRunner(Runner):
    """Runs every replica as a local process (no shell) with TF_CONFIG and TIA_* variables.

    ``package_resolvers`` maps a URL scheme (e.g. ``"cos"``) to ``callable(entry, dest_dir) -> local path``
    so remote PackageDir entries can be fetched; without one, such entries fail the job.
    ``python``/``python3`` as the first Command item runs with the emulator's ``sys.executable``.
    """

    name = "local"

    def __init__(self, package_resolvers: dict[str, PackageResolver] | None = None, kill_grace: float = 2.0,
                 poll_interval: float = 0.05) -> None:
        self.package_resolvers = dict(package_resolvers or {})
        self.kill_grace = kill_grace
        self.poll_interval = poll_interval
        self._jobs: dict[str, _LocalJob] = {}
        self._lock = threading.Lock()

    max_replicas = 64

    def validate(self, spec: dict) -> str | None:
        count = len(replicas(spec))
        if count > self.max_replicas:
            return f"the local runner starts at most {self.max_replicas} replicas, this job needs {count}"
        return None

    # ---- setup -------------------------------------------------------------------------------
    def resolve_entry(self, entry: str, dest: Path) -> str:
        """Local directory for one PackageDir entry; JobSetupError if unsupported or missing."""
        if "://" in entry:
            scheme, rest = entry.split("://", 1)
            scheme = scheme.lower()
            if scheme == "file":
                if not rest.startswith("/"):  # file://host/path
                    rest = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
                path = unquote(_strip_mount(rest))
            elif scheme in self.package_resolvers:
                dest.mkdir(parents=True, exist_ok=True)
                try:
                    path = str(self.package_resolvers[scheme](entry, dest))
                except Exception as exc:
                    raise JobSetupError(f"PackageDir entry {entry!r} could not be fetched: {exc}") from exc
            else:
                supported = ", ".join(["file://", "absolute paths", *(f"{s}://" for s in self.package_resolvers)])
                raise JobSetupError(
                    f"PackageDir entry {entry!r}: scheme {scheme}:// is not supported by the local runner "
                    f"(supported: {supported})"
                )
        elif entry.startswith("/"):
            path = _strip_mount(entry)
        else:
            raise JobSetupError(f"PackageDir entry {entry!r} is neither an absolute local path nor a URL")
        if not os.path.isdir(path):
            raise JobSetupError(f"PackageDir entry {entry!r}: local directory {path!r} does not exist")
        return path

    def output_dir(self, job: dict) -> Path:
        """Per-job directory given to replicas as TIA_OUTPUT_DIR."""
        path = self.output_root / f"{quote(job['Cluster'], safe='')}@{quote(job['Name'], safe='')}-{job['Id']}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _argv(self, job: dict) -> list[str]:
        command = list(job.get("Command") or [])
        if not command:
            raise JobSetupError("Command is empty: the local runner needs a command to run")
        if command[0] in ("python", "python3"):
            command[0] = sys.executable
        return command + list(job.get("Args") or [])

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, job: dict) -> None:
        lj = _LocalJob(job["Id"])
        with self._lock:
            self._jobs[job["Id"]] = lj
        lj.thread = threading.Thread(target=self._run, args=(job, lj), name=f"tia-job-{job['Name']}", daemon=True)
        lj.thread.start()

    def recover(self, job: dict) -> None:
        self.store.finish(
            job["Id"], "Failed",
            f"the emulator restarted while the job was {job['State']}; its local processes are gone",
        )

    def stop(self, job_id: str) -> None:
        with self._lock:
            lj = self._jobs.get(job_id)
        if lj is not None:
            with lj.lock:
                lj.stopped.set()
                for r in lj.replicas:
                    _signal_group(r.proc, signal.SIGTERM)

    def shutdown(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for lj in jobs:
            self.stop(lj.job_id)
        for lj in jobs:
            if lj.thread is not None:
                lj.thread.join(timeout=self.kill_grace + 5)

    def pids(self, job_id: str) -> list[int]:
        """Process ids of a job's replicas (for tests)."""
        with self._lock:
            lj = self._jobs.get(job_id)
        return [r.proc.pid for r in lj.replicas] if lj else []

    def _run(self, job: dict, lj: _LocalJob) -> None:
        try:
            self._execute(job, lj)
        except JobSetupError as exc:
            self._kill(lj)
            self.store.finish(job["Id"], "Failed", str(exc))
        except Exception as exc:  # never leave a job hanging in Running
            self._kill(lj)
            self.store.finish(job["Id"], "Failed", f"emulator error: {exc!r}")
        finally:
            with self._lock:
                self._jobs.pop(job["Id"], None)

    def _execute(self, job: dict, lj: _LocalJob) -> None:
        out = self.output_dir(job)
        cwd = str(out)
        for i, entry in enumerate(job.get("PackageDir") or []):
            path = self.resolve_entry(entry, out / "package" / str(i))
            cwd = path if i == 0 else cwd
        argv = self._argv(job)
        reps = replicas(job)
        ports = iter(free_ports(len(reps)))
        cluster: dict[str, list[str]] = {}
        for rtype, _ in reps:
            cluster.setdefault(rtype, []).append(f"127.0.0.1:{next(ports)}")
        for rtype, index in reps:
            env = dict(os.environ)
            env.update(
                PYTHONUNBUFFERED="1", TIA_JOB_NAME=job["Name"], TIA_JOB_ID=job["Id"], TIA_CLUSTER=job["Cluster"],
                TIA_REPLICA_TYPE=rtype, TIA_REPLICA_INDEX=str(index), TIA_OUTPUT_DIR=str(out),
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": rtype, "index": index}}),
            )
            with lj.lock:
                if lj.stopped.is_set():
                    return
                try:
                    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, start_new_session=True)
                except OSError as exc:
                    raise JobSetupError(f"replica {rtype}-{index} could not start {argv[0]!r}: {exc}") from exc
                rep = _Replica(rtype, index, pod_name(job, rtype, index), proc)
                lj.replicas.append(rep)
            rep.reader = threading.Thread(target=self._read, args=(lj.job_id, rep), daemon=True)
            rep.reader.start()
        states = {(r.rtype, r.index): "Running" for r in lj.replicas}
        self.store.mark_running(job["Id"], replica_message(states))
        self._monitor(job, lj, states)

    def _monitor(self, job: dict, lj: _LocalJob, states: dict[tuple[str, int], str]) -> None:
        outcome: tuple[str, str] | None = None
        while outcome is None:
            if lj.stopped.wait(self.poll_interval):
                self._kill(lj)
                return
            changed = False
            for r in lj.replicas:
                code = r.proc.poll()
                if code is None or states[(r.rtype, r.index)] != "Running":
                    continue
                states[(r.rtype, r.index)] = "Succeeded" if code == 0 else "Failed"
                changed = True
                if code != 0:
                    outcome = ("Failed", f"replica {r.label} {_describe_exit(code)}")
                    break
                if r.rtype == "master":
                    outcome = ("Succeeded", f"replica {r.label} {_describe_exit(code)}")
            if changed and outcome is None:
                self.store.set_message(lj.job_id, replica_message(states))
        self._kill(lj)
        for key, state in states.items():
            if state == "Running":
                states[key] = "Stopped"  # still running when the job ended; stopped by the emulator
        for r in lj.replicas:
            if r.reader is not None:
                r.reader.join(timeout=2)
        self.store.finish(lj.job_id, outcome[0], f"{outcome[1]} {replica_message(states)}")

    def _read(self, job_id: str, rep: _Replica) -> None:
        assert rep.proc.stdout is not None
        with rep.proc.stdout:
            for raw in iter(rep.proc.stdout.readline, b""):
                self.store.append_logs(job_id, [(rep.pod, raw.decode("utf-8", "replace").rstrip("\r\n"))])

    def _kill(self, lj: _LocalJob) -> None:
        """SIGTERM every replica's process group, then SIGKILL what is left after ``kill_grace``."""
        with lj.lock:
            lj.stopped.set()
            reps = list(lj.replicas)
        for r in reps:
            _signal_group(r.proc, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace
        for r in reps:
            while time.monotonic() < deadline and _group_alive(r.proc):
                time.sleep(0.01)
            _signal_group(r.proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.proc.wait(timeout=2)


def _describe_exit(code: int) -> str:
    return f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _group_alive(proc: subprocess.Popen) -> bool:
    """True while the replica's process group has a live (non-zombie) member."""
    proc.poll()  # reap the leader so it does not count as alive
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not os.path.isdir("/proc"):
        return True
    for entry in os.listdir("/proc"):  # zombies (e.g. orphans nobody reaps in a container) do not count
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == proc.pid and fields[0] != b"Z":
            return True
    return False
