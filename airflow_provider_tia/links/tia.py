"""Link "TI-A Job": the job in the Tencent Cloud console, or in the emulator's own page for an emulator job.

The task pushes the link's target under XCom key ``tia_job`` right after CreateJob (``TIABaseOperator.push_link``),
so the link works while the job runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_tia.hooks.sdk import Settings

XCOM_KEY = "tia_job"
CONSOLE_URL = "https://console.cloud.tencent.com/tia/job"
EMULATOR_PAGE = "/console/tia/job"


def job_url(name: str, cluster: str, region: str | None) -> str:
    """The console URL of a job.

    Example::

        job_url("test-job", "ap-beijing", "ap-beijing")
        # 'https://console.cloud.tencent.com/tia/job?region=ap-beijing&cluster=ap-beijing&name=test-job'
    """
    return f"{CONSOLE_URL}?{urlencode({'region': region or cluster, 'cluster': cluster, 'name': name})}"


def link_value(settings: Settings, name: str, cluster: str) -> dict[str, Any]:
    """What the task stores for the link: the console URL, or the emulator's page when the
    connection's endpoint is not Tencent Cloud's (the emulator serves ``/console/tia/job``)."""
    if settings.is_tencent_cloud:
        url = job_url(name, cluster, settings.region)
    else:
        url = f"{settings.scheme}://{settings.endpoint}{EMULATOR_PAGE}?{urlencode({'cluster': cluster, 'name': name})}"
    return {"name": name, "cluster": cluster, "region": settings.region, "url": url}


class TIAJobLink(BaseOperatorLink):
    """Extra link "TI-A Job" (empty until the task has a job).

    Example::

        class MyOperator(TIABaseOperator):
            operator_extra_links = (TIAJobLink(),)  # the base pushes the target with push_link()
    """

    name = "TI-A Job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value = _xcom_value(ti_key)
        if not isinstance(value, dict) or not value.get("name") or not value.get("cluster"):
            return ""
        return str(
            value.get("url") or job_url(str(value["name"]), str(value["cluster"]), value.get("region"))
        )


def _xcom_value(ti_key: TaskInstanceKey) -> Any:
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key=XCOM_KEY)
