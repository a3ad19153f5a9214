"""JobSensor: waits for an existing TI-A job to succeed (``JobWatchSensor`` for TI-A)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia.compat import conf
from airflow_provider_tia.links.tia import TIAJobLink
from airflow_provider_tia.sensors.base import JobWatchSensor

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.models.tia.job import Job, TIAJobKey


class JobSensor(JobWatchSensor):
    """Succeeds when the job is Succeeded (its dict is the XCom return value); fails when it is Failed.

    Example::

        JobSensor(task_id="wait", job_name="nightly-train", cluster="ap-beijing", poke_interval=60)

    Created/Running jobs and transient API errors keep it waiting, within the sensor's ``timeout``; a
    job that does not exist fails it. ``soft_fail=True`` skips the task instead of failing it
    (Airflow's ``BaseSensorOperator`` applies it, also to a deferred sensor's timeout).

    :param job_name: Job name (templated).
    :param cluster: Cluster of the job (templated).
    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    :param deferrable: Wait in the triggerer (``JobTrigger``), bounded by the sensor's ``timeout``.
    """

    template_fields = ("job_name", "cluster", "region")
    operator_extra_links = (TIAJobLink(),)
    hook_class_path = "airflow_provider_tia.hooks.tia.TIAHook"
    trigger_class_path = "airflow_provider_tia.triggers.tia.JobTrigger"
    if TYPE_CHECKING:
        hook: TIAHook

    def __init__(
        self,
        *,
        job_name: str,
        cluster: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.cluster = cluster
        self.deferrable = deferrable

    @property
    def label(self) -> str:
        from airflow_provider_tia.models.tia.job import job_label

        return job_label(self.job_name, self.cluster)

    def describe_watched(self) -> Job:
        return self.hook.describe_job(self.job_name, self.cluster)

    @property
    def watched(self) -> dict[str, str]:
        return {"job_name": self.job_name, "cluster": self.cluster}

    @property
    def watched_key(self) -> TIAJobKey:
        from airflow_provider_tia.models.tia.job import TIAJobKey

        return TIAJobKey(self.job_name, self.cluster)
