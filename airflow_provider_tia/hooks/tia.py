"""TIAHook: an Airflow connection -> a signed TI-A client (official SDK) -> typed job calls."""

from __future__ import annotations

import time
from collections import Counter
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_tia.exceptions import (
    JobAlreadyExists,
    JobNotFound,
    JobVanished,
    JobWaitTimeout,
    MalformedResponse,
    TIAError,
    TransientError,
)
from airflow_provider_tia.hooks import sdk
from airflow_provider_tia.hooks.transport import use_urllib3_transport
from airflow_provider_tia.job import Job, JobSpec, LogLine, format_query_time

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pendulum import DateTime

LIST_PAGE_SIZE = 100
LOG_PAGE_SIZE = 1000


class TIAHook(BaseHook):
    """Calls the TI-A API (service ``tia``, version ``2018-02-26``) through the official SDK.

    The connection (type ``tencentcloud``): login = SecretId, password = SecretKey, extra ``region``
    (required unless ``region=`` is given), ``token`` (temporary credentials), ``endpoint`` and
    ``scheme`` (https unless set to http). With no SecretId the SDK's default credential chain is used.

    Example::

        hook = TIAHook(tia_conn_id="tencentcloud_default")
        job = hook.create_job(JobSpec(name="test-job", cluster="ap-beijing", runtime_version="tia-1.7.0"))
        job = hook.wait_for_job(job.name, "ap-beijing", poll_interval=30, timeout=3600)

    :param tia_conn_id: Airflow connection id.
    :param region: Region, overriding the connection's extra ``region``.
    :param request_timeout: Seconds before one HTTP request is abandoned (and retried).
    :param max_attempts: Attempts per call for throttling, network and internal errors.
    :param retry_backoff: First backoff in seconds; doubles each retry (capped at 30 s, with jitter).
    """

    conn_name_attr = "tia_conn_id"
    default_conn_name = "tencentcloud_default"
    conn_type = "tencentcloud"
    hook_name = "Tencent Cloud TI-A"

    def __init__(
        self,
        tia_conn_id: str = default_conn_name,
        region: str | None = None,
        *,
        request_timeout: int | None = None,
        max_attempts: int | None = None,
        retry_backoff: float | None = None,
    ) -> None:
        super().__init__()
        self.tia_conn_id = tia_conn_id
        self.region = region
        self.api_calls: Counter[str] = Counter()
        self._overrides = {
            "request_timeout": request_timeout,
            "max_attempts": max_attempts,
            "retry_backoff": retry_backoff,
        }

    def __repr__(self) -> str:
        return f"TIAHook(tia_conn_id={self.tia_conn_id!r}, region={self.region!r})"

    # ------------------------------------------------------------------------------------- plumbing
    @cached_property
    def settings(self) -> sdk.Settings:
        """Connection settings, read once per hook."""
        return sdk.Settings.from_connection(
            self.get_connection(self.tia_conn_id), region=self.region, **self._overrides
        )

    @cached_property
    def client(self) -> Any:
        """The SDK's CommonClient, built once per hook (credentials resolved once, keep-alive on).

        The SDK signs and retries; the signed request is sent over urllib3 (see ``hooks/transport.py``).
        """
        from tencentcloud.common.common_client import CommonClient

        settings = self.settings
        client = CommonClient(
            sdk.SERVICE,
            sdk.API_VERSION,
            sdk.credential_for(settings),
            settings.region,
            sdk.client_profile(settings),
        )
        use_urllib3_transport(client)
        return client

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """One signed call; returns ``Response`` (with ``RequestId``) or raises a typed ``TIAError``."""
        client = self.client
        self.api_calls[action] += 1
        sdk.retries_in_call.set(0)
        try:
            payload = client.call_json(action, params)
        except Exception as error:
            raise sdk.to_provider_error(error, action) from None
        return dict(sdk.unwrap_response(action, payload))

    # ----------------------------------------------------------------------------------------- jobs
    def create_job(self, spec: JobSpec) -> Job:
        """CreateJob. A reply lost after the service acted is reconciled by name, never duplicated."""
        try:
            response = self.call("CreateJob", spec.to_api())
        except JobAlreadyExists:
            if not sdk.retries_in_call.get():
                raise
            # An earlier attempt of this very call created the job; its reply was lost.
            return self._reconcile(spec, reason="AlreadyExists after a retried CreateJob")
        except TransientError as error:
            return self._reconcile(spec, reason=str(error), original=error)
        job = self._job_of("CreateJob", response)
        self.log.info(
            "Created TI-A job %s in %s (RequestId: %s)", job.name, spec.cluster, response.get("RequestId")
        )
        return job

    def _reconcile(self, spec: JobSpec, *, reason: str, original: TIAError | None = None) -> Job:
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
        job = self._job_of("DescribeJob", response)
        self.log.debug("Job %s is %s (RequestId: %s)", name, job.state_name, response.get("RequestId"))
        return job

    def list_jobs(self, cluster: str, page_size: int = LIST_PAGE_SIZE) -> Iterator[Job]:
        """All jobs of a cluster, page by page (ListJobs has no total: stop at a short page)."""
        offset = 0
        while True:
            response = self.call("ListJobs", {"Cluster": cluster, "Limit": page_size, "Offset": offset})
            jobs = response.get("Jobs") or []
            if not isinstance(jobs, list):
                raise MalformedResponse("ListJobs: Jobs is not a list", request_id=response.get("RequestId"))
            for item in jobs:
                yield Job.from_api(item)
            if len(jobs) < page_size:
                return
            offset += len(jobs)

    def delete_job(self, name: str, cluster: str, *, missing_ok: bool = False) -> bool:
        """DeleteJob (this also stops a running job). Returns False when it was already gone."""
        try:
            response = self.call("DeleteJob", {"Name": name, "Cluster": cluster})
        except JobNotFound:
            if missing_ok or sdk.retries_in_call.get():
                return False
            raise
        self.log.info("Deleted TI-A job %s in %s (RequestId: %s)", name, cluster, response.get("RequestId"))
        return True

    def query_logs(
        self, job_name: str, cluster: str, start: DateTime, end: DateTime, limit: int = LOG_PAGE_SIZE
    ) -> Iterator[LogLine]:
        """Log lines of a job in [start, end], following QueryLogs' Context pages until Listover."""
        params: dict[str, Any] = {
            "JobName": job_name,
            "Cluster": cluster,
            "StartTime": format_query_time(start),
            "EndTime": format_query_time(end),
            "Limit": limit,
        }
        while True:
            response = self.call("QueryLogs", params)
            logs = response.get("Logs") or []
            if not isinstance(logs, list):
                raise MalformedResponse("QueryLogs: Logs is not a list", request_id=response.get("RequestId"))
            for item in logs:
                yield LogLine.from_api(item)
            context = response.get("Context")
            if response.get("Listover", True) or not context or not logs:
                return
            params["Context"] = context

    def wait_for_job(
        self,
        name: str,
        cluster: str,
        poll_interval: float = 30,
        timeout: float | None = None,
        on_poll: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll DescribeJob until the job is Succeeded or Failed and return it (it does not raise on Failed).

        Transient API errors are logged and polling goes on; waiting is bounded by ``timeout`` seconds
        (``JobWaitTimeout``). A job that disappears raises ``JobVanished``. ``on_poll`` sees each state read.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                job = self.describe_job(name, cluster)
            except JobNotFound as error:
                raise JobVanished(
                    f"TI-A job {name} in {cluster} no longer exists: it was deleted while being watched",
                    code=error.code,
                    request_id=error.request_id,
                ) from None
            except TransientError as error:
                self.log.warning("Could not read the state of %s (%s); will try again", name, error)
                job = None
            if job is not None:
                if on_poll:
                    on_poll(job)
                if job.is_terminal:
                    return job
            if deadline is not None and time.monotonic() >= deadline:
                raise JobWaitTimeout(f"TI-A job {name} in {cluster} did not finish within {timeout:.0f}s")
            sleep = (
                poll_interval
                if deadline is None
                else max(0.0, min(poll_interval, deadline - time.monotonic()))
            )
            time.sleep(sleep)

    def test_connection(self) -> tuple[bool, str]:
        """One cheap signed call (ListJobs, Limit 1, in the connection's region)."""
        try:
            response = self.call("ListJobs", {"Cluster": self.settings.region, "Limit": 1, "Offset": 0})
        except Exception as error:
            return False, sdk.redact(str(error))
        return (
            True,
            f"Connection works (region {self.settings.region}, RequestId: {response.get('RequestId')})",
        )

    @staticmethod
    def _job_of(action: str, response: dict[str, Any]) -> Job:
        request_id = response.get("RequestId")
        if response.get("Job") is None:
            raise MalformedResponse(f"{action}: the reply has no Job", request_id=request_id)
        try:
            return Job.from_api(response["Job"])
        except MalformedResponse as error:
            raise MalformedResponse(f"{action}: {error.message}", request_id=request_id) from None

    # ---------------------------------------------------------------------------------- async twins
    async def aget_settings(self) -> sdk.Settings:
        """Settings read in the triggerer, without blocking its event loop."""
        if "settings" not in self.__dict__:
            conn = await _aget_connection(self.tia_conn_id)
            self.__dict__["settings"] = sdk.Settings.from_connection(
                conn, region=self.region, **self._overrides
            )
        return self.__dict__["settings"]

    async def async_client(self) -> AsyncTIAClient:
        """An async client (httpx) for triggers; use it as ``async with await hook.async_client() as c``."""
        return AsyncTIAClient(await self.aget_settings())


async def _aget_connection(conn_id: str) -> Any:
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async  # pragma: no cover - Airflow 3.0

    return await sync_to_async(BaseHook.get_connection)(conn_id)  # pragma: no cover


class AsyncTIAClient:
    """The job calls a trigger needs, on the SDK's async client. Close it (``async with``) when done."""

    def __init__(self, settings: sdk.Settings) -> None:
        from tencentcloud.common.common_client_async import CommonClient

        self.settings = settings
        self._client = CommonClient(
            sdk.SERVICE,
            sdk.API_VERSION,
            sdk.credential_for(settings),
            settings.region,
            sdk.client_profile(settings, asynchronous=True),
        )

    async def __aenter__(self) -> AsyncTIAClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.close()

    async def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        sdk.retries_in_call.set(0)
        try:
            payload = await self._client.call_and_deserialize(action, params)
        except Exception as error:
            raise sdk.to_provider_error(error, action) from None
        return dict(sdk.unwrap_response(action, payload))

    async def describe_job(self, name: str, cluster: str) -> Job:
        response = await self.call("DescribeJob", {"Name": name, "Cluster": cluster})
        return TIAHook._job_of("DescribeJob", response)

    async def list_jobs_page(self, cluster: str, offset: int, limit: int = LIST_PAGE_SIZE) -> list[Job]:
        response = await self.call("ListJobs", {"Cluster": cluster, "Limit": limit, "Offset": offset})
        jobs = response.get("Jobs") or []
        if not isinstance(jobs, list):
            raise MalformedResponse("ListJobs: Jobs is not a list", request_id=response.get("RequestId"))
        return [Job.from_api(item) for item in jobs]

    async def delete_job(self, name: str, cluster: str) -> bool:
        try:
            await self.call("DeleteJob", {"Name": name, "Cluster": cluster})
        except JobNotFound:
            return False
        return True
