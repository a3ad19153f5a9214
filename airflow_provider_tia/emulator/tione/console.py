"""The human pages of TI-ONE (``GET /console/tione/task?id=``, all HTML-escaped): a training task (status,
reasons, the last log lines of its latest run), a model version, a service group or service version."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from ..core.console import LOG_TAIL, page

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .repo import ModelRepo
    from .service_store import ServiceStore
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


VERSION_FIELDS = ("TrainingModelName", "TrainingModelId", "TrainingModelVersion", "TrainingModelVersionId",
                  "TrainingModelStatus", "TrainingModelProgress", "TrainingModelErrorMsg", "TrainingJobId",
                  "TrainingJobName", "TrainingModelFormat", "AlgorithmFramework", "TrainingModelIndex",
                  "CreateTime")  # fmt: skip


def _table(rows: Iterable[tuple[str, object]]) -> str:
    return (
        "<table>"
        + "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v or ''))}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _missing(what: str, page_id: str) -> tuple[int, str]:
    text = f"TI-ONE {what} {page_id!r} not found"
    return 404, page(
        f"{what} not found", f"<h1>{escape(what.capitalize())} not found</h1><p>{escape(text)}</p>"
    )


def version_page(repo: ModelRepo, version_id: str) -> tuple[int, str]:
    """(HTTP status, HTML) of a model version's page: its import status and source."""
    from .repo_actions import version_dto

    found = repo.version(version_id, None)
    if found is None:
        return _missing("model version", version_id)
    dto = version_dto(*found)
    cos = dto["TrainingModelCosPath"]
    rows = [(k, dto[k]) for k in VERSION_FIELDS] + [
        ("Source", f"cos://{cos['Bucket']}/{''.join(cos['Paths'])}")
    ]
    title = f"{dto['TrainingModelName']} {dto['TrainingModelVersion']}"
    return 200, page(f"TI-ONE model {title}", f"<h1>TI-ONE model version {escape(title)}</h1>{_table(rows)}")


def service_page(services: ServiceStore, page_id: str) -> tuple[int, str]:
    """(HTTP status, HTML) of a service group's page (``ms-xxxxxxxx``) or of one of its versions
    (``ms-xxxxxxxx-<n>``): statuses, models, weights, the latest Warning events and log lines. Tokens are
    never shown."""
    from ..core.errors import ApiError

    gid = page_id if page_id.count("-") == 1 else page_id.rsplit("-", 1)[0]
    try:
        group = services.group(gid, None)
    except ApiError:
        return _missing("service", page_id)
    shown = [s for s in group["Services"] if page_id in (gid, s["ServiceId"])]
    if not shown:
        return _missing("service", page_id)
    head = [("ServiceGroupName", group["Name"]), ("ServiceGroupId", gid),
            ("AuthorizationEnable", group["AuthorizationEnable"]), ("WeightUpdateStatus", group["WeightUpdateStatus"])]  # fmt: skip
    body = f"<h1>TI-ONE service {escape(group['Name'])}</h1>{_table(head)}"
    for s in shown:
        model = s["Config"].get("ModelInfo", {})
        rows = [("ServiceId", s["ServiceId"]), ("Version", s["Version"]), ("Status", s["Status"]),
                ("Reason", s.get("Reason", "")), ("Weight", s["Weight"]), ("Replicas", s["DesiredReplicas"]),
                ("ModelVersionId", model.get("ModelVersionId", "")), ("ModelVersion", model.get("ModelVersion", ""))]  # fmt: skip
        warnings = [
            f"{e['Reason']}: {e['Message']} (x{e['Count']})" for e in s["Events"] if e["Type"] == "Warning"
        ]
        lines = services.log_window(s["ServiceId"], group["Uin"], 0, 2**63 - 1)[-LOG_TAIL:]
        tail = "\n".join(f"{pod}: {text}" for _, _, pod, text in lines)
        body += (f"<h2>Version {escape(s['Version'])}</h2>{_table(rows)}<h3>Warning events</h3>"
                 f"<pre>{escape(chr(10).join(warnings[-20:]))}</pre><h3>Last {LOG_TAIL} log lines</h3><pre>{escape(tail)}</pre>")  # fmt: skip
    return 200, page(f"TI-ONE service {page_id}", body)
