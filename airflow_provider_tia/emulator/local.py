"""LocalRunner: each replica of a job is a real local process with TF_CONFIG; its output is the job's log."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

from .runner import Runner, pod_name, replica_message, replicas


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

    def __init__(
        self,
        package_resolvers: dict[str, PackageResolver] | None = None,
        kill_grace: float = 2.0,
        poll_interval: float = 0.05,
    ) -> None:
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
        lj.thread = threading.Thread(
            target=self._run, args=(job, lj), name=f"tia-job-{job['Name']}", daemon=True
        )
        lj.thread.start()

    def recover(self, job: dict) -> None:
        self.store.finish(
            job["Id"],
            "Failed",
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
                PYTHONUNBUFFERED="1",
                TIA_JOB_NAME=job["Name"],
                TIA_JOB_ID=job["Id"],
                TIA_CLUSTER=job["Cluster"],
                TIA_REPLICA_TYPE=rtype,
                TIA_REPLICA_INDEX=str(index),
                TIA_OUTPUT_DIR=str(out),
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": rtype, "index": index}}),
            )
            with lj.lock:
                if lj.stopped.is_set():
                    return
                try:
                    proc = subprocess.Popen(
                        argv,
                        cwd=cwd,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                except OSError as exc:
                    raise JobSetupError(
                        f"replica {rtype}-{index} could not start {argv[0]!r}: {exc}"
                    ) from exc
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
