"""What every job-watching trigger does, whatever the platform: one event, live logs, a kill.

``lifecycle.assess`` judges each read, ``JobEvent`` is the event, and ``resume`` (what the task
handed over, with the log position brought up to date) travels back in the event, so the task
resumes from it without XCom. A platform subclass says how to read its job, its logs and how to end it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_tia import lifecycle
from airflow_provider_tia.exceptions import TIAError, TransientError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

    from airflow_provider_tia.logs import AsyncLogFollower
    from airflow_provider_tia.triggers.poller import BatchPoller

# Airflow 3.3+ calls BaseTrigger.on_kill() on user actions; older versions only cancel run().
HAS_ON_KILL = "on_kill" in BaseTrigger.__dict__
_USER_ACTION = "__airflow_user_action__"
CHECKPOINT_KEY = "tia_log_checkpoint"  # XCom of the log position, so a restarted trigger prints no line twice


class JobWatchTrigger(BaseTrigger):
    """Polls a job until it ends, then fires exactly one event (``lifecycle.JobEvent.to_payload()``).

    The event has ``status`` (success, failed, error), ``reason`` (finished, timeout, vanished,
    api_error), ``message``, ``job`` and ``resume``. Transient API errors are retried until
    ``deadline``. With ``resume["logs"]`` (a log position), the job's new log lines are written to
    the task log as they arrive, once per poll.
    """

    poller_class: type[BatchPoller]

    def __init__(
        self,
        *,
        conn_id: str,
        region: str | None,
        poll_interval: float,
        deadline: float | None,
        budget: float | None,
        end_on_kill: bool,
        batched: bool,
        resume: dict[str, Any],
    ) -> None:
        super().__init__()
        self.conn_id, self.region, self.batched = conn_id, region, batched
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.budget = budget
        self.end_on_kill = end_on_kill
        self.resume = resume

    def platform_kwargs(self) -> dict[str, Any]:
        """The subclass's own constructor arguments (the job, the connection, the kill), for ``serialize``."""
        raise NotImplementedError

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                **self.platform_kwargs(),
                "region": self.region,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "batched": self.batched,
                "budget": self.budget,
                "resume": self.resume,
            },
        )

    @property
    def label(self) -> str:
        raise NotImplementedError

    @property
    def scope(self) -> str:
        """What one shared poller covers (TI-A: a cluster)."""
        raise NotImplementedError

    @property
    def watch_name(self) -> str:
        """The job's name in its poller."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            yield TriggerEvent((await self._watch()).to_payload())
        except asyncio.CancelledError as error:
            # Airflow < 3.3 has no on_kill(): stop the job only if the task left the deferred state
            # (a user action), not on a triggerer restart. 3.3+ calls on_kill() itself.
            user_action = bool(error.args) and error.args[0] == _USER_ACTION
            if not HAS_ON_KILL and not user_action and self.end_on_kill and await self._safe_to_cancel():
                await self._end_job()
            raise

    async def _watch(self) -> lifecycle.JobEvent:
        deadline = lifecycle.Deadline(self.deadline)
        job: Any = None
        async with contextlib.AsyncExitStack() as stack:
            follower = await self._follower(stack)
            updates = await stack.enter_async_context(contextlib.aclosing(self._updates()))
            while True:
                try:
                    update = await asyncio.wait_for(anext(updates), deadline.remaining())
                except asyncio.TimeoutError:
                    return self._with_resume(lifecycle.timed_out(self.label, self.budget, job), follower)
                if isinstance(update, TransientError):
                    lifecycle.note_transient(self.log, self.label, update)
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

    async def _updates(self) -> AsyncGenerator[Any, None]:
        """The job (or the ``TIAError`` reading it), once per poll interval, until the caller stops.

        Batched: from the shared ``poller_class`` of this scope (one batched read for all the triggers
        watching that scope in this triggerer). Otherwise: this trigger's own reads of its job.
        """
        if self.batched:
            poller = self.poller_class.shared(
                self.conn_id, self.region, self.scope, self.poll_interval, self._client
            )
            async with contextlib.aclosing(poller.watch(self.watch_name)) as shared:
                async for update in shared:
                    yield update
            return
        try:
            client = await self._client()
        except TIAError as error:
            yield error
            return
        async with client:
            while True:
                try:
                    yield await self._describe(client)
                except TIAError as error:
                    yield error
                await asyncio.sleep(self.poll_interval)

    async def _client(self) -> Any:
        """An async API client of the platform (an async context manager)."""
        raise NotImplementedError

    async def _describe(self, client: Any) -> Any:
        """One read of the job (unbatched)."""
        raise NotImplementedError

    def _log_reader(self, client: Any, state: dict[str, Any] | None) -> Any:
        raise NotImplementedError

    async def _end_job(self) -> None:
        """End the job (stop or delete, as the task asked) when a user kills the deferred task."""
        raise NotImplementedError

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
            client = await stack.enter_async_context(await self._client())
        except TIAError as error:
            self.log.warning("Logs of %s will be printed when the task resumes (%s)", self.label, error)
            return None
        reader = self._log_reader(client, state.get("reader"))
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
    async def on_kill(self) -> None:
        """A user marked the deferred task failed/success or cleared it: end the job."""
        if self.end_on_kill:
            await self._end_job()

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
