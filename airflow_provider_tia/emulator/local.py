"""LocalRunner: each replica of a job is a real local process with TF_CONFIG; its output is the job's log.

Every replica runs under ``supervise.py`` (a child subreaper on Linux), so DeleteJob, the end of the job and
the emulator's shutdown stop every process the replica started, detached ones included. Replicas get a clean
environment (``replica_env``), never the emulator's own variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import quote, unquote

from .limits import LOCAL_MAX_REPLICAS, LOCAL_MAX_RUNNING_JOBS, MAX_LOG_LINE_BYTES
from .runner import SHOWN_REPLICAS, Runner, pod_name, replica_counts, replica_message, replicas, summarize

SUPERVISOR = str(Path(__file__).with_name("supervise.py"))
# PATH of a replica: the emulator's Python first (so ``python`` is the interpreter running the emulator), then
# the usual system directories.
REPLICA_PATH = os.pathsep.join(
    [
        os.path.dirname(sys.executable),
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
)


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


def tf_cluster(reps: list[tuple[str, int]]) -> dict[str, list[str]]:
    """TF_CONFIG's ``cluster``: a free 127.0.0.1 port for every (type, index) replica, grouped by type."""
    ports = iter(free_ports(len(reps)))
    cluster: dict[str, list[str]] = {}
    for rtype, _ in reps:
        cluster.setdefault(rtype, []).append(f"127.0.0.1:{next(ports)}")
    return cluster


def base_env(home: Path) -> dict[str, str]:
    """What every replica of every service gets: PATH (REPLICA_PATH), HOME, LANG=C.UTF-8, PYTHONUNBUFFERED=1."""
    return {"PATH": REPLICA_PATH, "HOME": str(home), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}


def replica_env(job: dict, rtype: str, index: int, output_dir: Path, tf_config: dict) -> dict[str, str]:
    """The whole environment of a replica: what a TI-A container gives, nothing of the emulator's own.

    PATH (REPLICA_PATH), HOME (the job's output dir), LANG=C.UTF-8, PYTHONUNBUFFERED=1, TF_CONFIG,
    TIA_JOB_NAME, TIA_JOB_ID, TIA_CLUSTER, TIA_REPLICA_TYPE, TIA_REPLICA_INDEX, TIA_OUTPUT_DIR.
    """
    return {
        **base_env(output_dir),
        "TF_CONFIG": json.dumps({**tf_config, "task": {"type": rtype, "index": index}}),
        "TIA_JOB_NAME": job["Name"], "TIA_JOB_ID": job["Id"], "TIA_CLUSTER": job["Cluster"],
        "TIA_REPLICA_TYPE": rtype, "TIA_REPLICA_INDEX": str(index), "TIA_OUTPUT_DIR": str(output_dir),
    }  # fmt: skip


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
        self.states: dict[tuple[str, int], str] = {}
        self.thread: threading.Thread | None = None


class LocalRunner(Runner):
    """Runs every replica as a local process (no shell) with TF_CONFIG and TIA_* variables.

    At most ``max_replicas`` processes per job (CreateJob beyond that is refused) and ``max_running`` jobs
    at once: later jobs wait in Created until one ends. ``kill_grace`` is how long a stopped process has
    between SIGTERM and SIGKILL.

    ``package_resolvers`` maps a URL scheme (e.g. ``"cos"``) to ``callable(entry, dest_dir) -> local path``
    so remote PackageDir entries can be fetched; without one, such entries fail the job.
    ``python``/``python3`` as the first Command item runs with the emulator's ``sys.executable``.
    """

    name = "local"

    def __init__(
        self,
        package_resolvers: dict[str, PackageResolver] | None = None,
        kill_grace: float = 2.0,
        poll_interval: float = 0.05,
        max_replicas: int = LOCAL_MAX_REPLICAS,
        max_running: int = LOCAL_MAX_RUNNING_JOBS,
    ) -> None:
        if max_replicas < 1 or max_running < 1:
            raise ValueError("max_replicas and max_running must be at least 1")
        self.package_resolvers = dict(package_resolvers or {})
        self.kill_grace = kill_grace
        self.poll_interval = poll_interval
        self.max_replicas = max_replicas
        self.max_running = max_running
        self._jobs: dict[str, _LocalJob] = {}
        self._queue: deque[dict] = deque()
        self._ended: OrderedDict[str, dict[tuple[str, int], str]] = OrderedDict()  # last replica states
        self._closed = False
        self._lock = threading.Lock()

    def validate(self, spec: dict) -> str | None:
        count = sum(replica_counts(spec).values())
        if count > self.max_replicas:
            return (
                f"`WorkerCount` + `ParameterServerCount` + 1 master = {count} replicas; the local runner "
                f"starts at most {self.max_replicas} per job"
            )
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
                supported = ", ".join(
                    ["file://", "absolute paths", *(f"{s}://" for s in self.package_resolvers)]
                )
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
        path = (
            self.output_root / f"{quote(job['Cluster'], safe='')}@{quote(job['Name'], safe='')}-{job['Id']}"
        )
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _argv(self, job: dict, cwd: str) -> list[str]:
        """Command + Args with the program resolved to an absolute path (on REPLICA_PATH, or from ``cwd``)."""
        command = list(job.get("Command") or [])
        if not command:
            raise JobSetupError("Command is empty: the local runner needs a command to run")
        program = command[0]
        if program in ("python", "python3"):
            found: str | None = sys.executable
        elif os.sep in program:
            found = os.path.join(cwd, program)
            found = found if os.path.isfile(found) and os.access(found, os.X_OK) else None
        else:
            found = shutil.which(program, path=REPLICA_PATH)
        if found is None:
            raise JobSetupError(
                f"Command {program!r} could not start: not an executable file "
                f"(looked in {cwd if os.sep in program else REPLICA_PATH})"
            )
        return [found, *command[1:], *(job.get("Args") or [])]

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, job: dict) -> None:
        with self._lock:
            if self._closed:
                return
            if len(self._jobs) >= self.max_running:
                self._queue.append(job)
                queued = len(self._queue)
            else:
                self._launch(job)
                return
        self.store.set_message(
            job["Id"],
            f"queued ({queued} waiting): the local runner runs at most {self.max_running} jobs at once",
        )

    def _launch(self, job: dict) -> None:
        """Start a job's thread; the caller holds ``self._lock``."""
        lj = _LocalJob(job["Id"])
        self._jobs[job["Id"]] = lj
        lj.thread = threading.Thread(
            target=self._run, args=(job, lj), name=f"tia-job-{job['Name']}", daemon=True
        )
        lj.thread.start()

    def _next(self) -> None:
        """Start queued jobs (still present and Created) while there is room; the caller holds the lock."""
        while self._queue and len(self._jobs) < self.max_running and not self._closed:
            job = self._queue.popleft()
            current = self.store.get_by_id(job["Id"])
            if current is not None and current["State"] == "Created":
                self._launch(job)

    def recover(self, job: dict) -> None:
        self.store.finish(
            job["Id"],
            "Failed",
            f"the emulator restarted while the job was {job['State']}; its local processes are gone",
        )

    def stop(self, job_id: str) -> None:
        with self._lock:
            self._queue = deque(j for j in self._queue if j["Id"] != job_id)
            lj = self._jobs.get(job_id)
        if lj is not None:
            with lj.lock:
                lj.stopped.set()
                for r in lj.replicas:
                    _terminate(r.proc)

    def shutdown(self) -> None:
        """Stop every job at once, then wait for all of them together (kill_grace plus a little)."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            jobs = list(self._jobs.values())
        for lj in jobs:
            self.stop(lj.job_id)
        deadline = time.monotonic() + self.kill_grace + 3
        for lj in jobs:
            if lj.thread is not None:
                lj.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def replica_states(self, job: dict) -> list[tuple[str, str]]:
        with self._lock:
            lj = self._jobs.get(job["Id"])
            states = dict(lj.states) if lj is not None else self._ended.get(job["Id"])
        if not states:
            return super().replica_states(job)
        return [(pod_name(job, t, i), s) for (t, i), s in list(states.items())[:SHOWN_REPLICAS]]

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
                self._next()

    def _execute(self, job: dict, lj: _LocalJob) -> None:
        out = self.output_dir(job)
        cwd = str(out)
        for i, entry in enumerate(job.get("PackageDir") or []):
            path = self.resolve_entry(entry, out / "package" / str(i))
            cwd = path if i == 0 else cwd
        argv = self._argv(job, cwd)
        reps = replicas(job)
        cluster = tf_cluster(reps)
        for rtype, index in reps:
            env = replica_env(job, rtype, index, out, {"cluster": cluster})
            if not self._spawn(lj, rtype, index, pod_name(job, rtype, index), argv, cwd, env):
                return
        self._run_replicas(job, lj)

    def _spawn(
        self, lj: _LocalJob, rtype: str, index: int, pod: str, argv: list[str], cwd: str, env: dict[str, str]
    ) -> bool:
        """Start one replica under the supervisor and read its output into the job's log; False (nothing
        started) when the job was stopped meanwhile, JobSetupError when the program cannot start."""
        with lj.lock:
            if lj.stopped.is_set():
                return False
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", SUPERVISOR, str(self.kill_grace), "--", *argv],
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise JobSetupError(f"replica {rtype}-{index} could not start {argv[0]!r}: {exc}") from exc
            rep = _Replica(rtype, index, pod, proc)
            lj.replicas.append(rep)
        rep.reader = threading.Thread(target=self._read, args=(lj.job_id, rep), daemon=True)
        rep.reader.start()
        return True

    def _run_replicas(self, job: dict, lj: _LocalJob) -> None:
        """Every replica started: mark the job running and watch it to its end."""
        states = lj.states
        states.update({(r.rtype, r.index): "Running" for r in lj.replicas})
        self.store.mark_running(job["Id"], replica_message(summarize(states)))
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
                if self._job_succeeded(r, states):
                    outcome = ("Succeeded", f"replica {r.label} {_describe_exit(code)}")
            if changed and outcome is None:
                self.store.set_message(lj.job_id, replica_message(summarize(states)))
        self._kill(lj)
        for key, state in states.items():
            if state == "Running":
                states[key] = "Stopped"  # still running when the job ended; stopped by the emulator
        for r in lj.replicas:
            if r.reader is not None:
                r.reader.join(timeout=2)
        with self._lock:
            self._ended[lj.job_id] = dict(states)
            while len(self._ended) > 1000:
                self._ended.popitem(last=False)
        self.store.finish(lj.job_id, outcome[0], f"{outcome[1]} {replica_message(summarize(states))}")

    @staticmethod
    def _job_succeeded(ended: _Replica, states: dict[tuple[str, int], str]) -> bool:
        """Whether the job succeeds now that replica ``ended`` exited 0: in TI-A, when its master does."""
        return ended.rtype == "master"

    def _read(self, job_id: str, rep: _Replica) -> None:
        assert rep.proc.stdout is not None
        with rep.proc.stdout:
            for raw in iter(partial(rep.proc.stdout.readline, MAX_LOG_LINE_BYTES), b""):
                self.store.append_logs(job_id, [(rep.pod, raw.decode("utf-8", "replace").rstrip("\r\n"))])

    def _kill(self, lj: _LocalJob) -> None:
        """SIGTERM every replica's supervisor (it ends the replica's whole tree within ``kill_grace``), then
        SIGKILL the process group of any supervisor still there."""
        with lj.lock:
            lj.stopped.set()
            reps = list(lj.replicas)
        for r in reps:
            _terminate(r.proc)
        deadline = time.monotonic() + self.kill_grace + 1
        for r in reps:
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            _signal_group(r.proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.proc.wait(timeout=2)


def _describe_exit(code: int) -> str:
    return f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"


def _terminate(proc: subprocess.Popen) -> None:
    """Ask a replica's supervisor to end the replica's whole process tree."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
