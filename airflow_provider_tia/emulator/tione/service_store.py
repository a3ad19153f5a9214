"""TI-ONE online services: groups (``ms-<8 lowercase alnum>``) holding services (versions ``<group>-<n>``),
their events and their pods' log lines; thread-safe, owned by accounts, no HTTP.

A group is kept with its services and their events as one record; with a ``state_dir`` each is saved as
``tione/services/<group Id>.json`` (atomic replace) and reloaded on restart. Pod log lines are kept in
memory only (a restarted emulator starts the pods again, with new names).
"""

from __future__ import annotations

import heapq
import json
import secrets
import string
import threading
import time
from bisect import bisect_left
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import ApiError
from ..core.files import atomic_write
from ..core.limits import MAX_LOG_LINES_PER_JOB

if TYPE_CHECKING:
    import builtins
    import os
    from collections.abc import Callable, Iterable

_ALNUM = string.ascii_lowercase + string.digits
MAX_EVENTS_PER_SERVICE = 1000


def _copy(obj: dict) -> dict:
    return json.loads(json.dumps(obj))


def new_token() -> str:
    """A service token value (the gateway compares it in constant time)."""
    return secrets.token_urlsafe(24)


class ServiceStore:
    """Every service group of the emulator; a caller sees only its account's (``Uin``)."""

    def __init__(self, state_dir: str | os.PathLike | None = None) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._groups: dict[str, dict] = {}
        self._logs: dict[str, list[tuple[int, str, str, str]]] = {}  # service id -> (ns, service, pod, text)
        self._last_ns = 0
        self.dir = Path(state_dir) / "tione" / "services" if state_dir else None
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            for path in sorted(self.dir.glob("ms-*.json")):
                try:
                    group = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                self._groups[group["Id"]] = group

    def _save(self, group: dict) -> None:
        group["UpdateNs"] = time.time_ns()
        if self.dir is not None:
            atomic_write(self.dir / f"{group['Id']}.json", json.dumps(group, ensure_ascii=False))
        self._changed.notify_all()

    # ---- groups ------------------------------------------------------------------------------
    def create_group(self, fields: dict, uin: str, app_id: int, region: str) -> dict:
        """A new empty group named ``fields["Name"]``; FailedOperation.DuplicateName when the account has one."""
        with self._lock:
            for g in self._groups.values():
                if g["Uin"] == uin and g["Name"] == fields["Name"]:
                    raise ApiError("FailedOperation.DuplicateName", f"The service group name {fields['Name']!r} is already used by {g['Id']}.")  # fmt: skip
            gid = "ms-" + "".join(secrets.choice(_ALNUM) for _ in range(8))
            while gid in self._groups:
                gid = "ms-" + "".join(secrets.choice(_ALNUM) for _ in range(8))
            now = time.time_ns()
            group = {**fields, "Id": gid, "Uin": uin, "AppId": app_id, "Region": region, "CreateNs": now,
                     "UpdateNs": now, "NextVersion": 1, "Services": [], "WeightUpdateStatus": "UPDATED"}  # fmt: skip
            self._groups[gid] = group
            self._save(group)
            return _copy(group)

    def _require_group(self, gid: str, uin: str | None, field: str = "ServiceGroupId") -> dict:
        group = self._groups.get(gid)
        if group is None or (uin is not None and group["Uin"] != uin):
            raise ApiError("ResourceNotFound", f"The parameter `{field}`: no service group {gid[:64]!r}.")
        return group

    def group(self, gid: str, uin: str | None, field: str = "ServiceGroupId") -> dict:
        """A copy of the group with its services; ResourceNotFound naming ``field``."""
        with self._lock:
            return _copy(self._require_group(gid, uin, field))

    def groups(self, uin: str | None = None) -> builtins.list[dict]:
        """Copies of the account's groups (every group when ``uin`` is None), oldest first."""
        with self._lock:
            return [_copy(g) for g in self._groups.values() if uin is None or g["Uin"] == uin]

    def update_group(self, gid: str, fn: Callable[[dict], bool]) -> bool:
        """Apply ``fn(group)`` (True: it changed something) and save; False when gone or declined."""
        with self._lock:
            group = self._groups.get(gid)
            if group is None or not fn(group):
                return False
            self._save(group)
            return True

    def delete_group(self, gid: str, uin: str) -> dict:
        """Remove a group with its services; the removed group."""
        with self._lock:
            group = self._require_group(gid, uin)
            self._groups.pop(gid)
            for s in group["Services"]:
                self._logs.pop(s["ServiceId"], None)
            if self.dir is not None:
                (self.dir / f"{gid}.json").unlink(missing_ok=True)
            self._changed.notify_all()
            return group

    # ---- services ----------------------------------------------------------------------------
    def add_service(self, gid: str, service: dict) -> dict:
        """Append a service (version ``NextVersion``) to the group; the stored copy."""
        with self._lock:
            group = self._require_group(gid, None)
            n = group["NextVersion"]
            group["NextVersion"] = n + 1
            now = time.time_ns()
            service = {**service, "ServiceId": f"{gid}-{n}", "Version": str(n), "CreateNs": now, "UpdateNs": now,
                       "Events": []}  # fmt: skip
            group["Services"].append(service)
            self._save(group)
            return _copy(service)

    def _find(self, sid: str) -> tuple[dict, dict] | None:
        group = self._groups.get(sid.rsplit("-", 1)[0])
        if group is None:
            return None
        for service in group["Services"]:
            if service["ServiceId"] == sid:
                return group, service
        return None

    def service(self, sid: str, uin: str | None, field: str = "ServiceId") -> tuple[dict, dict]:
        """Copies of (group, service); ResourceNotFound naming ``field``."""
        with self._lock:
            found = self._find(sid)
            if found is None or (uin is not None and found[0]["Uin"] != uin):
                raise ApiError("ResourceNotFound", f"The parameter `{field}`: no service {sid[:64]!r}.")
            return _copy(found[0]), _copy(found[1])

    def update_service(self, sid: str, fn: Callable[[dict], bool]) -> bool:
        """Apply ``fn(service)`` (True: it changed something) and save; False when gone or declined."""
        with self._lock:
            found = self._find(sid)
            if found is None or not fn(found[1]):
                return False
            found[1]["UpdateNs"] = time.time_ns()
            self._save(found[0])
            return True

    def delete_service(self, sid: str) -> None:
        with self._lock:
            found = self._find(sid)
            if found is not None:
                found[0]["Services"] = [s for s in found[0]["Services"] if s["ServiceId"] != sid]
                self._logs.pop(sid, None)
                self._save(found[0])

    def add_event(self, sid: str, kind: str, reason: str, message: str, resource: tuple[str, str]) -> None:
        """Record a Kubernetes-style event (``kind`` Normal or Warning) on a service; a repeat of the last one
        raises its Count."""
        now = time.time_ns()

        def fn(service: dict) -> bool:
            events = service["Events"]
            last = events[-1] if events else None
            if last and (last["Type"], last["Reason"], last["Message"], last["ResourceName"]) == (
                kind,
                reason,
                message,
                resource[1],
            ):
                last.update(Count=last["Count"] + 1, LastNs=now)
                return True
            events.append({"Id": f"{sid}.{now:x}", "Type": kind, "Reason": reason, "Message": message,
                           "ResourceKind": resource[0], "ResourceName": resource[1], "Count": 1,
                           "FirstNs": now, "LastNs": now})  # fmt: skip
            del events[:-MAX_EVENTS_PER_SERVICE]
            return True

        self.update_service(sid, fn)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` (evaluated under the lock) is true or ``timeout`` passes."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def status(self, sid: str) -> str | None:
        """A service's Status, None when absent (cheap, for ``wait_for``)."""
        found = self._find(sid)
        return found[1]["Status"] if found else None

    # ---- pod logs (the interface ``logs.describe_logs`` reads) --------------------------------
    def append_logs(self, sid: str, lines: Iterable[tuple[str, str]]) -> int:
        with self._lock:
            kept = self._logs.setdefault(sid, [])
            room = max(0, MAX_LOG_LINES_PER_JOB - len(kept))
            entries = []
            for pod, text in list(lines)[:room]:
                self._last_ns = max(time.time_ns(), self._last_ns + 1)
                entries.append((self._last_ns, sid, pod, text))
            kept.extend(entries)
            return len(entries)

    def _owned(self, sid: str, uin: str) -> bool:
        found = self._find(sid)
        return found is not None and found[0]["Uin"] == uin

    def log_window(
        self, sid: str, uin: str, start_ns: int, end_ns: int
    ) -> builtins.list[tuple[int, str, str, str]]:
        """The service's lines with ``start_ns <= time < end_ns``, oldest first."""
        with self._lock:
            if not self._owned(sid, uin):
                return []
            lines = self._logs.get(sid, [])
            stamps = [e[0] for e in lines]
            return lines[bisect_left(stamps, start_ns) : bisect_left(stamps, end_ns)]

    def account_log_window(
        self, uin: str, start_ns: int, end_ns: int, admit: Callable[[str], bool]
    ) -> builtins.list[tuple[int, str, str, str]]:
        """The lines in the window of every service of the account whose Id ``admit`` accepts."""
        with self._lock:
            sids = [sid for sid in self._logs if self._owned(sid, uin) and admit(sid)]
            return list(heapq.merge(*(self.log_window(sid, uin, start_ns, end_ns) for sid in sids)))
