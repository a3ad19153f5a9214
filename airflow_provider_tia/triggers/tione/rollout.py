"""RolloutTrigger: waits in the triggerer for a service rollout, as ``ModelServiceTrigger`` does, and
rolls the rollout back when the user kills the deferred task."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_tia.hooks.tione.rollout import RolloutCalls
from airflow_provider_tia.models.tione.rollout import RolloutRecord
from airflow_provider_tia.triggers.tione.services import ModelServiceTrigger


class RolloutTrigger(ModelServiceTrigger):
    """``ModelServiceTrigger`` of a rollout: when a user kills the deferred task, the rollout its payload
    carries (``resume["rollout"]``) is rolled back (``rollback_on_kill``), as a worker's kill does. The
    rollback's blocking calls run in a thread: the triggerer's event loop is never blocked.

    :param rollback_on_kill: Roll back on a user's kill (``on_kill_action="rollback"``); else leave it.
    :param healthy_timeout: Seconds the old version has to serve again after the rollback.
    """

    def __init__(
        self, *args: Any, rollback_on_kill: bool = True, healthy_timeout: float = 1800.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.rollback_on_kill, self.healthy_timeout = rollback_on_kill, float(healthy_timeout)

    def platform_kwargs(self) -> dict[str, Any]:
        return {
            **super().platform_kwargs(),
            "rollback_on_kill": self.rollback_on_kill,
            "healthy_timeout": self.healthy_timeout,
        }

    async def on_kill(self) -> None:
        """Roll back once the task is no longer deferred (a move to another triggerer is no kill)."""
        if not self.rollback_on_kill:
            return
        if await self._still_deferred() is not False:
            self.log.info(
                "Not rolling back %s: the task is still deferred, or its state is unknown", self.label
            )
            return
        await self._end_job()

    async def _end_job(self) -> None:
        rollout = RolloutRecord.from_dict(self.resume.get("rollout"))
        if rollout is None or rollout.phase != "rolling" or not rollout.can_roll_back:
            return
        self.log.info("The task was killed during the rollout to %s: rolling it back", rollout.version_id)
        timing = (self.poll_interval, self.healthy_timeout, self.abnormal_grace)
        calls = RolloutCalls(self._hook(), self.log, *timing, lambda record: None)  # no task state store here
        await asyncio.to_thread(calls.rollback, rollout, None)
