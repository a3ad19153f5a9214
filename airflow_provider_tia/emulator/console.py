"""Tiny human pages for one TI-A job (``GET /console/tia/job?cluster=&name=[&account=<uin>]``) and one
TI-ONE training task (``GET /console/tione/task?id=``), no auth.

Local developer tools, the targets of the provider's console links: state, messages, times and the
last log lines, all HTML-escaped. ``account`` (a Uin) picks another account's job; default: the
emulator's default account.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner import Runner
    from .store import JobStore
    from .tione.store import TaskStore

CONSOLE_PATH = "/console/tia/job"
TIONE_CONSOLE_PATH = "/console/tione/task"
TASK_FIELDS = ("Name", "Id", "Status", "FailureReason", "Message", "ChargeStatus", "LatestInstanceId", "Uin")
LOG_TAIL = 50
_STYLE = "body{font-family:sans-serif;margin:2em}td,th{text-align:left;padding:2px 12px 2px 0}pre{background:#f4f4f4}"


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def job_page(
    store: JobStore, runner: Runner, cluster: str, name: str, account: str | None
) -> tuple[int, str]:
    """(HTTP status, HTML) of the page: 200 with the job, 404 saying it is missing."""
    job = store.get(cluster, name, uin=account) if cluster and name else None
    if job is None:
        text = f"TI-A job {name!r} not found in cluster {cluster!r}"
        return 404, _page("job not found", f"<h1>Job not found</h1><p>{escape(text)}</p>")
    rows = "".join(
        f"<tr><th>{key}</th><td>{escape(str(job.get(key) or ''))}</td></tr>"
        for key in ("Name", "Cluster", "Id", "State", "Message", "CreateTime", "StartTime", "EndTime", "Uin")
    )
    pods = "".join(
        f"<tr><td>{escape(pod)}</td><td>{escape(state)}</td></tr>"
        for pod, state in runner.replica_states(job)
    )
    tail = "\n".join(
        f"{t} {pod}: {text}" for t, pod, text in store.tail_logs(cluster, name, LOG_TAIL, account)
    )
    body = (
        f"<h1>TI-A job {escape(name)}</h1><table>{rows}</table>"
        f"<h2>Replicas</h2><table><tr><th>Pod</th><th>State</th></tr>{pods}</table>"
        f"<h2>Last {LOG_TAIL} log lines</h2><pre>{escape(tail)}</pre>"
    )
    return 200, _page(f"TI-A job {name}", body)


def task_page(store: TaskStore, task_id: str) -> tuple[int, str]:
    """(HTTP status, HTML) of a TI-ONE task's page: 200 with the task, 404 saying it is missing."""
    task = store.get(task_id) if task_id else None
    if task is None:
        text = f"TI-ONE training task {task_id!r} not found"
        return 404, _page("task not found", f"<h1>Task not found</h1><p>{escape(text)}</p>")
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
    return 200, _page(f"TI-ONE task {task_id}", body)
