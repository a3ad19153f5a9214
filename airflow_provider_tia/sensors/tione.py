"""TrainingTaskSensor: waits for an existing TI-ONE training task to succeed (``JobWatchSensor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from airflow_provider_tia.links.tione import TIONETaskLink
from airflow_provider_tia.sensors.base import JobWatchSensor

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.training_task import TrainingTask


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
