"""A deferred task's live logs: followed beside its trigger's state loop, never in its way.

The trigger's event waits for no log read while the job runs: the logs are followed by a task of
their own, at the pace the shared budget allows (``log_clients``). Once the job has ended they are
read to the end by one urgent poll, for at most a bound (``drain_bound``), and the event carries the
position reached (``position``): the resumed task prints whatever is left, so a line is late at
worst, never lost.

A poll counts only once its lines are printed: it starts from ``position`` and moves it only after
printing, so a poll cut short (the bound, a cancel) leaves nothing half done. When Airflow moves a
trigger to another triggerer (HA), the new run takes the log checkpoint (an XCom) over and the old
one stops printing at its next poll that has lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import TencentCloudError
from airflow_provider_tia.logs import CHECKPOINT_KEY, AsyncLogFollower, LogCursor
from airflow_provider_tia.triggers.rate_budget import TooLate

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_tia.logs import AsyncLogReader
    from airflow_provider_tia.triggers.log_clients import LogCalls

DRAIN_SHARE = 0.2  # of the poll interval: how long an ended job's event waits for its last lines
MIN_DRAIN = 0.5  # seconds, whatever the interval
RETRY_PAUSE = 0.5  # seconds between two failed reads of the last lines


def drain_bound(poll_interval: float) -> float:
    """Seconds an event waits for the last lines of its ended job (the resumed task prints the rest)."""
    return max(MIN_DRAIN, DRAIN_SHARE * poll_interval)


class LogCheckpoint:
    """The log position in XCom, and which run of the trigger owns it (``owner``).

    The task writes it before deferring, so reading it never logs a missing XCom; without a task
    instance (a trigger run outside a triggerer) there is none.
    """

    def __init__(self, task_instance: Any, run_id: str, log: Any) -> None:
        self.task_instance, self.run_id, self.log = task_instance, run_id, log

    def _address(self) -> dict[str, Any] | None:
        ti = self.task_instance
        if ti is None:
            return None
        return {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id, "map_index": ti.map_index}

    async def read(self) -> dict[str, Any] | None:
        address = self._address()
        if address is None:
            return None
        try:
            from airflow_provider_tia.compat import xcom_get

            value = await xcom_get(CHECKPOINT_KEY, **address)
        except Exception as error:  # a checkpoint only avoids repeats; never a reason to fail
            self.log.debug("No log checkpoint readable (%s)", error)
            return None
        return value if isinstance(value, dict) and value.get("since") else None

    async def write(self, state: dict[str, Any]) -> None:
        address = self._address()
        if address is None:
            return
        try:
            from airflow_provider_tia.compat import xcom_set

            await xcom_set(CHECKPOINT_KEY, {**state, "owner": self.run_id}, **address)
        except Exception as error:
            self.log.debug("Could not checkpoint the log position (%s)", error)

    async def taken_over(self) -> bool:
        """True when another run of the trigger (another triggerer) now owns the checkpoint."""
        checkpoint = await self.read()
        return checkpoint is not None and checkpoint.get("owner") not in (None, self.run_id)


class LiveLogs:
    """Prints a job's new log lines into the task log until the job ends, then its last ones.

    ``position`` is what has been printed (``None`` once another run owns the checkpoint): the
    event's ``resume["logs"]``.
    """

    def __init__(
        self,
        position: dict[str, Any],
        reader_for: Callable[[dict[str, Any] | None], AsyncLogReader],
        calls: LogCalls,
        checkpoint: LogCheckpoint,
        log: Any,
        label: str,
    ) -> None:
        self.position: dict[str, Any] | None = position
        self.reader_for, self.calls, self.checkpoint = reader_for, calls, checkpoint
        self.log, self.label = log, label
        self._following: asyncio.Task[None] | None = None

    @classmethod
    async def take_over(
        cls,
        state: dict[str, Any],
        reader_for: Callable[[dict[str, Any] | None], AsyncLogReader],
        calls: LogCalls,
        checkpoint: LogCheckpoint,
        log: Any,
        label: str,
    ) -> LiveLogs:
        """Start from the newest of the task's position and the checkpoint, and own the checkpoint
        from now on (a run started before this one stops printing)."""
        saved = await checkpoint.read()
        if saved is not None and LogCursor.from_state(state).is_behind(LogCursor.from_state(saved)):
            state = saved
        live = cls(state, reader_for, calls, checkpoint, log, label)
        live.position = live._follower(state, lambda line: None).state()
        await checkpoint.write(live.position)
        return live

    def _follower(self, state: dict[str, Any], emit: Callable[[str], None]) -> AsyncLogFollower:
        return AsyncLogFollower(self.reader_for(state.get("reader")), LogCursor.from_state(state), emit)

    async def poll(self) -> bool:
        """Print the lines that appeared since ``position``; False when the logs could not be read."""
        if self.position is None:
            return True
        lines: list[str] = []
        follower = self._follower(self.position, lines.append)
        try:
            await follower.poll()
        except TencentCloudError as error:
            self.log.warning("Could not read the logs of %s (%s); will try again", self.label, error)
            return False
        if lines and await self.checkpoint.taken_over():
            self.log.info("Another triggerer now follows the logs of %s", self.label)
            self.position = None
            return True
        for line in lines:
            self.log.info(line)
        self.position = follower.state()  # in the same step as the printing: nothing half done
        if lines:
            await self.checkpoint.write(self.position)
        return True

    def start(self, poll_interval: float) -> None:
        """Follow the logs, one poll per interval at the most, until ``finish``."""

        async def follow() -> None:
            while self.position is not None:
                async with self.calls.live_poll():
                    await self.poll()
                await asyncio.sleep(poll_interval)

        self._following = asyncio.get_running_loop().create_task(
            follow(), name=f"tencentcloud-logs-{self.label}"
        )

    async def stop(self) -> None:
        """Stop following (at any point: a poll cut short counts for nothing)."""
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
            self._following = None

    async def finish(self, bound: float) -> None:
        """The job has ended (or the wait is over): one poll started now, ahead of the triggers whose
        jobs still run, reads the last lines; what it cannot read within ``bound`` seconds (or when
        the log budget has no turn for it by then) is left to the resumed task."""
        await self.stop()
        self.calls.urgent_by = asyncio.get_running_loop().time() + bound

        async def last_lines() -> None:
            while not await self.poll():
                await asyncio.sleep(RETRY_PAUSE)

        try:
            await asyncio.wait_for(last_lines(), bound)
        except (asyncio.TimeoutError, TooLate):
            self.log.info("The last log lines of %s will be printed when the task resumes", self.label)
