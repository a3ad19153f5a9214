"""TrainingTaskSensor: waits for an existing TI-ONE training task to succeed (``JobWatchSensor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia.compat import conf
from airflow_provider_tia.links.tione import TIONETaskLink
from airflow_provider_tia.sensors.base import JobWatchSensor

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.training_task import TrainingTask, TrainingTaskKey


class TrainingTaskSensor(JobWatchSensor):
    """Succeeds when the training task is SUCCEED (its dict is the XCom return value); fails when it
    is FAILED, SUBMIT_FAILED or STOPPED. Poke, reschedule (``mode="reschedule"``) or deferrable.

    Example::

        TrainingTaskSensor(task_id="wait", training_task_id="train-1208038387393233920", poke_interval=60)

    :param training_task_id: The task's Id, ``train-…`` (templated).
    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    :param deferrable: Wait in the triggerer (``TrainingTaskTrigger``), bounded by the sensor's ``timeout``.
    """

    template_fields = ("training_task_id", "region")
    operator_extra_links = (TIONETaskLink(),)
    hook_class_path = "airflow_provider_tia.hooks.tione.TIONEHook"
    trigger_class_path = "airflow_provider_tia.triggers.tione.TrainingTaskTrigger"
    if TYPE_CHECKING:
        hook: TIONEHook

    def __init__(
        self,
        *,
        training_task_id: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.training_task_id = training_task_id
        self.deferrable = deferrable

    @property
    def label(self) -> str:
        return f"TI-ONE training task {self.training_task_id}"

    def describe_watched(self) -> TrainingTask:
        return self.hook.describe_training_task(self.training_task_id)

    @property
    def watched(self) -> dict[str, str]:
        return {"training_task_id": self.training_task_id}

    @property
    def watched_key(self) -> TrainingTaskKey:
        from airflow_provider_tia.models.tione.training_task import TrainingTaskKey

        return TrainingTaskKey(self.training_task_id, self.training_task_id)


# ------------------------------------------------------------------------------------ online services
from airflow_provider_tia.links.tione import ModelServiceLink  # noqa: E402

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_tia.models.tione.service_state import Rollout, RolloutWatch


class ModelServiceSensor(JobWatchSensor):
    """Succeeds when a TI-ONE service group serves ``model_version_id`` (any version when None): Normal,
    that version, its replicas updated and available; the judged service's dict (secrets masked) is the
    XCom return value. Fails when the service is stopped (or its creation failed), or stays Abnormal
    longer than ``abnormal_grace``. Poke, reschedule or deferrable (``ModelServiceTrigger``, one batched
    reader per connection and region in the triggerer).

    Example::

        ModelServiceSensor(task_id="serving", service_group_id="ms-skdg89rx",
                           model_version_id="{{ ti.xcom_pull('register')['TrainingModelVersionId'] }}")

    The Abnormal spell is timed in the sensor's process: in ``mode="reschedule"`` each poke starts afresh,
    so there an Abnormal service fails the wait only when ``abnormal_grace`` is 0.

    :param service_group_id: The group, ``ms-…`` (templated).
    :param model_version_id: The model version it must serve, ``mv-…`` (templated); None: any.
    :param service_id: Judge this service (version) of the group, ``ms-…-<n>`` (templated).
    :param abnormal_grace: Seconds an Abnormal service may take to recover (default 300).
    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    :param deferrable: Wait in the triggerer, bounded by the sensor's ``timeout``.
    """

    template_fields = ("service_group_id", "model_version_id", "service_id", "region")
    operator_extra_links = (ModelServiceLink(),)
    hook_class_path = "airflow_provider_tia.hooks.tione.TIONEHook"
    if TYPE_CHECKING:
        hook: TIONEHook

    def __init__(
        self,
        *,
        service_group_id: str,
        model_version_id: str | None = None,
        service_id: str | None = None,
        abnormal_grace: float = 300.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service_group_id, self.model_version_id, self.service_id = (
            service_group_id,
            model_version_id,
            service_id,
        )
        self.abnormal_grace = float(abnormal_grace)
        self.deferrable = deferrable
        self._rollout: RolloutWatch | None = None

    @property
    def rollout(self) -> RolloutWatch:
        """The watch of this execution (made after rendering; it times an Abnormal spell across pokes)."""
        if self._rollout is None:
            from airflow_provider_tia.models.tione.service_state import RolloutWatch

            self._rollout = RolloutWatch(
                self.service_group_id,
                self.model_version_id or None,
                self.service_id or None,
                self.abnormal_grace,
            )
        return self._rollout

    @property
    def label(self) -> str:
        return self.rollout.label

    def describe_watched(self) -> Rollout:
        import time

        return self.rollout.observe(
            self.hook.describe_model_service_group(self.service_group_id), time.monotonic()
        )

    @property
    def watched(self) -> dict[str, str]:
        return {
            "service_group_id": self.service_group_id,
            **({"service_id": self.service_id} if self.service_id else {}),
        }

    def watch_trigger(self, deadline: float | None, budget: float) -> BaseTrigger:
        from airflow_provider_tia.triggers.tione.services import ModelServiceTrigger

        return ModelServiceTrigger(
            self.service_group_id,
            self.model_version_id or None,
            self.service_id or None,
            self.abnormal_grace,
            tencentcloud_conn_id=self.tencentcloud_conn_id,
            region=self.region,
            poll_interval=float(self.poke_interval),
            deadline=deadline,
            budget=budget,
        )
