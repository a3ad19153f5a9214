"""ModelServiceTrigger: waits in the triggerer until a TI-ONE service serves a model version.

The waiting, the event and the kill hook are ``JobWatchTrigger``'s; what "served" means is
``models.tione.service_state.rollout_state`` (via ``RolloutWatch``, which also times an Abnormal spell), the one
decision the operators and the sensor use too. The triggers of one connection and region share one
``RegionServicePoller``: a sweep reads every watched group with DescribeModelServiceGroups, 100 a page.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import TencentCloudError
from airflow_provider_tia.hooks.tione.services import GROUPS_PAGE_SIZE
from airflow_provider_tia.models.tione.service_state import ABNORMAL_GRACE, RolloutWatch
from airflow_provider_tia.models.tione.services import ModelService, ServiceGroup
from airflow_provider_tia.triggers.poller import BatchPoller
from airflow_provider_tia.triggers.tione.base import TIONETrigger

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from airflow_provider_tia.hooks.tione import AsyncTIONEClient


class RegionServicePoller(BatchPoller):
    """TI-ONE: the watched service groups of one region, read with DescribeModelServiceGroups (a filter of
    Ids, 100 a page). A group the listing does not return (just created, or deleted) is read with
    DescribeModelServiceGroup, which tells a deleted group (not found) from a listing that lags."""

    async def _read(self, client: AsyncTIONEClient, names: set[str]) -> dict[str, Any] | None:
        """The pages of one sweep are read side by side (as many calls as one after the other), so a sweep
        of 1,000 groups takes about as long as one page and no wait's news is a sweep late."""
        ids = sorted(names)
        chunks = [ids[i : i + GROUPS_PAGE_SIZE] for i in range(0, len(ids), GROUPS_PAGE_SIZE)]
        try:
            pages = await asyncio.gather(*(client.find_model_service_groups(ids=chunk) for chunk in chunks))
        except TencentCloudError as error:
            self._deliver_all(error)
            return None
        found: dict[str, Any] = {group.id: group for page in pages for group in page if group.id in names}
        missing = [group_id for group_id in names if group_id not in found]
        if missing:
            await self._describe_each(missing, client.describe_model_service_group, found)
        return found


class ModelServiceTrigger(TIONETrigger):
    """Polls a service group until it serves ``model_version_id`` (Normal, that version, the roll over),
    or fails: stopped (or creation failed), or Abnormal for longer than ``abnormal_grace``. Fires one
    event (see ``JobWatchTrigger``) whose ``job`` is the judged service's dict, secrets masked.

    Example::

        ModelServiceTrigger("ms-skdg89rx", "mv-v7-1511805105118769999", poll_interval=15, abnormal_grace=300)

    :param service_group_id: The group, ``ms-…``.
    :param model_version_id: The model version to be served; None: any version (the service is up).
    :param service_id: Judge this service of the group (``ms-…-<n>``, an in-place roll); default: the
        group's service running ``model_version_id``.
    :param abnormal_grace: Seconds an Abnormal service may take to recover before the wait fails.
    :param common: ``JobWatchTrigger``'s keywords (connection, region, interval, deadline, budget,
        kill_action, batched, resume, not_before). The kill action is only ``"leave"`` here (a
        deploying operator's own trigger subclass overrides ``_end_job`` to roll back).
    """

    poller_class = RegionServicePoller

    def __init__(
        self,
        service_group_id: str,
        model_version_id: str | None = None,
        service_id: str | None = None,
        abnormal_grace: float = ABNORMAL_GRACE,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.service_group_id, self.model_version_id, self.service_id = (
            service_group_id,
            model_version_id,
            service_id,
        )
        self.abnormal_grace = float(abnormal_grace)

    def platform_kwargs(self) -> dict[str, Any]:
        return {
            "service_group_id": self.service_group_id,
            "model_version_id": self.model_version_id,
            "service_id": self.service_id,
            "abnormal_grace": self.abnormal_grace,
        }

    def rollout_watch(self) -> RolloutWatch:
        return RolloutWatch(
            self.service_group_id, self.model_version_id, self.service_id, self.abnormal_grace
        )

    @property
    def label(self) -> str:
        return self.rollout_watch().label

    @property
    def watch_name(self) -> str:
        return self.service_group_id

    async def _updates(self) -> AsyncGenerator[Any, None]:
        """Each read of the group, judged as a rollout (errors pass through as they are)."""
        watch = self.rollout_watch()
        async with contextlib.aclosing(super()._updates()) as reads:
            async for read in reads:
                if isinstance(read, ServiceGroup | ModelService):
                    yield watch.observe(read, time.monotonic())
                else:
                    yield read

    async def _describe(self, client: AsyncTIONEClient) -> ServiceGroup:
        return await client.describe_model_service_group(self.service_group_id)

    async def _end_job(self) -> None:
        """A service wait owns nothing: the service is left as it is."""
        self.log.info("%s is left as it is", self.label)
