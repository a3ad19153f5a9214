"""Console link of a TI-A job, read from the ``tia_job`` XCom the operator pushes right after CreateJob."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

XCOM_KEY = "tia_job"
CONSOLE_URL = "https://console.cloud.tencent.com/tia/job"


def job_url(name: str, cluster: str, region: str | None) -> str:
    """The console URL of a job.

    Example::

        job_url("test-job", "ap-beijing", "ap-beijing")
        # 'https://console.cloud.tencent.com/tia/job?region=ap-beijing&cluster=ap-beijing&name=test-job'
    """
    return f"{CONSOLE_URL}?{urlencode({'region': region or cluster, 'cluster': cluster, 'name': name})}"


class TIAJobLink(BaseOperatorLink):
    """Extra link "TI-A Job" to the job in the Tencent Cloud console (empty until a job exists).

    Example::

        class MyOperator(BaseOperator):
            operator_extra_links = (TIAJobLink(),)
            # ... and push {"name", "cluster", "region"} under XCom key "tia_job"
    """

    name = "TI-A Job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value = _xcom_value(ti_key)
        if not isinstance(value, dict) or not value.get("name") or not value.get("cluster"):
            return ""
        return job_url(str(value["name"]), str(value["cluster"]), value.get("region"))


def _xcom_value(ti_key: TaskInstanceKey) -> Any:
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key=XCOM_KEY)
