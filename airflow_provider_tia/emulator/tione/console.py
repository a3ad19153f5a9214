"""The human page of one TI-ONE training task (``GET /console/tione/task?id=``): status, reasons and the
last log lines of its latest run, all HTML-escaped."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from ..core.console import LOG_TAIL, page

if TYPE_CHECKING:
    from .store import TaskStore

CONSOLE_PATH = "/console/tione/task"
TASK_FIELDS = ("Name", "Id", "Status", "FailureReason", "Message", "ChargeStatus", "LatestInstanceId", "Uin")


def task_page(store: TaskStore, task_id: str) -> tuple[int, str]:
    """(HTTP status, HTML) of a TI-ONE task's page: 200 with the task, 404 saying it is missing."""
    task = store.get(task_id) if task_id else None
    if task is None:
        text = f"TI-ONE training task {task_id!r} not found"
        return 404, page("task not found", f"<h1>Task not found</h1><p>{escape(text)}</p>")
    rows = "".join(
        f"<tr><th>{key}</th><td>{escape(str(task.get(key) or ''))}</td></tr>" for key in TASK_FIELDS
    )
    instance = str(task.get("LatestInstanceId") or "")
    lines = store.log_window(instance, str(task["Uin"]), 0, 2**63 - 1)[-LOG_TAIL:] if instance else []
    tail = "\n".join(f"{pod}: {text}" for _, _, pod, text in lines)
    body = (
        f"<h1>TI-ONE training task {escape(str(task.get('Name') or task_id))}</h1><table>{rows}</table>"
        f"<h2>Last {LOG_TAIL} log lines</h2><pre>{escape(tail)}</pre>"
    )
    return 200, page(f"TI-ONE task {task_id}", body)
