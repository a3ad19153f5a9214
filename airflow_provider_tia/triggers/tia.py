"""JobTrigger: waits in the triggerer for a TI-A job to finish, streaming its logs into the task log.

The waiting, the event, the live logs and the kill are ``JobWatchTrigger``'s (shared with TI-ONE);
this module says how to read and delete a TI-A job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia import ending
from airflow_provider_tia.ending import EndAction
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.job import job_key, job_label
from airflow_provider_tia.triggers.base import JobWatchTrigger
from airflow_provider_tia.triggers.poller import ClusterPoller

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tia import AsyncTIAClient, AsyncTIALogReader
    from airflow_provider_tia.job import Job


class JobTrigger(JobWatchTrigger):
    """Polls a TI-A job until it is Succeeded or Failed, then fires exactly one event (see the base).

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
    :param not_before: Epoch seconds before which no event fires (default: the deferral plus
        ``[tencentcloud] min_trigger_event_delay``, against Airflow's fast-trigger scheduler race).
    """

    poller_class = ClusterPoller

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
        not_before: float | None = None,
    ) -> None:
        super().__init__(
            conn_id=tia_conn_id,
            region=region,
            poll_interval=poll_interval,
            deadline=deadline,
            budget=budget,
            end_on_kill=delete_on_kill,
            batched=batched,
            not_before=not_before,
            resume=dict(resume or {"key": job_key(job_name, cluster)}),
        )
        self.job_name = job_name
        self.cluster = cluster

    @property
    def tia_conn_id(self) -> str:
        return self.conn_id

    @property
    def delete_on_kill(self) -> bool:
        return self.end_on_kill

    def platform_kwargs(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "cluster": self.cluster,
            "tia_conn_id": self.conn_id,
            "delete_on_kill": self.end_on_kill,
        }

    @property
    def label(self) -> str:
        return job_label(self.job_name, self.cluster)

    @property
    def scope(self) -> str:
        return self.cluster

    @property
    def watch_name(self) -> str:
        return self.job_name

    def _hook(self) -> TIAHook:
        return TIAHook(self.conn_id, self.region)

    async def _client(self) -> AsyncTIAClient:
        return await self._hook().async_client()

    async def _describe(self, client: AsyncTIAClient) -> Job:
        return await client.describe_job(self.job_name, self.cluster)

    def _log_reader(self, client: AsyncTIAClient, state: dict[str, Any] | None) -> AsyncTIALogReader:
        return client.log_reader(self.job_name, self.cluster, state)

    async def _end_job(self) -> None:
        """``ending.end_tia_job``: the plan a worker's kill runs too."""
        async with await self._client() as client:
            calls = {"delete": lambda: client.delete_job(self.job_name, self.cluster)}
            await ending.adrive(ending.end_tia_job(EndAction.DELETE), calls)
        self.log.info("Deleted %s", self.label)
