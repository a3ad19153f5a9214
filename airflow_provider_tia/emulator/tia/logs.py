"""QueryLogs: one page of a job's lines in a time window, as the service renders them, and its Context.

Context is an opaque cursor (the job, the next line, the lines served so far); at most MAX_LINES_PER_WINDOW
lines are served per window, and ``Listover`` is true when the window has no more lines or that cap is
reached.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from bisect import bisect_left

from ..core.errors import ApiError
from ..core.limits import MAX_LINES_PER_WINDOW
from ..core.timefmt import rfc3339_nano

CONTAINER_NAME = "tensorflow"
NAMESPACE = "default"


def log_page(
    job_id: str,
    log_ns: list[int],
    logs: list[tuple[int, str, str]],
    start_ns: int,
    end_ns: int,
    limit: int,
    context: str | None,
) -> tuple[list[dict], str, bool]:
    """(Logs, Context, Listover) of the lines ``(ns, pod, text)`` with ``start_ns <= Time < end_ns``, in time
    order, paged by ``limit`` and ``context``; ``log_ns`` holds the lines' stamps, sorted."""
    if context:
        idx, served = _decode_context(context, job_id)
        idx = max(idx, bisect_left(log_ns, start_ns))
    else:
        idx, served = bisect_left(log_ns, start_ns), 0
    hi = bisect_left(log_ns, end_ns)
    n = max(0, min(limit, MAX_LINES_PER_WINDOW - served, hi - idx))
    page = logs[idx : idx + n]
    served += n
    listover = idx + n >= hi or served >= MAX_LINES_PER_WINDOW
    ctx = "" if listover else _encode_context(job_id, idx + n, served)
    pod_ids: dict[str, str] = {}
    rendered = []
    for ns, pod, text in page:
        pod_id = pod_ids.get(pod) or pod_ids.setdefault(
            pod, str(uuid.uuid5(uuid.NAMESPACE_URL, job_id + pod))
        )
        rendered.append(
            {
                "ContainerName": CONTAINER_NAME,
                "Log": text,
                "Namespace": NAMESPACE,
                "PodId": pod_id,
                "PodName": pod,
                "Time": rfc3339_nano(ns),
            }
        )
    return rendered, ctx, listover


def _encode_context(job_id: str, idx: int, served: int) -> str:
    return base64.urlsafe_b64encode(f"{job_id}:{idx}:{served}".encode()).decode()


def _decode_context(context: str, job_id: str) -> tuple[int, int]:
    try:
        owner, idx, served = base64.urlsafe_b64decode(context.encode()).decode().rsplit(":", 2)
        result = int(idx), int(served)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError("InvalidParameterValue", "Context is not a value returned by QueryLogs") from None
    if owner != job_id:
        raise ApiError("InvalidParameterValue", "Context belongs to another job")
    return result
