"""JobSensor: waits for an existing TI-A job to succeed (``JobWatchSensor`` for TI-A)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from airflow_provider_tia.job import job_label
from airflow_provider_tia.operators.base import TIABaseOperator
from airflow_provider_tia.sensors.base import JobWatchSensor

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tia.job import Job
    from airflow_provider_tia.triggers.tia import JobTrigger


class JobSensor(TIABaseOperator, JobWatchSensor):
    """Succeeds when the job is Succeeded (its dict is the XCom return value); fails when it is Failed.

    Example::

        JobSensor(task_id="wait", job_name="nightly-train", cluster="ap-beijing", poke_interval=60)

    Created/Running jobs and transient API errors keep it waiting, within the sensor's ``timeout``; a
    job that does not exist fails it. ``soft_fail=True`` skips the task instead of failing it
    (Airflow's ``BaseSensorOperator`` applies it, also to a deferred sensor's timeout).

    :param job_name: Job name (templated).
    :param cluster: Cluster of the job (templated).
    :param tia_conn_id: Airflow connection id.
    :param region: Region overriding the connection's (templated).
    :param deferrable: Wait in the triggerer (``JobTrigger``), bounded by the sensor's ``timeout``.
    """

    template_fields = ("job_name", "cluster", "region")

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
        return job_label(self.job_name, self.cluster)

    def describe_watched(self) -> Job:
        return self.hook.describe_job(self.job_name, self.cluster)

    def push_watched_link(self, context: Context) -> None:
        self.push_link(context, self.job_name, self.cluster)

    def watch_trigger(self, deadline: float | None, budget: float) -> JobTrigger:
        from airflow_provider_tia.triggers.tia import JobTrigger

        return JobTrigger(
            job_name=self.job_name,
            cluster=self.cluster,
            tia_conn_id=self.tia_conn_id,
            region=self.region,
            poll_interval=float(self.poke_interval),
            deadline=deadline,
            budget=budget,
            delete_on_kill=False,  # the sensor watches a job it does not own
        )
