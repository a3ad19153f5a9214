"""Link "TI-ONE Training Task": the task in the Tencent Cloud console, or the emulator's own page.

The task publishes the URL as soon as the training task exists (``links.base.JobLink``), so the
link works while it runs. The console address is an assumption (the TI-ONE
console addresses tasks by Id and region); the link is only a convenience and nothing depends on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from airflow_provider_tia.links.base import JobLink

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.sdk import Settings

CONSOLE_URL = "https://console.cloud.tencent.com/tione/v2/job/detail"
EMULATOR_PAGE = "/console/tione/task"


def task_url(task_id: str, region: str) -> str:
    """The console URL of a training task.

    Example::

        task_url("train-1208038387393233920", "ap-guangzhou")
        # 'https://console.cloud.tencent.com/tione/v2/job/detail/train-1208038387393233920?regionId=ap-guangzhou'
    """
    return f"{CONSOLE_URL}/{task_id}?{urlencode({'regionId': region})}"


def link_url(settings: Settings, task_id: str) -> str:
    """The console URL, or the emulator's page when the endpoint is not Tencent Cloud's."""
    if settings.is_tencent_cloud:
        return task_url(task_id, settings.region)
    return f"{settings.scheme}://{settings.endpoint}{EMULATOR_PAGE}?{urlencode({'id': task_id})}"


class TIONETaskLink(JobLink):
    """Extra link "TI-ONE Training Task" (empty until the task has a training task)."""

    name = "TI-ONE Training Task"

    def url(self, settings: Settings, **job: str) -> str:
        return link_url(settings, job["training_task_id"])


MODEL_VERSION_CONSOLE_URL = "https://console.cloud.tencent.com/tione/v2/model/repository/detail"


class ModelVersionLink(JobLink):
    """Extra link "TI-ONE Model Version": the version in the console (an assumed address: the console
    addresses versions by Id and region), or the emulator's page of it; empty until the version exists."""

    name = "TI-ONE Model Version"

    def url(self, settings: Settings, **job: str) -> str:
        version_id = job["training_model_version_id"]
        if settings.is_tencent_cloud:
            return f"{MODEL_VERSION_CONSOLE_URL}/{version_id}?{urlencode({'regionId': settings.region})}"
        return f"{settings.scheme}://{settings.endpoint}{EMULATOR_PAGE}?{urlencode({'id': version_id})}"


SERVICE_CONSOLE_URL = "https://console.cloud.tencent.com/tione/v2/online-service/detail"


class ModelServiceLink(JobLink):
    """Extra link "TI-ONE Service": the service group in the console (an assumed address: the console
    addresses services by group Id and region), or the emulator's page of the group (or of one service
    version, ``service_id``); empty until the service exists."""

    name = "TI-ONE Service"

    def url(self, settings: Settings, **job: str) -> str:
        page_id = job.get("service_id") or job["service_group_id"]
        if settings.is_tencent_cloud:
            region = urlencode({"regionId": settings.region})
            return f"{SERVICE_CONSOLE_URL}/{job['service_group_id']}?{region}"
        return f"{settings.scheme}://{settings.endpoint}{EMULATOR_PAGE}?{urlencode({'id': page_id})}"
