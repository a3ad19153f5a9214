"""TIAHook: an Airflow connection -> a signed TI-A client (official SDK) -> typed job calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia import lifecycle
from airflow_provider_tia.dialogue import drive, unless_gone
from airflow_provider_tia.exceptions import (
    TIA_ERRORS,
    JobAlreadyExists,
    JobNotFound,
    TencentCloudError,
    TransientError,
)
from airflow_provider_tia.hooks.base import AsyncTencentCloudClient, TencentCloudBaseHook
from airflow_provider_tia.logs import next_context
from airflow_provider_tia.models.common import reply_item, reply_items
from airflow_provider_tia.models.tia.job import Job, LogLine, QueryLogsZone, job_label

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pendulum import DateTime

    from airflow_provider_tia.models.tia.job_spec import JobSpec

SERVICE = "tia"
API_VERSION = "2018-02-26"
LIST_PAGE_SIZE = 100
LOG_PAGE_SIZE = 1000


class TIAHook(TencentCloudBaseHook):
    """Calls the TI-A API (service ``tia``, version ``2018-02-26``) through the official SDK.

    The connection (type ``tencentcloud``): login = SecretId, password = SecretKey, extra ``region``
    (required unless ``region=`` is given), ``token`` (temporary credentials), ``endpoint`` and
    ``scheme`` (https unless set to http). With no SecretId the SDK's default credential chain is used.

    Example::

        hook = TIAHook(tencentcloud_conn_id="tencentcloud_default")
        job = hook.create_job(JobSpec(name="test-job", cluster="ap-beijing", runtime_version="tia-1.7.0"))
        job = hook.wait_for_job(job.name, "ap-beijing", poll_interval=30, timeout=3600)

    Parameters: see ``TencentCloudBaseHook``.
    """

    hook_name = "Tencent Cloud TI-A"
    service = SERVICE
    errors = TIA_ERRORS
    api_version = API_VERSION

    # Airflow < 3.2 builds the connection form from these (3.2+ reads ``conn-fields`` and skips them).
    # The connection type's hook must define them itself: Airflow ignores inherited ones.
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from airflow_provider_tia.compat import connection_form_widgets

        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_tia.compat import ui_field_behaviour

        return ui_field_behaviour()

    # ----------------------------------------------------------------------------------------- jobs
    def create_job(self, spec: JobSpec) -> Job:
        """CreateJob. A reply lost after the service acted is reconciled by name, never duplicated."""
        try:
            response = self.call("CreateJob", spec.to_request())
        except JobAlreadyExists as error:
            if error.attempts <= 1:
                raise
            # An earlier attempt of this very call created the job; its reply was lost.
            return self._reconcile(spec, reason="AlreadyExists after a retried CreateJob")
        except TransientError as error:
            return self._reconcile(spec, reason=str(error), original=error)
        job = _job_of("CreateJob", response)
        self.log.info("Created %s (RequestId: %s)", job.label, response.get("RequestId"))
        return job

    def _reconcile(self, spec: JobSpec, *, reason: str, original: TencentCloudError | None = None) -> Job:
        try:
            job = self.describe_job(spec.name, spec.cluster)
        except JobNotFound:
            if original is not None:
                raise original from None
            raise
        if not spec.matches(job):
            raise JobAlreadyExists(
                f"CreateJob: a different job named {spec.name!r} exists in {spec.cluster}",
                code="FailedOperation.AlreadyExists",
            )
        self.log.warning("CreateJob of %s: %s; the job exists, using it", spec.name, reason)
        return job

    def describe_job(self, name: str, cluster: str) -> Job:
        """DescribeJob; ``JobNotFound`` when there is no such job."""
        response = self.call("DescribeJob", {"Name": name, "Cluster": cluster})
        return _job_of("DescribeJob", response)

    def list_jobs(self, cluster: str, page_size: int = LIST_PAGE_SIZE) -> Iterator[Job]:
        """All jobs of a cluster, page by page (ListJobs has no total: stop at a short page)."""
        offset = 0
        while True:
            jobs = _jobs_of(self.call("ListJobs", {"Cluster": cluster, "Limit": page_size, "Offset": offset}))
            yield from jobs
            if len(jobs) < page_size:
                return
            offset += len(jobs)

    def delete_job(self, name: str, cluster: str, *, missing_ok: bool = False) -> bool:
        """DeleteJob (this also stops a running job). Returns False when it was already gone."""
        response = drive(
            unless_gone("DeleteJob", {"Name": name, "Cluster": cluster}, missing_ok=missing_ok), self.call
        )
        if response is None:
            return False
        self.log.info("Deleted %s (RequestId: %s)", job_label(name, cluster), response.get("RequestId"))
        return True

    def query_logs(
        self, job_name: str, cluster: str, start: DateTime, end: DateTime, limit: int = LOG_PAGE_SIZE
    ) -> Iterator[LogLine]:
        """Log lines of a job in [start, end] (read as +08:00), following Context pages until Listover."""
        return iter(TIALogReader(self, job_name, cluster, QueryLogsZone("+08:00"), limit).read(start, end))

    def log_reader(self, job_name: str, cluster: str, state: dict[str, Any] | None = None) -> TIALogReader:
        """The job's log reader for a ``LogFollower`` (``state``: from ``reader.state()``)."""
        return TIALogReader(self, job_name, cluster, QueryLogsZone(**(state or {}).get("zone", {})))

    def wait_for_job(
        self,
        name: str,
        cluster: str,
        poll_interval: float = 30,
        timeout: float | None = None,
        on_poll: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll DescribeJob until the job is Succeeded or Failed and return it (it does not raise on Failed).

        Transient errors keep it polling until ``timeout`` seconds (``JobWaitTimeout``); a job that
        disappears raises ``JobVanished``. ``on_poll`` sees each state read.
        """
        event = lifecycle.wait(
            lambda: self.describe_job(name, cluster),
            job_label(name, cluster),
            deadline=lifecycle.Deadline.after(timeout),
            interval=poll_interval,
            budget=timeout,
            on_poll=on_poll,  # type: ignore[arg-type]
        )
        if event.reason is lifecycle.Reason.FINISHED and event.job is not None:
            return Job.from_api(event.job)
        raise lifecycle.error_of(event)

    def probe(self) -> tuple[str, dict[str, Any]]:
        """``test_connection``'s call: ListJobs, Limit 1, in the connection's region."""
        return "ListJobs", {"Cluster": self.settings.region, "Limit": 1, "Offset": 0}

    async def async_client(self) -> AsyncTIAClient:
        """An async client (httpx) for triggers; use it as ``async with await hook.async_client() as c``."""
        return await self._async_client(AsyncTIAClient)


class AsyncTIAClient(AsyncTencentCloudClient):
    """The job calls a trigger needs, on the SDK's async client. Close it (``async with``) when done."""

    async def describe_job(self, name: str, cluster: str) -> Job:
        return _job_of("DescribeJob", await self.call("DescribeJob", {"Name": name, "Cluster": cluster}))

    async def list_jobs_page(self, cluster: str, offset: int, limit: int = LIST_PAGE_SIZE) -> list[Job]:
        return _jobs_of(await self.call("ListJobs", {"Cluster": cluster, "Limit": limit, "Offset": offset}))

    async def delete_job(self, name: str, cluster: str) -> bool:
        try:
            await self.call("DeleteJob", {"Name": name, "Cluster": cluster})
        except JobNotFound:
            return False
        return True

    def log_reader(
        self, job_name: str, cluster: str, state: dict[str, Any] | None = None
    ) -> AsyncTIALogReader:
        return AsyncTIALogReader(self, job_name, cluster, QueryLogsZone(**(state or {}).get("zone", {})))


# -------------------------------------------------------------------------------------------- logs
class TIALogReader:
    """QueryLogs windows of one job, every Context page, for a ``LogFollower``.

    QueryLogs' StartTime/EndTime carry no zone and the API documentation leaves their reading open:
    ``QueryLogsZone`` writes windows that hold under both readings until the service shows which.
    """

    def __init__(
        self, hook: Any, job_name: str, cluster: str, zone: QueryLogsZone, limit: int = LOG_PAGE_SIZE
    ):
        self.hook, self.job_name, self.cluster, self.zone, self.limit = hook, job_name, cluster, zone, limit

    def _params(self, start: DateTime, end: DateTime) -> dict[str, Any]:
        start_text, end_text = self.zone.window(start, end)
        return {
            "JobName": self.job_name,
            "Cluster": self.cluster,
            "StartTime": start_text,
            "EndTime": end_text,
            "Limit": self.limit,
        }

    def _page(self, params: dict[str, Any], response: dict[str, Any], lines: list[LogLine]) -> bool:
        """Take one reply's lines; True when another Context page follows."""
        logs = reply_items("QueryLogs", response, "Logs", LogLine.from_api)
        lines.extend(logs)
        return next_context(params, response, more=bool(logs) and not response.get("Listover", True))

    def read(self, start: DateTime, end: DateTime) -> list[LogLine]:
        params, lines = self._params(start, end), list[LogLine]()
        while self._page(params, self.hook.call("QueryLogs", params), lines):
            pass
        self.zone.learn(start, [line.time for line in lines])
        return lines

    def state(self) -> dict[str, Any]:
        return {"zone": {"reading": self.zone.reading}}


class AsyncTIALogReader(TIALogReader):
    """``TIALogReader`` on the async client (for triggers)."""

    async def read(self, start: DateTime, end: DateTime) -> list[LogLine]:  # type: ignore[override]
        params, lines = self._params(start, end), list[LogLine]()
        while self._page(params, await self.hook.call("QueryLogs", params), lines):
            pass
        self.zone.learn(start, [line.time for line in lines])
        return lines


def _job_of(action: str, response: dict[str, Any]) -> Job:
    return reply_item(action, response, "Job", Job.from_api)


def _jobs_of(response: dict[str, Any]) -> list[Job]:
    return reply_items("ListJobs", response, "Jobs", Job.from_api)
