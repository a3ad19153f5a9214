"""A tiny human page for one job (``GET /console/tia/job?cluster=&name=[&account=<uin>]``), no auth.

A local developer tool, the target of the provider's console link: state, Message, times, replicas and
the last log lines, all HTML-escaped. ``account`` (a Uin) picks another account's job; default: the
emulator's default account.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner import Runner
    from .store import JobStore

CONSOLE_PATH = "/console/tia/job"
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
