"""Link "TI-A Job": the job in the Tencent Cloud console, or in the emulator's own page for an emulator job.

The task publishes the URL right after CreateJob (``links.base.JobLink``), so the link works while the job runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from airflow_provider_tia.links.base import JobLink

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.sdk import Settings

CONSOLE_URL = "https://console.cloud.tencent.com/tia/job"
EMULATOR_PAGE = "/console/tia/job"


def job_url(name: str, cluster: str, region: str | None) -> str:
    """The console URL of a job.

    Example::

        job_url("test-job", "ap-beijing", "ap-beijing")
        # 'https://console.cloud.tencent.com/tia/job?region=ap-beijing&cluster=ap-beijing&name=test-job'
    """
    return f"{CONSOLE_URL}?{urlencode({'region': region or cluster, 'cluster': cluster, 'name': name})}"


def link_url(settings: Settings, name: str, cluster: str) -> str:
    """The console URL, or the emulator's page when the connection's endpoint is not Tencent Cloud's
    (the emulator serves ``/console/tia/job``)."""
    if settings.is_tencent_cloud:
        return job_url(name, cluster, settings.region)
    return f"{settings.scheme}://{settings.endpoint}{EMULATOR_PAGE}?{urlencode({'cluster': cluster, 'name': name})}"


class TIAJobLink(JobLink):
    """Extra link "TI-A Job" (empty until the task has a job).

    Example::

        class MyOperator(TIABaseOperator):
            operator_extra_links = (TIAJobLink(),)  # push_link(context, job_name=..., cluster=...) publishes it
    """

    name = "TI-A Job"

    def url(self, settings: Settings, **job: str) -> str:
        return link_url(settings, job["job_name"], job["cluster"])
