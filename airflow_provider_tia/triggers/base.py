"""What every job-watching trigger does, whatever the platform: one event, live logs, a kill.

``lifecycle.assess`` judges each read, ``JobEvent`` is the event, and ``resume`` (what the task
handed over, with the log position brought up to date, and the job's key, which the trigger takes
once) travels back in the event, so the task resumes from it without XCom. The job's state alone
decides the event; live logs are followed beside it (``live_logs``) through one shared client per
platform, connection and region (``log_clients``).
A platform subclass says how to read its job, its logs and how to end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_tia import lifecycle
from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.compat import task_instance_state, trigger_has_on_kill
from airflow_provider_tia.exceptions import TencentCloudError, TransientError
from airflow_provider_tia.triggers.live_logs import LiveLogs, LogCheckpoint, drain_bound
from airflow_provider_tia.triggers.log_clients import shared_log_client

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

    from airflow_provider_tia.logs import AsyncLogReader
    from airflow_provider_tia.models.common import JobKey
    from airflow_provider_tia.triggers.log_clients import LogCalls
    from airflow_provider_tia.triggers.poller import BatchPoller

KeyT = TypeVar("KeyT", bound="JobKey")

HAS_ON_KILL = trigger_has_on_kill()
MIN_EVENT_DELAY = 30.0  # default of [tencentcloud] min_trigger_event_delay (seconds)


def min_event_delay() -> float:
    """Seconds a trigger waits after the deferral before it fires (``[tencentcloud] min_trigger_event_delay``).

    A trigger that fires within seconds of the deferral can meet Airflow's scheduler race, in which the
    stale executor "success" of the deferring try fails the resumed task (apache/airflow #67287, #71580).
    """
    from airflow_provider_tia.compat import conf

    return conf.getfloat("tencentcloud", "min_trigger_event_delay", fallback=MIN_EVENT_DELAY)


def taken_key(
    trigger: str,
    key_type: type[KeyT],
    key: KeyT | Mapping[str, Any] | None,
    resume: Mapping[str, Any] | None,
    earlier: Mapping[str, Any],
    needs: tuple[str, ...],
) -> tuple[KeyT, dict[str, Any]]:
    """A job trigger's key (the typed key or its JSON form) and the task's ``resume`` without a key.

    A trigger stored by an earlier release took its job twice: as its own arguments (``earlier``: the
    key fields they name) and as ``resume["key"]``, which wins where both say. ``needs``: the fields the
    trigger reads the job by. Bad input raises ``ValueError`` naming ``key``.
    """
    rest = dict(resume or {})
    carried = rest.pop("key", None) or {}
    if key is None:
        key = {**{name: value for name, value in earlier.items() if value is not None}, **carried}
    typed: KeyT | None = None
    if isinstance(key, key_type):
        typed = key
    elif isinstance(key, Mapping):
        with contextlib.suppress(TypeError):
            typed = key_type.from_json(key)
    if typed is None or not all(
        isinstance(value, str) and value for value in (getattr(typed, n) for n in needs)
    ):
        raise ValueError(
            f"{trigger}: key must be a {key_type.__name__} (or its JSON form) with {' and '.join(needs)}; "
            f"got {key!r}"
        )
    return typed, rest


class JobWatchTrigger(BaseTrigger):
    """Polls a job until it ends, then fires exactly one event (``lifecycle.JobEvent.to_payload()``).

    The event has ``status`` (success, failed, error), ``reason`` (finished, timeout, vanished,
    api_error), ``message``, ``job`` and ``resume`` (the task's, with ``echoed()``: a job trigger's
    ``key``, which the trigger alone carries). Transient API errors are retried until ``deadline``.
    With ``resume["logs"]`` (a log position), the job's new log lines are written to the task log as
    they arrive (at most once per poll, within the triggerer's log budget); the event waits for the last
    ones for at most ``live_logs.drain_bound`` and carries the position reached.

    :param key: The watched job's typed key (a service wait has none).
    :param tencentcloud_conn_id: Airflow connection id (credentials are read in the triggerer).
    :param region: Region overriding the connection's.
    :param poll_interval: Seconds between two reads.
    :param deadline: Epoch seconds after which waiting stops (``lifecycle.Deadline``), or None.
    :param budget: The task's budget in seconds, for the timeout message.
    :param kill_action: What a user killing the deferred task does (``EndAction``).
    :param batched: Share one poller per connection and region in the triggerer (default).
    :param resume: What the task needs when it resumes; echoed in the event.
    :param not_before: Epoch seconds before which no event fires (default: the deferral plus
        ``[tencentcloud] min_trigger_event_delay``, against Airflow's fast-trigger scheduler race).
    """

    poller_class: type[BatchPoller]

    def __init__(
        self,
        *,
        key: JobKey | None = None,
        tencentcloud_conn_id: str = "tencentcloud_default",
        region: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        budget: float | None = None,
        kill_action: EndAction | str = EndAction.LEAVE,
        batched: bool = True,
        resume: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.key = key  # the watched job's key (None: not a job, e.g. a service wait)
        self.tencentcloud_conn_id, self.region, self.batched = tencentcloud_conn_id, region, batched
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.budget = budget
        self.kill_action = EndAction(kill_action)
        self.resume = dict(resume or {})
        self._run_id = uuid.uuid4().hex  # this run of the trigger, as the owner of the log checkpoint
        # Made in the worker at the deferral, then carried by serialize(): the earliest event time.
        self.not_before = time.time() + min_event_delay() if not_before is None else float(not_before)

    def platform_kwargs(self) -> dict[str, Any]:
        """The subclass's own constructor arguments besides ``key``, for ``serialize``."""
        return {}

    def echoed(self) -> dict[str, Any]:
        """What the event's ``resume`` carries of the trigger's own arguments: the job's key, which the
        resumed task reads (the task hands over only what it alone knows)."""
        return {} if self.key is None else {"key": self.key.to_json()}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                **({} if self.key is None else {"key": self.key.to_json()}),
                **self.platform_kwargs(),
                "tencentcloud_conn_id": self.tencentcloud_conn_id,
                "kill_action": self.kill_action.value,
                "region": self.region,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "batched": self.batched,
                "budget": self.budget,
                "resume": self.resume,
                "not_before": self.not_before,
            },
        )

    @property
    def label(self) -> str:
        if self.key is None:
            raise NotImplementedError
        return self.key.label

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
            event = await self._watch()
            wait = self.not_before - time.time()
            if wait > 0:
                self.log.info(
                    "%s: the event fires in %.0f s ([tencentcloud] min_trigger_event_delay)", self.label, wait
                )
                await asyncio.sleep(wait)
            yield TriggerEvent(event.to_payload())
        except asyncio.CancelledError:
            # Airflow < 3.3 has no on_kill(): any cancel may be a user action (or a restart, or a
            # move to another triggerer); on_kill ends the job only if the task left the deferred state.
            if not HAS_ON_KILL:
                await self.on_kill()
            raise

    async def _watch(self) -> lifecycle.JobEvent:
        deadline = lifecycle.Deadline(self.deadline)
        job: Any = None
        async with contextlib.AsyncExitStack() as stack:
            logs = await self._live_logs(stack)
            updates = await stack.enter_async_context(contextlib.aclosing(self._updates()))
            while True:
                try:
                    update = await asyncio.wait_for(anext(updates), deadline.remaining())
                except asyncio.TimeoutError:
                    event = lifecycle.timed_out(self.label, self.budget, job)
                    break
                if isinstance(update, TransientError):
                    lifecycle.note_transient(self.log, self.label, update)
                elif not isinstance(update, TencentCloudError):
                    if job is None or job.state_name != update.state_name:  # log changes, not every poll
                        self.log.info("%s is %s", self.label, update.state_name)
                    job = update
                judged = lifecycle.assess(update, self.label)
                if judged is not None:
                    event = judged
                    break
            if logs is None:
                return self._with_logs(event, None)
            await logs.finish(drain_bound(self.poll_interval))
            return self._with_logs(event, logs.position)

    def _with_logs(self, event: lifecycle.JobEvent, position: dict[str, Any] | None) -> lifecycle.JobEvent:
        """The event with ``echoed()`` and the log position reached (none when another run took the logs
        over: the task's own position then, and the resumed task reads on from the newer checkpoint)."""
        resume = {**self.resume, **self.echoed(), **({} if position is None else {"logs": position})}
        return lifecycle.JobEvent(event.status, event.reason, event.message, event.job, resume)

    async def _updates(self) -> AsyncGenerator[Any, None]:
        """The job (or the ``TencentCloudError`` reading it), once per poll interval, until the caller stops.

        Batched: from the shared ``poller_class`` of this scope (one batched read for all the triggers
        watching that scope in this triggerer). Otherwise: this trigger's own reads of its job.
        """
        if self.batched:
            poller = self.poller_class.shared(
                self.tencentcloud_conn_id, self.region, self.scope, self.poll_interval, self._client
            )
            async with contextlib.aclosing(poller.watch(self.watch_name)) as shared:
                async for update in shared:
                    yield update
            return
        try:
            client = await self._client()
        except TencentCloudError as error:
            yield error
            return
        async with client:
            while True:
                try:
                    yield await self._describe(client)
                except TencentCloudError as error:
                    yield error
                await asyncio.sleep(self.poll_interval)

    async def _client(self) -> Any:
        """An async API client of the platform (an async context manager)."""
        raise NotImplementedError

    async def _describe(self, client: Any) -> Any:
        """One read of the job (unbatched)."""
        raise NotImplementedError

    def _log_reader(self, calls: LogCalls, state: dict[str, Any] | None) -> AsyncLogReader:
        """A reader of the job's logs making its calls through ``calls`` (``state``: ``reader.state()``)."""
        raise NotImplementedError

    async def _end_job(self) -> None:
        """End the job as ``kill_action`` says when a user kills the deferred task."""
        raise NotImplementedError

    # --------------------------------------------------------------------------------------- logs
    async def _live_logs(self, stack: contextlib.AsyncExitStack) -> LiveLogs | None:
        """Live logs when the task asked for them (``resume["logs"]``), followed until the stack closes."""
        state = self.resume.get("logs")
        if state is None:
            return None
        key = (type(self).__qualname__, self.tencentcloud_conn_id, self.region)
        try:
            calls = await stack.enter_async_context(shared_log_client(key, self._client))
        except TencentCloudError as error:
            self.log.warning("Logs of %s will be printed when the task resumes (%s)", self.label, error)
            return None
        logs = await LiveLogs.take_over(
            state,
            lambda reader_state: self._log_reader(calls, reader_state),
            calls,
            LogCheckpoint(self.task_instance, self._run_id, self.log),
            self.log,
            self.label,
        )
        stack.push_async_callback(logs.stop)
        logs.start(self.poll_interval)
        return logs

    # --------------------------------------------------------------------------------------- kill
    async def on_kill(self) -> None:
        """End the job when a user marked the deferred task failed/success or cleared it.

        Airflow 3.3 also calls this when it moves the trigger to another triggerer (HA): the task is
        then still deferred, and the job must go on. So the job is ended only once the task instance
        is no longer deferred; when that cannot be told, it is left running (a user can still stop it).
        """
        if self.kill_action is EndAction.LEAVE:
            return
        deferred = await self._still_deferred()
        if deferred is not False:
            why = (
                "the task is still deferred (the trigger moved)"
                if deferred
                else "the task's state is unknown"
            )
            self.log.info("Not ending %s: %s", self.label, why)
            return
        self.log.info("The task is no longer deferred: ending %s", self.label)
        await self._end_job()

    async def _still_deferred(self) -> bool | None:
        """Whether this trigger's task instance is still deferred, from the Airflow API (None: unknown)."""
        ti = self.task_instance
        if ti is None:
            return None
        try:
            from asgiref.sync import sync_to_async

            state = await sync_to_async(task_instance_state)(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
        except Exception as error:  # never a reason to end a job
            self.log.warning("Could not read the state of the task (%s)", error)
            return None
        return None if state is None else state == "deferred"
