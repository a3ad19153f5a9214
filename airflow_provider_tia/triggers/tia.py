"""JobTrigger: waits in the triggerer for a TI-A job to finish, with the SDK's async client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_tia.exceptions import JobNotFound, TIAError, TransientError
from airflow_provider_tia.triggers.poller import ClusterPoller

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_tia.hooks.tia import AsyncTIAClient
    from airflow_provider_tia.job import Job

CLASSPATH = "airflow_provider_tia.triggers.tia.JobTrigger"
# Airflow 3.3+ calls BaseTrigger.on_kill() on user actions; older versions only cancel run().
HAS_ON_KILL = "on_kill" in BaseTrigger.__dict__
_USER_ACTION = "__airflow_user_action__"


async def read_job(client: AsyncTIAClient, name: str, cluster: str) -> Job:
    """The one read an unbatched trigger makes per poll.

    Example::

        job = await read_job(client, "test-job", "ap-beijing")  # JobNotFound when it is gone
    """
    return await client.describe_job(name, cluster)


class JobTrigger(BaseTrigger):
    """Polls a TI-A job until it is Succeeded or Failed, then fires exactly one event.

    The event is ``{"status": "success" | "failed" | "error", "job": dict | None, "message": str,
    "reason": "finished" | "timeout" | "vanished" | "api_error"}``. Transient API errors are retried
    until ``deadline``; reaching it gives an ``error`` event with reason ``timeout``.

    Example::

        JobTrigger(job_name="test-job", cluster="ap-beijing", poll_interval=30, deadline=time.time() + 3600)

    :param job_name: Job name.
    :param cluster: Cluster of the job.
    :param tia_conn_id: Airflow connection id (credentials are read in the triggerer, never serialised).
    :param region: Region overriding the connection's.
    :param poll_interval: Seconds between two reads of the job.
    :param deadline: Epoch seconds after which waiting stops, or None for no limit.
    :param delete_on_kill: Delete the job when a user kills the deferred task (``on_kill``).
    :param batched: Share one paged-ListJobs poller with the other triggers of this cluster in the
        triggerer (default); False reads this job alone with DescribeJob.
    """

    def __init__(
        self,
        job_name: str,
        cluster: str,
        tia_conn_id: str = "tencentcloud_default",
        region: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        delete_on_kill: bool = True,
        batched: bool = True,
    ) -> None:
        super().__init__()
        self.job_name = job_name
        self.cluster = cluster
        self.tia_conn_id = tia_conn_id
        self.region = region
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.delete_on_kill = delete_on_kill
        self.batched = batched

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "job_name": self.job_name,
                "cluster": self.cluster,
                "tia_conn_id": self.tia_conn_id,
                "region": self.region,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "delete_on_kill": self.delete_on_kill,
                "batched": self.batched,
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_tia.hooks.tia import TIAHook

        return TIAHook(self.tia_conn_id, self.region)

    def _event(self, status: str, job: Job | None, message: str, reason: str) -> TriggerEvent:
        return TriggerEvent(
            {"status": status, "job": job.to_dict() if job else None, "message": message, "reason": reason}
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            yield await self._watch()
        except asyncio.CancelledError as error:
            # Airflow < 3.3 has no on_kill(): stop the job only if the task left the deferred state
            # (a user action), not on a triggerer restart. 3.3+ calls on_kill() itself.
            user_action = bool(error.args) and error.args[0] == _USER_ACTION
            if not HAS_ON_KILL and not user_action and self.delete_on_kill and await self._safe_to_cancel():
                await self._delete()
            raise

    async def _watch(self) -> TriggerEvent:
        job: Job | None = None
        async with contextlib.aclosing(self._updates()) as updates:
            while True:
                wait = None if self.deadline is None else max(0.0, self.deadline - time.time())
                try:
                    update = await asyncio.wait_for(anext(updates), wait)
                except asyncio.TimeoutError:
                    message = f"TI-A job {self.job_name} in {self.cluster} did not finish before the deadline"
                    return self._event("error", job, message, "timeout")
                if isinstance(update, JobNotFound):
                    message = (
                        f"TI-A job {self.job_name} in {self.cluster} no longer exists: "
                        "it vanished (was deleted) while being watched"
                    )
                    return self._event("error", None, message, "vanished")
                if isinstance(update, TransientError):
                    self.log.warning("Could not read job %s (%s); will try again", self.job_name, update)
                    continue
                if isinstance(update, TIAError):
                    return self._event("error", job, str(update), "api_error")
                if job is None or job.state_name != update.state_name:  # log changes, not every poll
                    self.log.info("TI-A job %s is %s", self.job_name, update.state_name)
                job = update
                if job.succeeded:
                    return self._event("success", job, f"TI-A job {job.name} succeeded", "finished")
                if job.failed:
                    return self._event(
                        "failed", job, f"TI-A job {job.name} failed: {job.message or ''}", "finished"
                    )

    async def _updates(self) -> AsyncIterator[Job | TIAError]:
        """The job's state (or the error reading it), once per poll interval.

        Batched: from the cluster's shared ``ClusterPoller`` (one paged ListJobs for all the triggers
        watching that cluster in this triggerer). Otherwise: this trigger's own DescribeJob calls.
        """
        if self.batched:
            poller = ClusterPoller.shared(
                self.tia_conn_id, self.region, self.cluster, self.poll_interval, self._hook().async_client
            )
            async with contextlib.aclosing(poller.watch(self.job_name)) as shared:
                async for update in shared:
                    yield update
            return
        try:
            client = await self._hook().async_client()
        except TIAError as error:
            yield error
            return
        async with client:
            while True:
                try:
                    yield await read_job(client, self.job_name, self.cluster)
                except TIAError as error:
                    yield error
                await asyncio.sleep(self.poll_interval)

    async def _delete(self) -> bool:
        client = await self._hook().async_client()
        async with client:
            deleted = await client.delete_job(self.job_name, self.cluster)
        self.log.info("Deleted TI-A job %s in %s: %s", self.job_name, self.cluster, deleted)
        return deleted

    async def on_kill(self) -> None:
        """A user marked the deferred task failed/success or cleared it: delete (stop) the job."""
        if self.delete_on_kill:
            await self._delete()

    async def cleanup(self) -> None:
        """Runs on every exit, triggerer restarts included: the job is deliberately left alone."""

    async def _safe_to_cancel(self) -> bool:  # pragma: no cover - Airflow < 3.3 only
        """Whether the task is no longer deferred (a user action), as the amazon Glue trigger checks."""
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from airflow.utils.state import TaskInstanceState
        from asgiref.sync import sync_to_async

        ti = self.task_instance
        if ti is None:
            return False
        states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
        )
        return states.get(ti.run_id, {}).get(ti.task_id) != TaskInstanceState.DEFERRED
