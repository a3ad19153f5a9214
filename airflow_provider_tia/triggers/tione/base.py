"""What TI-ONE's triggers share: the hook and async client of their connection and region, one poller per
region, and the keywords every trigger takes (``JobWatchTrigger``'s). A trigger says which job or service
it watches, how to read it and how to end it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tia.triggers.base import JobWatchTrigger

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tione import AsyncTIONEClient, TIONEHook


class TIONETrigger(JobWatchTrigger):
    """A TI-ONE wait: its reads go through ``TIONEHook`` (imported in the triggerer, never at DAG parse),
    and the triggers of one connection, region and interval share one poller. Its keywords are
    ``JobWatchTrigger``'s."""

    @property
    def scope(self) -> str:
        return self.region or ""

    def _hook(self) -> TIONEHook:
        from airflow_provider_tia.hooks.tione import TIONEHook

        return TIONEHook(self.tencentcloud_conn_id, self.region)

    async def _client(self) -> AsyncTIONEClient:
        return await self._hook().async_client()
