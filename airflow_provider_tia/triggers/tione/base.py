"""What TI-ONE's triggers share: the hook and async client of their connection and region, one poller per
region, and the keywords every trigger takes (``JobWatchTrigger``'s). A trigger says which job or service
it watches, how to read it and how to end it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.triggers.base import JobWatchTrigger

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tione import AsyncTIONEClient, TIONEHook
    from airflow_provider_tia.models.common import JobKey


class TIONETrigger(JobWatchTrigger):
    """A TI-ONE wait: its reads go through ``TIONEHook`` (imported in the triggerer, never at DAG parse),
    and the triggers of one connection, region and interval share one poller.

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
        super().__init__(
            key=key,
            tencentcloud_conn_id=tencentcloud_conn_id,
            region=region,
            poll_interval=poll_interval,
            deadline=deadline,
            budget=budget,
            kill_action=EndAction(kill_action),
            batched=batched,
            not_before=not_before,
            resume=dict(resume or {}),
        )

    @property
    def scope(self) -> str:
        return self.region or ""

    def _hook(self) -> TIONEHook:
        from airflow_provider_tia.hooks.tione import TIONEHook

        return TIONEHook(self.tencentcloud_conn_id, self.region)

    async def _client(self) -> AsyncTIONEClient:
        return await self._hook().async_client()
