"""Jobs and their logs: thread-safe state machine Created -> Running -> Succeeded | Failed; no HTTP.

Jobs belong to an account (``Uin``): each account sees only its own. With a ``state_dir`` every job is
saved as ``jobs/<uin>@<cluster>@<name>.json`` (atomic replace; a digest when that name is too long) and its
logs as ``jobs/<stem>.logs.jsonl`` (appended), and both are reloaded on restart.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..core.errors import ApiError
from ..core.files import atomic_write
from ..core.limits import MAX_LOG_LINES_PER_JOB
from ..core.timefmt import go_time, rfc3339_nano
from .logs import log_page

if TYPE_CHECKING:
    import builtins
    import os
    from collections.abc import Callable, Iterable

JOB_FIELDS = (
    "Name", "Id", "Cluster", "RuntimeVersion", "PackageDir", "Command", "Args", "ScaleTier", "MasterType",
    "WorkerType", "ParameterServerType", "WorkerCount", "ParameterServerCount", "Debug", "RuntimeConf",
    "State", "Message", "CreateTime", "StartTime", "EndTime", "DelTime", "AppId", "Uin",
)  # fmt: skip
TERMINAL_STATES = frozenset({"Succeeded", "Failed"})
LOG_CAP_NOTE = (
    f"[tia emulator] this job wrote more than {MAX_LOG_LINES_PER_JOB} lines; later lines are dropped"
)
_MAX_STEM = 200  # bytes of a state file name before ".logs.jsonl"


@dataclass
class _Record:
    job: dict
    meta: dict
    log_ns: list[int] = field(default_factory=list)
    logs: list[tuple[int, str, str]] = field(default_factory=list)


def _key(job: dict) -> tuple[str, str, str]:
    return (job["Uin"], job["Cluster"], job["Name"])


def _copy_job(job: dict) -> dict:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in job.items()}


class JobStore:
    """All jobs of the emulator, keyed by (cluster, name); runners address jobs by their ``Id``."""

    def __init__(
        self, state_dir: str | os.PathLike | None = None, app_id: int = 1250000000, uin: str = "100000000001"
    ) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[tuple[str, str, str], _Record] = {}
        self._by_id: dict[str, _Record] = {}
        self._seq = 0
        self._last_log_ns = 0
        self._mono0 = time.monotonic_ns()
        self.app_id = app_id
        self.uin = uin
        self.dir = Path(state_dir) / "jobs" if state_dir else None
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._load()

    # ---- persistence -------------------------------------------------------------------------
    def _stem(self, rec: _Record) -> Path:
        assert self.dir is not None
        stem = "@".join(quote(str(part), safe="") for part in _key(rec.job))
        if len(stem) > _MAX_STEM:
            stem = "job-" + hashlib.sha256(stem.encode()).hexdigest()
        return self.dir / stem

    def _save(self, rec: _Record) -> None:
        if self.dir is not None:
            text = json.dumps({"job": rec.job, "meta": rec.meta}, ensure_ascii=False)
            atomic_write(self._stem(rec).with_suffix(".json"), text)

    def _save_logs(self, rec: _Record, entries: list[tuple[int, str, str]]) -> None:
        if self.dir is not None and entries:
            lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
            with open(self._stem(rec).with_suffix(".logs.jsonl"), "a", encoding="utf-8") as fh:
                fh.write(lines)

    def _load(self) -> None:
        assert self.dir is not None
        records = []
        for path in self.dir.glob("*.json"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            rec = _Record(job=data["job"], meta=data["meta"])
            log_path = path.with_suffix(".logs.jsonl")
            if self._stem(rec) != path.with_suffix(""):  # written by an older version: move to today's name
                if log_path.exists():
                    log_path = log_path.replace(self._stem(rec).with_suffix(".logs.jsonl"))
                path.replace(self._stem(rec).with_suffix(".json"))
            if log_path.exists():
                for line in log_path.read_text(encoding="utf-8").splitlines():
                    try:
                        ns, pod, text = json.loads(line)
                    except ValueError:
                        continue  # a torn last line
                    rec.logs.append((ns, pod, text))
                rec.logs.sort(key=lambda e: (e[0], e[1]))
                rec.log_ns = [e[0] for e in rec.logs]
            records.append(rec)
        for rec in sorted(records, key=lambda r: r.meta["seq"]):
            self._jobs[_key(rec.job)] = rec
            self._by_id[rec.job["Id"]] = rec
            self._seq = max(self._seq, rec.meta["seq"])
            if rec.log_ns:
                self._last_log_ns = max(self._last_log_ns, rec.log_ns[-1])

    # ---- jobs --------------------------------------------------------------------------------
    def _owner(self, uin: str | None) -> str:
        return self.uin if uin is None else uin

    def create(self, spec: dict) -> dict:
        """Add a job from validated CreateJob parameters; FailedOperation.AlreadyExists on a duplicate.

        ``AppId``/``Uin`` in ``spec`` name the owning account (default: the store's own).
        """
        with self._lock:
            app_id, uin = spec.get("AppId", self.app_id), spec.get("Uin", self.uin)
            key = (uin, spec["Cluster"], spec["Name"])
            if key in self._jobs:
                raise ApiError(
                    "FailedOperation.AlreadyExists",
                    f"job {spec['Name']!r} already exists in cluster {spec['Cluster']!r}",
                )
            now = time.time_ns()
            self._seq += 1
            job = dict.fromkeys(JOB_FIELDS)
            job.update({k: v for k, v in spec.items() if k in JOB_FIELDS})
            if str(job.get("ScaleTier") or "").upper() == "CUSTOM":
                job["ScaleTier"] = "Custom"
            job_id = f"train-{uuid.uuid4().hex[:16]}"
            job.update(
                Id=job_id,
                State="Created",
                Message="creating",
                Debug=bool(job["Debug"]),
                CreateTime=go_time(now, time.monotonic_ns() - self._mono0),
                AppId=app_id,
                Uin=uin,
            )
            rec = _Record(job=job, meta={"seq": self._seq, "create_ns": now, "start_ns": None})
            self._jobs[key] = rec
            self._by_id[job_id] = rec
            self._save(rec)
            self._changed.notify_all()
            return _copy_job(job)

    def get(self, cluster: str, name: str, uin: str | None = None) -> dict | None:
        """A copy of the account's job (default: the store's account), or None."""
        with self._lock:
            rec = self._jobs.get((self._owner(uin), cluster, name))
            return _copy_job(rec.job) if rec else None

    def get_by_id(self, job_id: str) -> dict | None:
        """A copy of the job with this Id, or None."""
        with self._lock:
            rec = self._by_id.get(job_id)
            return _copy_job(rec.job) if rec else None

    def meta(self, job_id: str) -> dict | None:
        """Internal timing data of a job (``create_ns``, ``start_ns``, wall-clock nanoseconds)."""
        with self._lock:
            rec = self._by_id.get(job_id)
            return dict(rec.meta) if rec else None

    def list(
        self, cluster: str | None = None, offset: int = 0, limit: int | None = None, uin: str | None = None
    ) -> list[dict]:
        """The account's jobs in creation order, optionally of one cluster, paged by offset/limit."""
        owner = self._owner(uin)
        with self._lock:
            recs = [
                r
                for r in self._jobs.values()
                if r.job["Uin"] == owner and (cluster is None or r.job["Cluster"] == cluster)
            ]
            end = None if limit is None else offset + limit
            return [_copy_job(r.job) for r in recs[offset:end]]

    def unfinished(self) -> builtins.list[dict]:
        """Jobs in Created or Running state (used to recover after a restart)."""
        with self._lock:
            return [_copy_job(r.job) for r in self._jobs.values() if r.job["State"] not in TERMINAL_STATES]

    def delete(self, cluster: str, name: str, uin: str | None = None) -> dict:
        """Remove the account's job and its logs; ResourceNotFound when absent. Returns the removed job."""
        with self._lock:
            rec = self._jobs.pop((self._owner(uin), cluster, name), None)
            if rec is None:
                raise not_found(cluster, name)
            self._by_id.pop(rec.job["Id"], None)
            if self.dir is not None:
                for suffix in (".json", ".logs.jsonl"):
                    self._stem(rec).with_suffix(suffix).unlink(missing_ok=True)
            self._changed.notify_all()
            rec.job["DelTime"] = go_time(time.time_ns())
            return _copy_job(rec.job)

    def _update(self, job_id: str, fn: Callable[[_Record], bool]) -> bool:
        with self._lock:
            rec = self._by_id.get(job_id)
            if rec is None or rec.job["State"] in TERMINAL_STATES or not fn(rec):
                return False
            self._save(rec)
            self._changed.notify_all()
            return True

    def mark_running(self, job_id: str, message: str) -> bool:
        """Created -> Running (sets StartTime). False if the job is gone or not Created."""

        def fn(rec: _Record) -> bool:
            if rec.job["State"] != "Created":
                return False
            now = time.time_ns()
            rec.meta["start_ns"] = now
            rec.job.update(State="Running", Message=message, StartTime=go_time(now))
            return True

        return self._update(job_id, fn)

    def set_message(self, job_id: str, message: str) -> bool:
        """Change the Message of an unfinished job."""

        def fn(rec: _Record) -> bool:
            changed = rec.job["Message"] != message
            rec.job["Message"] = message
            return changed

        return self._update(job_id, fn)

    def finish(self, job_id: str, state: str, message: str) -> bool:
        """Move an unfinished job to Succeeded or Failed (sets EndTime)."""
        if state not in TERMINAL_STATES:
            raise ValueError(f"not a terminal state: {state!r}")

        def fn(rec: _Record) -> bool:
            rec.job.update(State=state, Message=message, EndTime=go_time(time.time_ns()))
            return True

        return self._update(job_id, fn)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` (evaluated under the store lock) is true or ``timeout`` passes."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def state(self, cluster: str, name: str, uin: str | None = None) -> str | None:
        """Current State of a job (None if absent); cheap, for ``wait_for`` predicates."""
        rec = self._jobs.get((self._owner(uin), cluster, name))
        return rec.job["State"] if rec else None

    def __len__(self) -> int:
        return len(self._jobs)

    # ---- logs --------------------------------------------------------------------------------
    def append_logs(self, job_id: str, lines: Iterable[tuple[str, str]]) -> int:
        """Append ``(pod_name, text)`` lines stamped with strictly increasing times; returns how many."""
        with self._lock:
            rec = self._by_id.get(job_id)
            if rec is None:
                return 0
            entries: builtins.list[tuple[int, str, str]] = []
            for pod, text in lines:
                count = len(rec.logs) + len(entries)
                if count > MAX_LOG_LINES_PER_JOB:
                    break  # the note below is already there
                if count == MAX_LOG_LINES_PER_JOB:
                    text = LOG_CAP_NOTE
                ns = max(time.time_ns(), self._last_log_ns + 1)
                self._last_log_ns = ns
                entries.append((ns, pod, text))
            rec.logs.extend(entries)
            rec.log_ns.extend(e[0] for e in entries)
            self._save_logs(rec, entries)
            return len(entries)

    def query_logs(
        self,
        cluster: str,
        name: str,
        start_ns: int,
        end_ns: int,
        limit: int,
        context: str | None = None,
        uin: str | None = None,
    ) -> tuple[builtins.list[dict], str, bool]:
        """Lines with ``start_ns <= Time < end_ns`` in time order, paged by ``limit`` and ``context``.

        At most MAX_LINES_PER_WINDOW lines are served per window; Listover is true when the window has
        no more lines or that cap is reached.
        """
        with self._lock:
            rec = self._jobs.get((self._owner(uin), cluster, name))
            if rec is None:
                raise not_found(cluster, name)
            return log_page(rec.job["Id"], rec.log_ns, rec.logs, start_ns, end_ns, limit, context)

    def tail_logs(
        self, cluster: str, name: str, n: int, uin: str | None = None
    ) -> builtins.list[tuple[str, str, str]]:
        """The last ``n`` lines of a job as (RFC 3339 time, pod name, text); empty if absent."""
        with self._lock:
            rec = self._jobs.get((self._owner(uin), cluster, name))
            entries = rec.logs[-n:] if rec else []
        return [(rfc3339_nano(ns), pod, text) for ns, pod, text in entries]

    def log_count(self, cluster: str, name: str, uin: str | None = None) -> int:
        """Number of log lines of a job (0 if absent)."""
        with self._lock:
            rec = self._jobs.get((self._owner(uin), cluster, name))
            return len(rec.logs) if rec else 0


def not_found(cluster: str, name: str) -> ApiError:
    """The error for an unknown job."""
    return ApiError("ResourceNotFound", f"job {name!r} not found in cluster {cluster!r}")
