"""RolloutTrigger: waits in the triggerer for a service rollout, as ``ModelServiceTrigger`` does, and
rolls the rollout back when the user kills the deferred task."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.hooks.tione.rollout import RolloutCalls
from airflow_provider_tia.models.tione.rollout import RolloutRecord, Strategy
from airflow_provider_tia.models.tione.service_state import ABNORMAL_GRACE, RolloutWatch
from airflow_provider_tia.triggers.tione.services import ModelServiceTrigger

if TYPE_CHECKING:
    from collections.abc import Mapping


class RolloutTrigger(ModelServiceTrigger):
    """``ModelServiceTrigger`` of a rollout: it takes the rollout once (``rollout``, the record's dict:
    which group, service and version it watches) and its event's ``resume["rollout"]`` carries it back.
    When a user kills the deferred task, the rollout is rolled back (``rollback_on_kill``), as a worker's
    kill does. The rollback's blocking calls run in a thread: the triggerer's event loop is never blocked.

    :param rollout: The rollout (``RolloutRecord.to_dict()``).
    :param rollback_on_kill: Roll back on a user's kill (``on_kill_action="rollback"``); else leave it.
    :param healthy_timeout: Seconds the old version has to serve again after the rollback.
    :param abnormal_grace: Seconds an Abnormal service may take to recover before the wait fails.
    :param common: ``JobWatchTrigger``'s keywords (connection, region, interval, deadline, budget, batched,
        resume, not_before).

    A trigger serialized by an earlier release (``service_group_id``, ``model_version_id``,
    ``service_id``: the record's own Ids, the record in ``resume["rollout"]``) still loads.
    """

    def __init__(
        self,
        rollout: Mapping[str, Any] | None = None,
        *,
        rollback_on_kill: bool = True,
        healthy_timeout: float = 1800.0,
        abnormal_grace: float = ABNORMAL_GRACE,
        resume: dict[str, Any] | None = None,
        service_group_id: str | None = None,
        model_version_id: str | None = None,
        service_id: str | None = None,
        **common: Any,
    ) -> None:
        resume = dict(resume or {})
        carried = resume.pop("rollout", None)  # where an earlier release carried it
        record = RolloutRecord.from_dict(dict(rollout) if rollout is not None else carried)
        if record is None or not record.group_id or not record.version_id:
            raise ValueError(
                "RolloutTrigger: rollout must be a RolloutRecord's dict with group_id and version_id"
            )
        del service_group_id, model_version_id, service_id  # an earlier release's copies of the record's Ids
        super().__init__(
            record.group_id,
            record.version_id,
            record.service_id or None,
            abnormal_grace,
            resume=resume,
            **common,
        )
        self.rollout = record
        self.rollback_on_kill, self.healthy_timeout = rollback_on_kill, float(healthy_timeout)

    def platform_kwargs(self) -> dict[str, Any]:
        return {
            "rollout": self.rollout.to_dict(),
            "abnormal_grace": self.abnormal_grace,
            "rollback_on_kill": self.rollback_on_kill,
            "healthy_timeout": self.healthy_timeout,
        }

    def echoed(self) -> dict[str, Any]:
        return {"rollout": self.rollout.to_dict()}

    def rollout_watch(self) -> RolloutWatch:
        """In place, a third version on the service ends the wait at once: superseded by another rollout."""
        watch = super().rollout_watch()
        if self.rollout.strategy == Strategy.IN_PLACE.value:
            watch.previous_version_id = self.rollout.previous_version_id or None
        return watch

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
        rollout = self.rollout  # the rollback moves its phase on: a second kill does not roll back again
        if rollout.phase != "rolling" or not rollout.can_roll_back:
            return
        self.log.info("The task was killed during the rollout to %s: rolling it back", rollout.version_id)
        timing = (self.poll_interval, self.healthy_timeout, self.abnormal_grace)
        calls = RolloutCalls(self._hook(), self.log, *timing, lambda record: None)  # no task state store here
        await asyncio.to_thread(calls.rollback, rollout, None)
