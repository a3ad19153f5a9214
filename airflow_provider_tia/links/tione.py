"""Link "TI-ONE Training Task": the task in the Tencent Cloud console, or the emulator's own page.

The task pushes the link's target under XCom key ``tione_training_task`` as soon as the training
task exists, so the link works while it runs. The console address is an assumption (the TI-ONE
console addresses tasks by Id and region); the link is only a convenience and nothing depends on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_tia.hooks.sdk import Settings

XCOM_KEY = "tione_training_task"
CONSOLE_URL = "https://console.cloud.tencent.com/tione/v2/job/detail"
EMULATOR_PAGE = "/console/tione/task"


def task_url(task_id: str, region: str) -> str:
    """The console URL of a training task.

    Example::

        task_url("train-1208038387393233920", "ap-guangzhou")
        # 'https://console.cloud.tencent.com/tione/v2/job/detail/train-1208038387393233920?regionId=ap-guangzhou'
    """
    return f"{CONSOLE_URL}/{task_id}?{urlencode({'regionId': region})}"


def link_value(settings: Settings, task_id: str) -> dict[str, Any]:
    """The console URL, or the emulator's page when the endpoint is not Tencent Cloud's."""
    if settings.is_tencent_cloud:
        url = task_url(task_id, settings.region)
    else:
        url = f"{settings.scheme}://{settings.endpoint}{EMULATOR_PAGE}?{urlencode({'id': task_id})}"
    return {"id": task_id, "region": settings.region, "url": url}


class TIONETaskLink(BaseOperatorLink):
    """Extra link "TI-ONE Training Task" (empty until the task has a training task)."""

    name = "TI-ONE Training Task"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key=XCOM_KEY)
        if not isinstance(value, dict) or not value.get("id"):
            return ""
        return str(value.get("url") or task_url(str(value["id"]), str(value.get("region") or "")))
