"""LocalRunner: each replica of a job is a real local process; its output is the job's log.

Every replica runs under ``supervise.py`` (a child subreaper on Linux), so a stop, the end of the job and the
emulator's shutdown stop every process the replica started, detached ones included. Replicas get a clean
environment (``processes.base_env`` and what the service adds), never the emulator's own variables.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict, deque
from functools import partial
from typing import TYPE_CHECKING

from ..core.limits import LOCAL_MAX_REPLICAS, LOCAL_MAX_RUNNING_JOBS, MAX_LOG_LINE_BYTES
from .base import Runner, replica_message, summarize
from .processes import (
    SUPERVISOR,
    JobSetupError,
    LocalJob,
    Replica,
    describe_exit,
    signal_group,
    terminate,
)

if TYPE_CHECKING:
    from pathlib import Path


class LocalRunner(Runner):
    """Runs every replica of a job as a local process (no shell) under the supervisor; its output is the
    job's log. A service's subclass says how a job starts (``_execute``: fetch its code, build each replica's
    command and environment, ``_spawn`` them, then ``_run_replicas``), when it has succeeded
    (``_job_succeeded``) and where its outputs go (``output_dir``).

    At most ``max_replicas`` processes per job (the subclass's ``validate`` refuses more) and ``max_running``
    jobs at once: later jobs wait in Created until one ends. ``kill_grace`` is how long a stopped process has
    between SIGTERM and SIGKILL.
    """

    name = "local"

    def __init__(
        self,
        kill_grace: float = 2.0,
        poll_interval: float = 0.05,
        max_replicas: int = LOCAL_MAX_REPLICAS,
        max_running: int = LOCAL_MAX_RUNNING_JOBS,
    ) -> None:
        if max_replicas < 1 or max_running < 1:
            raise ValueError("max_replicas and max_running must be at least 1")
        self.kill_grace = kill_grace
        self.poll_interval = poll_interval
        self.max_replicas = max_replicas
        self.max_running = max_running
        self._jobs: dict[str, LocalJob] = {}
        self._queue: deque[dict] = deque()
        self._ended: OrderedDict[str, dict[tuple[str, int], str]] = OrderedDict()  # last replica states
        self._closed = False
        self._lock = threading.Lock()

    def output_dir(self, job: dict) -> Path:
        """The job's output directory, made if missing (given to its replicas)."""
        raise NotImplementedError

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
        lj = LocalJob(job["Id"])
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
                    terminate(r.proc)

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

    def replica_states_of(self, job_id: str) -> dict[tuple[str, int], str] | None:
        """The state of each (type, index) replica of a running or recently ended job; None if unknown."""
        with self._lock:
            lj = self._jobs.get(job_id)
            return dict(lj.states) if lj is not None else self._ended.get(job_id)

    def pids(self, job_id: str) -> list[int]:
        """Process ids of a job's replicas (for tests)."""
        with self._lock:
            lj = self._jobs.get(job_id)
        return [r.proc.pid for r in lj.replicas] if lj else []

    def _run(self, job: dict, lj: LocalJob) -> None:
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

    def _execute(self, job: dict, lj: LocalJob) -> None:
        """Set the job up and start its replicas (``_spawn`` each, then ``_run_replicas``); JobSetupError
        fails the job with its message."""
        raise NotImplementedError

    def _spawn(
        self, lj: LocalJob, rtype: str, index: int, pod: str, argv: list[str], cwd: str, env: dict[str, str]
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
            rep = Replica(rtype, index, pod, proc)
            lj.replicas.append(rep)
        rep.reader = threading.Thread(target=self._read, args=(lj.job_id, rep), daemon=True)
        rep.reader.start()
        return True

    def _run_replicas(self, job: dict, lj: LocalJob) -> None:
        """Every replica started: mark the job running and watch it to its end."""
        states = lj.states
        states.update({(r.rtype, r.index): "Running" for r in lj.replicas})
        self.store.mark_running(job["Id"], replica_message(summarize(states)))
        self._monitor(job, lj, states)

    def _monitor(self, job: dict, lj: LocalJob, states: dict[tuple[str, int], str]) -> None:
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
                    outcome = ("Failed", f"replica {r.label} {describe_exit(code)}")
                    break
                if self._job_succeeded(r, states):
                    outcome = ("Succeeded", f"replica {r.label} {describe_exit(code)}")
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
    def _job_succeeded(ended: Replica, states: dict[tuple[str, int], str]) -> bool:
        """Whether the job succeeds now that replica ``ended`` exited 0 (each service has its rule)."""
        raise NotImplementedError

    def _read(self, job_id: str, rep: Replica) -> None:
        assert rep.proc.stdout is not None
        with rep.proc.stdout:
            for raw in iter(partial(rep.proc.stdout.readline, MAX_LOG_LINE_BYTES), b""):
                self.store.append_logs(job_id, [(rep.pod, raw.decode("utf-8", "replace").rstrip("\r\n"))])

    def _kill(self, lj: LocalJob) -> None:
        """SIGTERM every replica's supervisor (it ends the replica's whole tree within ``kill_grace``), then
        SIGKILL the process group of any supervisor still there."""
        with lj.lock:
            lj.stopped.set()
            reps = list(lj.replicas)
        for r in reps:
            terminate(r.proc)
        deadline = time.monotonic() + self.kill_grace + 1
        for r in reps:
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            signal_group(r.proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.proc.wait(timeout=2)
