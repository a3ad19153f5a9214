"""JobTrigger: waits in the triggerer for a TI-A job to finish, streaming its logs into the task log.

The waiting, the event, the live logs and the kill are ``JobWatchTrigger``'s (shared with TI-ONE);
this module says how to read and delete a TI-A job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia import ending
from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job import TIAJobKey
from airflow_provider_tia.triggers.base import JobWatchTrigger, taken_key
from airflow_provider_tia.triggers.poller import ClusterPoller

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_tia.hooks.tia import AsyncTIAClient, AsyncTIALogReader
    from airflow_provider_tia.models.tia.job import Job
    from airflow_provider_tia.triggers.log_clients import LogCalls


def _kill_action(kill_action: EndAction | str, delete_on_kill: bool | None) -> EndAction:
    """The kill action, also from an earlier release's ``delete_on_kill``."""
    if delete_on_kill is None:
        return EndAction(kill_action)
    return EndAction.DELETE if delete_on_kill else EndAction.LEAVE


class JobTrigger(JobWatchTrigger):
    """Polls a TI-A job until it is Succeeded or Failed, then fires exactly one event (see the base).

    Example::

        JobTrigger(TIAJobKey("test-job", "ap-beijing"), poll_interval=30, deadline=time.time() + 3600)

    :param key: The job (``TIAJobKey``: name and cluster, its Id once read) or its JSON form; the
        event's ``resume["key"]`` carries it back to the task.
    :param tencentcloud_conn_id: Airflow connection id (credentials are read in the triggerer, never
        serialised).
    :param region: Region overriding the connection's.
    :param poll_interval: Seconds between two reads of the job (and of its logs).
    :param deadline: Epoch seconds after which waiting stops (``lifecycle.Deadline``), or None.
    :param kill_action: What a user killing the deferred task does (``EndAction``): "delete" (TI-A
        has no stop: "stop" deletes too) or "leave".
    :param batched: Share one paged-ListJobs poller with the other triggers of this cluster in the
        triggerer (default); False reads this job alone with DescribeJob.
    :param budget: The task's budget in seconds, for the timeout message.
    :param resume: What the task needs when it resumes; echoed in the event (``logs`` kept current).
    :param not_before: Epoch seconds before which no event fires (default: the deferral plus
        ``[tencentcloud] min_trigger_event_delay``, against Airflow's fast-trigger scheduler race).

    A trigger serialized by an earlier release still loads: ``job_name`` and ``cluster`` (with the
    key in ``resume["key"]``), ``tia_conn_id``, ``delete_on_kill``.
    """

    poller_class = ClusterPoller
    key: TIAJobKey

    def __init__(
        self,
        key: TIAJobKey | Mapping[str, Any] | None = None,
        *,
        tencentcloud_conn_id: str = "tencentcloud_default",
        region: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        kill_action: EndAction | str = EndAction.DELETE,
        batched: bool = True,
        budget: float | None = None,
        resume: dict[str, Any] | None = None,
        not_before: float | None = None,
        job_name: str | None = None,
        cluster: str | None = None,
        tia_conn_id: str | None = None,
        delete_on_kill: bool | None = None,
    ) -> None:
        earlier = {"name": job_name, "cluster": cluster}
        typed, resume = taken_key("JobTrigger", TIAJobKey, key, resume, earlier, ("name", "cluster"))
        super().__init__(
            key=typed,
            tencentcloud_conn_id=tia_conn_id or tencentcloud_conn_id,
            region=region,
            poll_interval=poll_interval,
            deadline=deadline,
            budget=budget,
            kill_action=_kill_action(kill_action, delete_on_kill),
            batched=batched,
            not_before=not_before,
            resume=resume,
        )

    @property
    def job_name(self) -> str:
        return self.key.name

    @property
    def cluster(self) -> str:
        return self.key.cluster

    @property
    def scope(self) -> str:
        return self.cluster

    @property
    def watch_name(self) -> str:
        return self.job_name

    def _hook(self) -> TIAHook:
        return TIAHook(self.tencentcloud_conn_id, self.region)

    async def _client(self) -> AsyncTIAClient:
        return await self._hook().async_client()

    async def _describe(self, client: AsyncTIAClient) -> Job:
        return await client.describe_job(self.job_name, self.cluster)

    def _log_reader(self, calls: LogCalls, state: dict[str, Any] | None) -> AsyncTIALogReader:
        from airflow_provider_tia.hooks.tia import AsyncTIALogReader
        from airflow_provider_tia.models.tia.job import QueryLogsZone

        zone = QueryLogsZone(**(state or {}).get("zone", {}))
        return AsyncTIALogReader(calls, self.job_name, self.cluster, zone)

    async def _end_job(self) -> None:
        """``ending.end_tia_job``: the plan a worker's kill runs too."""
        async with await self._client() as client:
            calls = {"delete": lambda: client.delete_job(self.job_name, self.cluster)}
            await ending.adrive(ending.end_tia_job(self.kill_action), calls)
        self.log.info("%s was %s", self.label, EndAction.DELETE.past)
