"""JobSensor: waits for an existing TI-A job to succeed."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

from airflow_provider_tia.exceptions import JobFailed, JobNotFound, TIAError, TransientError
from airflow_provider_tia.links.tia import XCOM_KEY, TIAJobLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.job import Job


class JobSensor(BaseSensorOperator):
    """Succeeds when the job is Succeeded (its dict is the XCom return value); fails when it is Failed.

    Example::

        JobSensor(task_id="wait", job_name="train-{{ ds_nodash }}", cluster="ap-beijing", poke_interval=60)

    Created/Running jobs and transient API errors keep it poking; a job that does not exist fails it.
    With ``soft_fail=True`` a Failed job skips the task instead.

    :param job_name: Job name (templated).
    :param cluster: Cluster of the job (templated).
    :param tia_conn_id: Airflow connection id.
    :param region: Region overriding the connection's (templated).
    :param deferrable: Wait in the triggerer (``JobTrigger``), bounded by the sensor's ``timeout``.
    """

    template_fields = ("job_name", "cluster", "region")
    operator_extra_links = (TIAJobLink(),)

    def __init__(
        self,
        *,
        job_name: str,
        cluster: str,
        tia_conn_id: str = "tencentcloud_default",
        region: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.cluster = cluster
        self.tia_conn_id = tia_conn_id
        self.region = region
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> TIAHook:
        from airflow_provider_tia.hooks.tia import TIAHook

        return TIAHook(self.tia_conn_id, self.region)

    def _push_link(self, context: Context) -> None:
        region = self.region or self.hook.settings.region
        context["ti"].xcom_push(
            key=XCOM_KEY, value={"name": self.job_name, "cluster": self.cluster, "region": region}
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        try:
            job = self.hook.describe_job(self.job_name, self.cluster)
        except JobNotFound as error:
            raise JobNotFound(
                f"TI-A job {self.job_name} does not exist in {self.cluster}",
                code=error.code,
                request_id=error.request_id,
            ) from None
        except TransientError as error:
            self.log.warning("Could not read job %s (%s); will poke again", self.job_name, error)
            return False
        self.log.info("TI-A job %s is %s", job.name, job.state_name)
        return self._outcome(job)

    def _outcome(self, job: Job) -> bool | PokeReturnValue:
        if job.succeeded:
            return PokeReturnValue(is_done=True, xcom_value=job.to_dict())
        if job.failed:
            if self.soft_fail:
                raise AirflowSkipException(f"TI-A job {job.name} failed: {job.message or 'no message'}")
            raise JobFailed(job)
        return False

    def execute(self, context: Context) -> Any:
        self._push_link(context)
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.xcom_value
        from airflow_provider_tia.triggers.tia import JobTrigger

        timeout = self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else self.timeout
        self.defer(
            trigger=JobTrigger(
                job_name=self.job_name,
                cluster=self.cluster,
                tia_conn_id=self.tia_conn_id,
                region=self.region,
                poll_interval=float(self.poke_interval),
                deadline=time.time() + float(timeout),
                delete_on_kill=False,  # the sensor watches a job it does not own
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the outcome of the poking path."""
        from airflow_provider_tia.job import Job

        if event.get("status") in ("success", "failed") and event.get("job"):
            result = self._outcome(Job.from_api(event["job"]))
            if isinstance(result, PokeReturnValue):
                return result.xcom_value
        message = str(event.get("message") or "the trigger reported an error")
        if self.soft_fail:
            raise AirflowSkipException(message)
        if event.get("reason") == "timeout":
            raise AirflowSensorTimeout(message)
        raise TIAError(message)
