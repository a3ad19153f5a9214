"""TrainingTaskTrigger: waits in the triggerer for a TI-ONE training task, streaming its logs.

The waiting, the event, the live logs and the kill are ``JobWatchTrigger``'s (shared with TI-A);
this module says how to read, stop and delete a training task, and how one sweep reads many.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia import ending
from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.exceptions import JobNotFound, TencentCloudError
from airflow_provider_tia.models.tione.training_task import TrainingTaskKey
from airflow_provider_tia.triggers.base import taken_key
from airflow_provider_tia.triggers.poller import BatchPoller
from airflow_provider_tia.triggers.tione.base import TIONETrigger

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_tia.hooks.tione import AsyncTIONEClient, AsyncTIONELogReader
    from airflow_provider_tia.models.tione.training_task import TrainingTask
    from airflow_provider_tia.triggers.log_clients import LogCalls


class RegionTaskPoller(BatchPoller):
    """TI-ONE: the watched tasks of one region, read with DescribeTrainingTasks (Id filter, 50 a page).

    A task the listing does not return (just created, or deleted) is read with DescribeTrainingTask,
    which also tells a deleted task (not found) from a listing that lags.
    """

    async def _read(self, client: AsyncTIONEClient, names: set[str]) -> dict[str, Any] | None:
        try:
            listed = await client.find_training_tasks(ids=sorted(names))
        except TencentCloudError as error:
            self._deliver_all(error)
            return None
        found: dict[str, Any] = {task.id: task for task in listed if task.id in names}
        missing = [task_id for task_id in names if task_id not in found]
        if missing:
            await self._describe_each(missing, client.describe_training_task, found)
        return found


class TrainingTaskTrigger(TIONETrigger):
    """Polls a TI-ONE training task until it ends (SUCCEED, FAILED, STOPPED, SUBMIT_FAILED), then
    fires one event (see ``JobWatchTrigger``).

    Example::

        TrainingTaskTrigger(TrainingTaskKey("my-task", "train-1208038387393233920"), poll_interval=30)

    :param key: The task (``TrainingTaskKey`` with its Id) or its JSON form; the event's
        ``resume["key"]`` carries it back to the task.
    :param kill_action: What a user killing the deferred task does (``EndAction``): "stop" (default),
        "delete" or "leave".
    :param common: ``JobWatchTrigger``'s keywords (connection, region, interval, deadline, budget, batched,
        resume, not_before); ``batched`` shares one DescribeTrainingTasks poller per region.

    A trigger serialized by an earlier release (``training_task_id``, the key in ``resume["key"]``)
    still loads.
    """

    poller_class = RegionTaskPoller
    key: TrainingTaskKey

    def __init__(
        self,
        key: TrainingTaskKey | Mapping[str, Any] | None = None,
        *,
        kill_action: EndAction | str = EndAction.STOP,
        resume: dict[str, Any] | None = None,
        training_task_id: str | None = None,
        **common: Any,
    ) -> None:
        earlier = {"id": training_task_id, "name": training_task_id}
        typed, resume = taken_key("TrainingTaskTrigger", TrainingTaskKey, key, resume, earlier, ("id",))
        super().__init__(key=typed, kill_action=kill_action, resume=resume, **common)

    @property
    def training_task_id(self) -> str:
        return self.key.task_id

    @property
    def watch_name(self) -> str:
        return self.training_task_id

    async def _describe(self, client: AsyncTIONEClient) -> TrainingTask:
        return await client.describe_training_task(self.training_task_id)

    def _log_reader(self, calls: LogCalls, state: dict[str, Any] | None) -> AsyncTIONELogReader:
        from airflow_provider_tia.hooks.tione import AsyncTIONELogReader

        return AsyncTIONELogReader.resumed(calls.call, self.training_task_id, state)

    async def _end_job(self) -> None:
        """``ending.end_training_task`` with the kill action: the plan a worker's kill runs too."""
        action = self.kill_action
        async with await self._client() as client:

            async def read() -> TrainingTask | None:
                try:
                    return await client.describe_training_task(self.training_task_id)
                except JobNotFound:
                    return None

            calls = {
                "stop": lambda: client.stop_training_task(self.training_task_id),
                "delete": lambda: client.delete_training_task(self.training_task_id),
                "read": read,
            }
            plan = ending.end_training_task(action, lambda note: self.log.info("%s: %s", self.label, note))
            await ending.adrive(plan, calls)
        self.log.info("%s was %s", self.label, action.past)
