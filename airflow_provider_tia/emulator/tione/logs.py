"""DescribeLogs for TRAIN and INFER: lines in a time window, ordered, filtered and paged by Context.

The lines are those of one run (``ServiceId``: an instance id; for INFER a service Id), else of every run of
the caller's tasks (services);
``PodName`` (one pod, or a prefix ending in ``*`` such as ``<task Id>*``) narrows either. Tencent's own
client asks for a task's logs with ``PodName`` alone.

Context is an opaque cursor over one query (instance, window, order, filters): it counts the lines served so
far, and serving past MAX_LINES_PER_WINDOW of them gives ``FailedOperation.ContextLimitError`` (pick a new
window, as the real service asks). An empty Context means the window has no more lines. Line ``Id``s are
the lines' stored nanosecond stamps: unique in the emulator and stable across pages, queries and restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from typing import TYPE_CHECKING

from ..core.errors import ApiError
from ..core.limits import MAX_LINES_PER_WINDOW
from ..core.timefmt import parse_query_time, rfc3339_nano
from .schema import MAX_LOG_LIMIT, invalid

if TYPE_CHECKING:
    from .service_store import ServiceStore
    from .store import TaskStore

DEFAULT_LIMIT = 100
DEFAULT_WINDOW_NS = 3600 * 10**9


def _time_ns(name: str, text: str) -> int:
    """RFC 3339 (``2021-11-30T16:22:09+08:00``, ``...Z``) to nanoseconds (a time without offset is read in
    UTC+8, the service's zone); InvalidParameterValue otherwise."""
    try:
        return parse_query_time(text, "+08:00")
    except (ValueError, OverflowError):
        raise invalid(name, "must be an RFC 3339 time, e.g. 2021-11-30T16:22:09+08:00") from None


def _query_key(p: dict) -> str:
    fixed = [p.get(k) for k in ("ServiceId", "PodName", "StartTime", "EndTime", "Order", "Filters", "Offset")]
    return hashlib.sha256(json.dumps(fixed, default=str).encode()).hexdigest()[:16]


def _decode(context: str, key: str) -> tuple[int, int, int]:
    """(start, end, lines served) of the query a Context continues."""
    try:
        owner, *numbers = base64.urlsafe_b64decode(context.encode()).decode().split(":")
        start, end, served = (int(n) for n in numbers)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("Context", "is not a value returned by DescribeLogs") from None
    if owner != key:
        raise invalid("Context", "belongs to another query: keep the other parameters while paging")
    return start, end, served


def _matches(p: dict, pod: str, text: str) -> bool:
    wanted = p.get("PodName")
    if wanted:
        if wanted.endswith("*") and not pod.startswith(wanted[:-1]):
            return False
        if not wanted.endswith("*") and pod != wanted:
            return False
    keys = [v for f in p.get("Filters", []) if f.get("Name") == "Key" for v in f.get("Values", [])]
    return all(k in text for k in keys)


def _may_hold(wanted: str, task_id: str) -> bool:
    """Whether a pod named ``wanted`` (a prefix if it ends in ``*``) can be one of the task's: its pods are
    named ``<task Id>-<instance suffix>-<role>-<index>``."""
    own = task_id + "-"
    if wanted.endswith("*"):
        return own.startswith(wanted[:-1]) or wanted[:-1].startswith(own)
    return wanted.startswith(own)


def _window(
    store: TaskStore | ServiceStore, p: dict, uin: str, start: int, end: int
) -> list[tuple[int, str, str, str]]:
    """The lines of the run ``ServiceId`` names, else of the runs of the tasks ``PodName`` may match."""
    if p.get("ServiceId"):
        return store.log_window(p["ServiceId"], uin, start, end)
    wanted = p.get("PodName", "")
    return store.account_log_window(uin, start, end, lambda task_id: not wanted or _may_hold(wanted, task_id))


def describe_logs(store: TaskStore | ServiceStore, p: dict, uin: str) -> dict:
    """The DescribeLogs reply for checked parameters ``p`` (``store`` holds the lines of ``p["Service"]``)."""
    if p["Service"] not in ("TRAIN", "INFER"):
        raise invalid("Service", "must be TRAIN or INFER here (the emulator keeps training and service logs)")
    for f in p.get("Filters", []):
        if f.get("Name") != "Key":
            raise invalid("Filters.Name", "must be Key")
    limit = p.get("Limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LOG_LIMIT:
        raise invalid("Limit", f"must be within [1, {MAX_LOG_LIMIT}]")
    order = p.get("Order", "DESC")
    if order not in ("ASC", "DESC"):
        raise invalid("Order", "must be ASC or DESC")
    if p.get("OrderField", "Timestamp") != "Timestamp":
        raise invalid("OrderField", "must be Timestamp")
    if p.get("LogStream", "") not in ("", "stdout", "stderr"):
        raise invalid("LogStream", "must be stdout or stderr")
    offset = p.get("Offset", 0)
    if offset < 0:
        raise invalid("Offset", "must not be negative")
    key = _query_key(p)
    if p.get("Context"):  # the window is the first page's, even where it defaulted to "now"
        start, end, served = _decode(p["Context"], key)
    else:
        end = _time_ns("EndTime", p["EndTime"]) if p.get("EndTime") else time.time_ns()
        start = _time_ns("StartTime", p["StartTime"]) if p.get("StartTime") else end - DEFAULT_WINDOW_NS
        served = 0
    if start > end:
        raise invalid("StartTime", "is after EndTime")
    if served >= MAX_LINES_PER_WINDOW:
        raise ApiError(
            "FailedOperation.ContextLimitError",
            f"Paging went past {MAX_LINES_PER_WINDOW} lines in this time range; choose a new time range.",
        )
    lines = [e for e in _window(store, p, uin, start, end + 1) if _matches(p, e[2], e[3])]
    if order == "DESC":
        lines.reverse()
    first = offset + served
    page = lines[first : first + limit]
    more = first + len(page) < len(lines)
    cursor = f"{key}:{start}:{end}:{served + len(page)}"
    context = base64.urlsafe_b64encode(cursor.encode()).decode() if more else ""
    content = [
        {
            "Id": str(ns),
            "Message": text,
            "PodName": pod,
            "Timestamp": rfc3339_nano(ns),
            "PkgId": "",
            "PkgLogId": "",
        }
        for ns, _, pod, text in page
    ]
    return {"Content": content, "Context": context}
