"""SimulatedRunner: timed state changes and synthetic logs, no processes (scale tests, benchmarks).

A service's subclass says how many replicas a job has (``replica_counts``) and which pods write its lines
(``_log_pods``); the rest is the same for every service.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import Counter

from ..core.limits import MAX_SIM_LOG_LINES
from .base import Runner, replica_message

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
            raise ValueError(
                f"RuntimeConf entry {entry!r}: expected one of {', '.join(SIM_KEYS)} as key=value"
            )
        value = value.strip()
        try:
            if key == "sim.outcome":
                if value not in ("Succeeded", "Failed"):
                    raise ValueError
                conf["outcome"] = value
            elif key == "sim.log_lines":
                conf["log_lines"] = int(value) if len(value) <= 20 else -1
                if not 0 <= conf["log_lines"] <= MAX_SIM_LOG_LINES:
                    raise ValueError
            else:
                number = float(value)
                if not (number >= 0 and math.isfinite(number)):
                    raise ValueError
                conf[key[4:]] = number
        except ValueError:
            bound = f" (within [0, {MAX_SIM_LOG_LINES}])" if key == "sim.log_lines" else ""
            raise ValueError(f"RuntimeConf entry {entry!r}: bad value {value!r}{bound}") from None
    return conf


class SimulatedRunner(Runner):
    """No processes: jobs wait ``start_delay`` in Created, run ``duration`` seconds, then end in ``outcome``.

    One timer thread and a heap serve every job, so thousands of concurrent jobs are cheap. Per job,
    RuntimeConf entries ``sim.duration``, ``sim.outcome``, ``sim.log_lines``, ``sim.start_delay`` override
    the defaults. Log lines are emitted in up to 200 batches spread over the run, master and workers
    taking turns (the first SIM_LOG_PODS pods at most, whatever the job declares; nothing here is allocated
    per declared replica). After a restart, a job resumes its timer (remaining time from its StartTime).
    """

    name = "simulated"
    BATCHES = 200  # log lines arrive in up to 200 bursts over the run, as a job writes them

    def __init__(
        self, duration: float = 1.0, outcome: str = "Succeeded", log_lines: int = 2, start_delay: float = 0.0
    ) -> None:
        self.defaults = {
            "duration": duration,
            "outcome": outcome,
            "log_lines": log_lines,
            "start_delay": start_delay,
        }
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

    def replica_counts(self, job: dict) -> dict[str, int]:
        """How many replicas of each type the job declares (a service's subclass knows): here one master."""
        return {"master": 1}

    def _log_pods(self, job: dict) -> list[str]:
        """The pods whose log lines the job writes (at most SIM_LOG_PODS): here its master."""
        return [f"{job['Name']}-master-0"]

    def _summary(self, job: dict, state: str) -> dict[str, Counter[str]]:
        return {rtype: Counter({state: n}) for rtype, n in self.replica_counts(job).items()}

    def _handle(self, job_id: str, kind: str, payload: tuple, conf: dict) -> None:
        job = conf["job"]
        if kind == "run":
            self.store.mark_running(job_id, replica_message(self._summary(job, "Running")))
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
            pods = self._log_pods(job)
            lines = (
                (pods[i % len(pods)], f"step {i + 1}/{n} loss={1.0 / (i + 1):.6f}") for i in range(lo, hi)
            )
            self.store.append_logs(job_id, lines)
        elif kind == "finish":
            self._confs.pop(job_id, None)
            if conf["outcome"] == "Succeeded":
                self.store.finish(job_id, "Succeeded", replica_message(self._summary(job, "Succeeded")))
            else:
                summary = self._summary(job, "Succeeded")
                summary["master"] = Counter(Failed=1)
                self.store.finish(
                    job_id,
                    "Failed",
                    f"replica master-0 exited with code 1 (simulated) {replica_message(summary)}",
                )
