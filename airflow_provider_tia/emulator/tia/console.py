"""The human page of one TI-A job (``GET /console/tia/job?cluster=&name=[&account=<uin>]``).

State, messages, times, replicas and the last log lines, all HTML-escaped. ``account`` (a Uin) picks another
account's job; default: the emulator's default account.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from ..core.console import LOG_TAIL, page
from .runners import replica_states

if TYPE_CHECKING:
    from ..runners.base import Runner
    from .store import JobStore

CONSOLE_PATH = "/console/tia/job"
JOB_FIELDS_SHOWN = ("Name", "Cluster", "Id", "State", "Message", "CreateTime", "StartTime", "EndTime", "Uin")


def job_page(
    store: JobStore, runner: Runner, cluster: str, name: str, account: str | None
) -> tuple[int, str]:
    """(HTTP status, HTML) of the page: 200 with the job, 404 saying it is missing."""
    job = store.get(cluster, name, uin=account) if cluster and name else None
    if job is None:
        text = f"TI-A job {name!r} not found in cluster {cluster!r}"
        return 404, page("job not found", f"<h1>Job not found</h1><p>{escape(text)}</p>")
    rows = "".join(
        f"<tr><th>{key}</th><td>{escape(str(job.get(key) or ''))}</td></tr>" for key in JOB_FIELDS_SHOWN
    )
    pods = "".join(
        f"<tr><td>{escape(pod)}</td><td>{escape(state)}</td></tr>"
        for pod, state in replica_states(runner, job)
    )
    tail = "\n".join(
        f"{t} {pod}: {text}" for t, pod, text in store.tail_logs(cluster, name, LOG_TAIL, account)
    )
    body = (
        f"<h1>TI-A job {escape(name)}</h1><table>{rows}</table>"
        f"<h2>Replicas</h2><table><tr><th>Pod</th><th>State</th></tr>{pods}</table>"
        f"<h2>Last {LOG_TAIL} log lines</h2><pre>{escape(tail)}</pre>"
    )
    return 200, page(f"TI-A job {name}", body)
