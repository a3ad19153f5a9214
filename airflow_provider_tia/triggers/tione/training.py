"""TrainingTaskTrigger: waits in the triggerer for a TI-ONE training task, streaming its logs.

The waiting, the event, the live logs and the kill are ``JobWatchTrigger``'s (shared with TI-A);
this module says how to read, stop and delete a training task, and how one sweep reads many.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia import ending
from airflow_provider_tia.ending import EndAction
from airflow_provider_tia.exceptions import JobNotFound, TencentCloudError
from airflow_provider_tia.triggers.base import JobWatchTrigger
from airflow_provider_tia.triggers.poller import BatchPoller

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tione import AsyncTIONEClient, AsyncTIONELogReader, TIONEHook
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


class TrainingTaskTrigger(JobWatchTrigger):
    """Polls a TI-ONE training task until it ends (SUCCEED, FAILED, STOPPED, SUBMIT_FAILED), then
    fires one event (see ``JobWatchTrigger``).

    Example::

        TrainingTaskTrigger(training_task_id="train-1208038387393233920", poll_interval=30)

    :param training_task_id: The task's Id.
    :param tencentcloud_conn_id: Airflow connection id (credentials are read in the triggerer).
    :param region: Region overriding the connection's.
    :param poll_interval: Seconds between two reads of the task (and of its logs).
    :param deadline: Epoch seconds after which waiting stops (``lifecycle.Deadline``), or None.
    :param budget: The task's budget in seconds, for the timeout message.
    :param kill_action: What a user killing the deferred task does (``EndAction``): "stop", "delete"
        or "leave".
    :param batched: Share one DescribeTrainingTasks poller per region in the triggerer (default).
    :param resume: What the task needs when it resumes; echoed in the event (``logs`` kept current).
    :param not_before: Epoch seconds before which no event fires (default: the deferral plus
        ``[tencentcloud] min_trigger_event_delay``, against Airflow's fast-trigger scheduler race).
    """

    poller_class = RegionTaskPoller

    def __init__(
        self,
        training_task_id: str,
        tencentcloud_conn_id: str = "tencentcloud_default",
        region: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        kill_action: EndAction | str = EndAction.STOP,
        batched: bool = True,
        budget: float | None = None,
        resume: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__(
            tencentcloud_conn_id=tencentcloud_conn_id,
            region=region,
            poll_interval=poll_interval,
            deadline=deadline,
            budget=budget,
            kill_action=EndAction(kill_action),
            batched=batched,
            not_before=not_before,
            resume=dict(resume or {"key": {"id": training_task_id, "name": training_task_id}}),
        )
        self.training_task_id = training_task_id

    def platform_kwargs(self) -> dict[str, Any]:
        return {"training_task_id": self.training_task_id}

    @property
    def label(self) -> str:
        name = (self.resume.get("key") or {}).get("name") or self.training_task_id
        return f"TI-ONE training task {name} ({self.training_task_id})"

    @property
    def scope(self) -> str:
        return self.region or ""

    @property
    def watch_name(self) -> str:
        return self.training_task_id

    def _hook(self) -> TIONEHook:
        from airflow_provider_tia.hooks.tione import TIONEHook

        return TIONEHook(self.tencentcloud_conn_id, self.region)

    async def _client(self) -> AsyncTIONEClient:
        return await self._hook().async_client()

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
