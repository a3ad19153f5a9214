"""JobSensor: waits for an existing TI-A job to succeed (a thin adapter over ``lifecycle``)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_tia import lifecycle
from airflow_provider_tia.exceptions import JobNotFound, TransientError, WatchedJobFailed
from airflow_provider_tia.job import job_label
from airflow_provider_tia.operators.base import TIABaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class JobSensor(TIABaseOperator, BaseSensorOperator):
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

    def poke(self, context: Context) -> bool | PokeReturnValue:
        try:
            job = self.hook.describe_job(self.job_name, self.cluster)
        except JobNotFound as error:
            raise JobNotFound(
                f"{self.label} does not exist", code=error.code, request_id=error.request_id
            ) from None
        except TransientError as error:
            self.log.warning("Could not read %s (%s); will poke again", self.label, error)
            return False
        self.log.info("%s is %s", self.label, job.state_name)
        event = lifecycle.assess(job, self.label)
        if event is None:
            return False
        return PokeReturnValue(
            is_done=True, xcom_value=lifecycle.finish(event, failed_error=WatchedJobFailed)
        )

    def execute(self, context: Context) -> Any:
        self.push_link(context, self.job_name, self.cluster)
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.xcom_value
        from airflow_provider_tia.triggers.tia import JobTrigger

        budget = self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else float(self.timeout)
        self.defer(
            trigger=JobTrigger(
                job_name=self.job_name,
                cluster=self.cluster,
                tia_conn_id=self.tia_conn_id,
                region=self.region,
                poll_interval=float(self.poke_interval),
                deadline=lifecycle.Deadline.after(budget).at,
                budget=budget,
                delete_on_kill=False,  # the sensor watches a job it does not own
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=budget),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """The trigger's event -> the job dict, or the error (``soft_fail`` is applied by the base class)."""
        return lifecycle.finish(
            lifecycle.JobEvent.from_payload(event),
            timeout_error=AirflowSensorTimeout,
            failed_error=WatchedJobFailed,
        )
