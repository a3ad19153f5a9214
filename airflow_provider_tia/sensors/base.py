"""What every job-watching sensor does, whatever the platform (a thin adapter over ``lifecycle``).

The engines (``lifecycle``, the error types) are imported where a sensor runs, not where a DAG file
builds it.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.compat import AirflowSensorTimeout, BaseSensorOperator, PokeReturnValue
from airflow_provider_tia.task_base import TencentCloudBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class JobWatchSensor(TencentCloudBaseOperator, BaseSensorOperator):
    """Succeeds when the watched job succeeded (its dict is the XCom return value); fails when it failed.

    Running jobs and transient API errors keep it waiting, within the sensor's ``timeout``; a job
    that does not exist fails it. ``soft_fail=True`` skips the task instead of failing it (Airflow's
    ``BaseSensorOperator`` applies it, also to a deferred sensor's timeout). With ``deferrable`` it
    waits in the triggerer. A platform sensor says how to read its job (``describe_watched``), which
    trigger watches it (``trigger_class_path``) and the job's arguments of that trigger and of the
    link (``watched``).

    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    """

    deferrable: bool
    trigger_class_path = ""

    @property
    def label(self) -> str:
        raise NotImplementedError

    def describe_watched(self) -> Any:
        raise NotImplementedError

    @property
    def watched(self) -> dict[str, str]:
        """The watched job's arguments of the trigger (and of the link)."""
        raise NotImplementedError

    @property
    def watched_key(self) -> Any:
        """The watched job's typed key (``models``' ``JobKey``), the trigger's ``key``."""
        raise NotImplementedError

    def watch_trigger(self, deadline: float | None, budget: float) -> BaseTrigger:
        """The trigger that waits for the job (it never ends the job: the sensor does not own it)."""
        module, _, name = self.trigger_class_path.rpartition(".")
        trigger_class = getattr(importlib.import_module(module), name)
        return trigger_class(
            self.watched_key,
            tencentcloud_conn_id=self.tencentcloud_conn_id,
            region=self.region,
            poll_interval=float(self.poke_interval),
            deadline=deadline,
            budget=budget,
            kill_action=EndAction.LEAVE.value,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_tia import lifecycle
        from airflow_provider_tia.exceptions import JobNotFound, TransientError, WatchedJobFailed

        try:
            job = self.describe_watched()
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
        from airflow_provider_tia.lifecycle import Deadline

        self.push_link(context, **self.watched)
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.xcom_value
        budget = self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else float(self.timeout)
        self.defer(
            trigger=self.watch_trigger(Deadline.after(budget).at, budget),
            method_name="execute_complete",
            timeout=timedelta(seconds=budget),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """The trigger's event -> the job dict, or the error (``soft_fail`` is applied by the base class)."""
        from airflow_provider_tia import lifecycle
        from airflow_provider_tia.exceptions import WatchedJobFailed

        self.push_link(context, **self.watched)  # this worker's operator is new: the link is published again
        return lifecycle.finish(
            lifecycle.JobEvent.from_payload(event),
            timeout_error=AirflowSensorTimeout,
            failed_error=WatchedJobFailed,
        )
