"""TI-ONE training tasks and their logs: thread-safe records keyed by task Id, owned by accounts; no HTTP.

A task runs as *instances* (``<Id>-<12 lowercase alnum>``): Create and every Start make a new one, and only
the latest may change the task's state, so a late event of an earlier run is ignored. Times are kept as
nanoseconds since the epoch (``views`` formats them). With a ``state_dir`` each task is saved as
``tione/<Id>.json`` (atomic replace) and its log lines appended to ``tione/<Id>.logs.jsonl``; both are
reloaded on restart.
"""

from __future__ import annotations

import heapq
import json
import secrets
import string
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import ApiError
from ..core.files import atomic_write
from ..core.limits import MAX_LOG_LINES_PER_JOB

if TYPE_CHECKING:
    import builtins
    import os
    from collections.abc import Callable, Iterable

TERMINAL = frozenset({"STOPPED", "FAILED", "SUCCEED", "SUBMIT_FAILED"})
_ALNUM = string.ascii_lowercase + string.digits


@dataclass
class _Record:
    task: dict
    log_ns: list[int] = field(default_factory=list)
    logs: list[tuple[int, str, str, str]] = field(default_factory=list)  # (ns, instance id, pod, text)


def new_instance_id(task_id: str) -> str:
    """``<task Id>-<12 lowercase letters and digits>``, the id of one run."""
    return f"{task_id}-{''.join(secrets.choice(_ALNUM) for _ in range(12))}"


def task_of(instance_id: str) -> str:
    """The task Id of an instance id."""
    return instance_id.rsplit("-", 1)[0]


def replicas(task: dict) -> list[tuple[str, int, str]]:
    """(role, index, pod name) of every replica of the task's latest instance, e.g. ``<iid>-worker-1``."""
    iid = task["LatestInstanceId"]
    return [
        (res["Role"], i, f"{iid}-{res['Role'].lower()}-{i}")
        for res in task["Spec"]["ResourceConfigInfos"]
        for i in range(res.get("InstanceNum", 1))
    ]


def _copy(task: dict) -> dict:
    return json.loads(json.dumps(task))


class TaskStore:
    """Every TI-ONE task of the emulator; a caller sees only the tasks of its account (``Uin``)."""

    def __init__(self, state_dir: str | os.PathLike | None = None) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._tasks: dict[str, _Record] = {}
        self._last_log_ns = 0
        self.dir = Path(state_dir) / "tione" if state_dir else None
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._load()

    # ---- persistence -------------------------------------------------------------------------
    def _save(self, rec: _Record) -> None:
        if self.dir is not None:
            atomic_write(self.dir / f"{rec.task['Id']}.json", json.dumps(rec.task, ensure_ascii=False))

    def _load(self) -> None:
        assert self.dir is not None
        for path in sorted(self.dir.glob("train-*.json")):
            try:
                rec = _Record(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
            log_path = path.with_suffix(".logs.jsonl")
            lines = log_path.read_text(encoding="utf-8").splitlines() if log_path.exists() else []
            for line in lines:
                try:
                    rec.logs.append(tuple(json.loads(line)))  # type: ignore[arg-type]
                except ValueError:
                    continue  # a torn last line
            rec.log_ns = [e[0] for e in rec.logs]
            self._last_log_ns = max([self._last_log_ns, *rec.log_ns])
            self._tasks[rec.task["Id"]] = rec

    # ---- tasks -------------------------------------------------------------------------------
    def create(self, spec: dict, uin: str, app_id: int, region: str) -> dict:
        """A new SUBMITTING task of account ``uin`` from checked CreateTrainingTask parameters.

        FailedOperation.DuplicateNameTaskIsCreating when a task of the account with this Name is still
        SUBMITTING (the only name conflict the emulator enforces: Name is a label, not a key)."""
        with self._lock:
            for rec in self._tasks.values():
                task = rec.task
                if task["Uin"] == uin and task["Name"] == spec["Name"] and task["Status"] == "SUBMITTING":
                    raise ApiError(
                        "FailedOperation.DuplicateNameTaskIsCreating",
                        f"A training task named {spec['Name']!r} is still being created; use another name.",
                    )
            task_id = f"train-{secrets.randbelow(9 * 10**18) + 10**18}"
            while task_id in self._tasks:
                task_id = f"train-{secrets.randbelow(9 * 10**18) + 10**18}"
            now = time.time_ns()
            task = {
                "Id": task_id, "Name": spec["Name"], "Uin": uin, "AppId": app_id, "Region": region,
                "Spec": spec, "Status": "SUBMITTING", "ChargeStatus": "NOT_BILLING", "FailureReason": "",
                "Message": "", "LatestInstanceId": new_instance_id(task_id), "Instances": [],
                "CreateNs": now, "UpdateNs": now, "StartNs": None, "EndNs": None,
            }  # fmt: skip
            task["Instances"].append(task["LatestInstanceId"])
            rec = _Record(task)
            self._tasks[task_id] = rec
            self._save(rec)
            self._changed.notify_all()
            return _copy(task)

    def get(self, task_id: str, uin: str | None = None) -> dict | None:
        """A copy of the task (of account ``uin`` when given), or None."""
        with self._lock:
            rec = self._tasks.get(task_id)
            return _copy(rec.task) if rec and (uin is None or rec.task["Uin"] == uin) else None

    def require(self, task_id: str, uin: str | None) -> dict:
        """The task, or ResourceNotFound."""
        task = self.get(task_id, uin)
        if task is None:
            raise ApiError("ResourceNotFound", f"The training task {task_id[:64]!r} does not exist.")
        return task

    def list(self, uin: str) -> list[dict]:
        """Copies of the account's tasks in creation order."""
        with self._lock:
            return [_copy(r.task) for r in self._tasks.values() if r.task["Uin"] == uin]

    def unfinished(self) -> builtins.list[dict]:
        """Tasks not in a terminal status (recovered after a restart)."""
        with self._lock:
            return [_copy(r.task) for r in self._tasks.values() if r.task["Status"] not in TERMINAL]

    def delete(self, task_id: str, uin: str) -> None:
        """Remove a task and its logs."""
        with self._lock:
            self.require(task_id, uin)
            self._tasks.pop(task_id)
            if self.dir is not None:
                for suffix in (".json", ".logs.jsonl"):
                    (self.dir / f"{task_id}{suffix}").unlink(missing_ok=True)
            self._changed.notify_all()

    def update(self, instance_id: str, fn: Callable[[dict], bool]) -> bool:
        """Apply ``fn(task)`` (True: it changed something) to the task whose latest instance this is;
        False when the task is gone, the instance is not its latest one, or ``fn`` declined."""
        with self._lock:
            rec = self._tasks.get(task_of(instance_id))
            if rec is None or rec.task["LatestInstanceId"] != instance_id or not fn(rec.task):
                return False
            rec.task["UpdateNs"] = time.time_ns()
            self._save(rec)
            self._changed.notify_all()
            return True

    def rerun(self, task_id: str, uin: str) -> dict:
        """A new instance of a terminal task, SUBMITTING again; InternalError.NotAllow while it runs."""
        with self._lock:
            task = self.require(task_id, uin)
            if task["Status"] not in TERMINAL:
                raise ApiError("InternalError.NotAllow", f"The task is {task['Status']}: stop it first.")
            rec = self._tasks[task_id]
            iid = new_instance_id(task_id)
            rec.task["Instances"] = [*rec.task["Instances"], iid][-100:]
            rec.task.update(
                LatestInstanceId=iid, Status="SUBMITTING", ChargeStatus="NOT_BILLING", FailureReason="",
                Message="", StartNs=None, EndNs=None, UpdateNs=time.time_ns(),
            )  # fmt: skip
            self._save(rec)
            self._changed.notify_all()
            return _copy(rec.task)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` (evaluated under the store lock) is true or ``timeout`` passes."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def status(self, task_id: str) -> str | None:
        """Current Status of a task (None if absent); cheap, for ``wait_for`` predicates."""
        rec = self._tasks.get(task_id)
        return rec.task["Status"] if rec else None

    # ---- logs --------------------------------------------------------------------------------
    def append_logs(self, instance_id: str, lines: Iterable[tuple[str, str]]) -> int:
        """Append ``(pod, text)`` lines of an instance, stamped with strictly increasing times."""
        with self._lock:
            rec = self._tasks.get(task_of(instance_id))
            if rec is None:
                return 0
            room = max(0, MAX_LOG_LINES_PER_JOB - len(rec.logs))
            entries = []
            for pod, text in list(lines)[:room]:
                self._last_log_ns = max(time.time_ns(), self._last_log_ns + 1)
                entries.append((self._last_log_ns, instance_id, pod, text))
            rec.logs.extend(entries)
            rec.log_ns.extend(e[0] for e in entries)
            if self.dir is not None and entries:
                with open(self.dir / f"{rec.task['Id']}.logs.jsonl", "a", encoding="utf-8") as fh:
                    fh.write("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
            return len(entries)

    def log_window(
        self, instance_id: str, uin: str, start_ns: int, end_ns: int
    ) -> builtins.list[tuple[int, str, str, str]]:
        """The instance's lines with ``start_ns <= time < end_ns``, oldest first (empty if unknown)."""
        with self._lock:
            rec = self._tasks.get(task_of(instance_id))
            if rec is None or rec.task["Uin"] != uin:
                return []
            lo, hi = bisect_left(rec.log_ns, start_ns), bisect_left(rec.log_ns, end_ns)
            return [e for e in rec.logs[lo:hi] if e[1] == instance_id]

    def account_log_window(
        self, uin: str, start_ns: int, end_ns: int, admit: Callable[[str], bool]
    ) -> builtins.list[tuple[int, str, str, str]]:
        """The lines with ``start_ns <= time < end_ns`` of every run of the account's tasks whose Id
        ``admit`` accepts, oldest first (stamps are unique across tasks)."""
        with self._lock:
            windows = []
            for rec in self._tasks.values():
                if rec.task["Uin"] == uin and admit(rec.task["Id"]):
                    lo, hi = bisect_left(rec.log_ns, start_ns), bisect_left(rec.log_ns, end_ns)
                    windows.append(rec.logs[lo:hi])
            return list(heapq.merge(*windows))
