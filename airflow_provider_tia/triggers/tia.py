"""JobTrigger: waits in the triggerer for a TI-A job to finish, streaming its logs into the task log.

The trigger is a thin adapter: ``lifecycle.assess`` judges each read, ``JobEvent`` is the event, and
``resume`` (what the operator handed over, with the log position brought up to date) travels back
in the event, so the task resumes from it without XCom.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_tia import lifecycle
from airflow_provider_tia.exceptions import TIAError, TransientError
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.job import job_label
from airflow_provider_tia.triggers.poller import ClusterPoller

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

    from airflow_provider_tia.job import Job
    from airflow_provider_tia.logs import AsyncLogFollower

CLASSPATH = "airflow_provider_tia.triggers.tia.JobTrigger"
# Airflow 3.3+ calls BaseTrigger.on_kill() on user actions; older versions only cancel run().
HAS_ON_KILL = "on_kill" in BaseTrigger.__dict__
_USER_ACTION = "__airflow_user_action__"
CHECKPOINT_KEY = "tia_log_checkpoint"  # XCom of the log position, so a restarted trigger prints no line twice


class JobTrigger(BaseTrigger):
    """Polls a TI-A job until it is Succeeded or Failed, then fires exactly one event.

    The event is ``lifecycle.JobEvent.to_payload()``: ``status`` (success, failed, error), ``reason``
    (finished, timeout, vanished, api_error), ``message``, ``job`` and ``resume``. Transient API errors
    are retried until ``deadline``. With ``resume["logs"]`` (a log position), the job's new log lines
    are written to the task log as they arrive, once per poll.

    Example::

        JobTrigger(job_name="test-job", cluster="ap-beijing", poll_interval=30, deadline=time.time() + 3600)

    :param job_name: Job name.
    :param cluster: Cluster of the job.
    :param tia_conn_id: Airflow connection id (credentials are read in the triggerer, never serialised).
    :param region: Region overriding the connection's.
    :param poll_interval: Seconds between two reads of the job (and of its logs).
    :param deadline: Epoch seconds after which waiting stops (``lifecycle.Deadline``), or None.
    :param budget: The task's budget in seconds, for the timeout message.
    :param delete_on_kill: Delete the job when a user kills the deferred task (``on_kill``).
    :param batched: Share one paged-ListJobs poller with the other triggers of this cluster in the
        triggerer (default); False reads this job alone with DescribeJob.
    :param resume: What the task needs when it resumes; echoed in the event (``logs`` kept current).
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
        budget: float | None = None,
        resume: dict[str, Any] | None = None,
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
        self.budget = budget
        self.resume = dict(resume or {"name": job_name, "cluster": cluster})

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
                "budget": self.budget,
                "resume": self.resume,
            },
        )

    @property
    def label(self) -> str:
        return job_label(self.job_name, self.cluster)

    def _hook(self) -> TIAHook:
        return TIAHook(self.tia_conn_id, self.region)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            yield TriggerEvent((await self._watch()).to_payload())
        except asyncio.CancelledError as error:
            # Airflow < 3.3 has no on_kill(): stop the job only if the task left the deferred state
            # (a user action), not on a triggerer restart. 3.3+ calls on_kill() itself.
            user_action = bool(error.args) and error.args[0] == _USER_ACTION
            if not HAS_ON_KILL and not user_action and self.delete_on_kill and await self._safe_to_cancel():
                await self._delete()
            raise

    async def _watch(self) -> lifecycle.JobEvent:
        deadline = lifecycle.Deadline(self.deadline)
        job: Job | None = None
        async with contextlib.AsyncExitStack() as stack:
            follower = await self._follower(stack)
            updates = await stack.enter_async_context(contextlib.aclosing(self._updates()))
            while True:
                try:
                    update = await asyncio.wait_for(anext(updates), deadline.remaining())
                except asyncio.TimeoutError:
                    return self._with_resume(lifecycle.timed_out(self.label, self.budget, job), follower)
                if isinstance(update, TransientError):
                    self.log.warning("Could not read %s (%s); will try again", self.label, update)
                elif not isinstance(update, TIAError):
                    if job is None or job.state_name != update.state_name:  # log changes, not every poll
                        self.log.info("%s is %s", self.label, update.state_name)
                    job = update
                await self._follow_logs(follower)
                event = lifecycle.assess(update, self.label)
                if event is not None:
                    return self._with_resume(event, follower)

    def _with_resume(
        self, event: lifecycle.JobEvent, follower: AsyncLogFollower | None
    ) -> lifecycle.JobEvent:
        resume = {**self.resume, "logs": follower.state()} if follower is not None else self.resume
        return lifecycle.JobEvent(event.status, event.reason, event.message, event.job, resume)

    async def _updates(self) -> AsyncGenerator[Job | TIAError, None]:
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
                    yield await client.describe_job(self.job_name, self.cluster)
                except TIAError as error:
                    yield error
                await asyncio.sleep(self.poll_interval)

    # --------------------------------------------------------------------------------------- logs
    async def _follower(self, stack: contextlib.AsyncExitStack) -> AsyncLogFollower | None:
        """A live log follower when the task asked for logs, from the newest of its position and the checkpoint."""
        state = self.resume.get("logs")
        if state is None:
            return None
        from airflow_provider_tia.logs import AsyncLogFollower, LogCursor

        cursor = LogCursor.from_state(state)
        checkpoint = await self._read_checkpoint()
        if checkpoint is not None and cursor.is_behind(LogCursor.from_state(checkpoint)):
            state, cursor = checkpoint, LogCursor.from_state(checkpoint)
        try:
            client = await stack.enter_async_context(await self._hook().async_client())
        except TIAError as error:
            self.log.warning("Logs of %s will be printed when the task resumes (%s)", self.label, error)
            return None
        reader = client.log_reader(self.job_name, self.cluster, state.get("reader"))
        return AsyncLogFollower(reader, cursor, self.log.info)

    async def _follow_logs(self, follower: AsyncLogFollower | None) -> None:
        """New log lines into the task log (best effort: the job's state decides, not its logs)."""
        if follower is None:
            return
        try:
            printed = await follower.poll()
        except TIAError as error:
            self.log.warning("Could not read the logs of %s (%s); will try again", self.label, error)
            return
        if printed:
            await self._write_checkpoint(follower.state())

    def _xcom_address(self) -> dict[str, Any] | None:
        ti = self.task_instance
        if ti is None:
            return None
        return {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id, "map_index": ti.map_index}

    async def _read_checkpoint(self) -> dict[str, Any] | None:
        address = self._xcom_address()
        if address is None:
            return None
        try:
            from airflow.sdk.execution_time.xcom import XCom

            value = await XCom.aget_one(key=CHECKPOINT_KEY, **address)
        except Exception as error:  # a checkpoint only avoids repeats; never a reason to fail
            self.log.debug("No log checkpoint readable (%s)", error)
            return None
        return value if isinstance(value, dict) and value.get("since") else None

    async def _write_checkpoint(self, state: dict[str, Any]) -> None:
        address = self._xcom_address()
        if address is None:
            return
        try:
            from airflow.sdk.execution_time.xcom import XCom

            await XCom.aset(CHECKPOINT_KEY, state, **address)
        except Exception as error:
            self.log.debug("Could not checkpoint the log position (%s)", error)

    # --------------------------------------------------------------------------------------- kill
    async def _delete(self) -> bool:
        async with await self._hook().async_client() as client:
            deleted = await client.delete_job(self.job_name, self.cluster)
        self.log.info("Deleted %s: %s", self.label, deleted)
        return deleted

    async def on_kill(self) -> None:
        """A user marked the deferred task failed/success or cleared it: delete (stop) the job."""
        if self.delete_on_kill:
            await self._delete()

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
