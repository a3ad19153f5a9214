"""One shared poller per (platform, connection, region, scope, interval) in a triggerer's event loop.

A triggerer may watch hundreds of TI-A jobs. Instead of one DescribeJob per job per interval, the
``JobTrigger`` instances of one cluster share a ``ClusterPoller`` that reads every state with paged
ListJobs once per interval (DescribeJob only for a watched job the listing did not return, e.g. one
just created or deleted) and hands each trigger its own job. When few jobs are watched in a cluster
with many jobs, per-job DescribeJob is cheaper and is used instead. Each trigger still decides and
yields its own single event; cancelling one only removes its watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import TencentCloudError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

    from typing_extensions import Self

    from airflow_provider_tia.hooks.tia import AsyncTIAClient
    from airflow_provider_tia.models.tia.job import Job

log = logging.getLogger(__name__)
PAGE_SIZE = 100
MAX_CONCURRENT_DESCRIBES = 20
# Pollers of each running event loop (a loop that is gone takes its pollers with it).
_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], BatchPoller]] = (
    weakref.WeakKeyDictionary()
)


class BatchPoller:
    """Reads the states of every watched job of one scope (a cluster, a region), once per ``interval``.

    A platform subclass says how one sweep reads the watched jobs (``_read``); watching, sharing and
    delivering are the same for every platform.

    Example::

        poller = ClusterPoller.shared("tencentcloud_default", None, "ap-beijing", 30, client_factory)
        async with contextlib.aclosing(poller.watch("test-job")) as updates:
            async for update in updates:  # a Job, or a TencentCloudError (JobNotFound, TransientError...)
                ...
    """

    def __init__(
        self,
        key: tuple[Any, ...],
        scope: str,
        interval: float,
        client_factory: Callable[[], Awaitable[Any]],
    ) -> None:
        self.key = key
        self.scope = scope
        self.interval = interval
        self._client_factory = client_factory
        self._watchers: dict[str, set[asyncio.Queue]] = {}
        self._task: asyncio.Task | None = None

    @classmethod
    def shared(
        cls,
        conn_id: str,
        region: str | None,
        scope: str,
        interval: float,
        client_factory: Callable[[], Awaitable[Any]],
    ) -> Self:
        """The poller of this scope in the running event loop (created on first use)."""
        pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
        key = (cls.__name__, conn_id, region, scope, float(interval))
        poller = pollers.get(key)
        if poller is None:
            poller = pollers[key] = cls(key, scope, float(interval), client_factory)
        return poller  # type: ignore[return-value]

    async def watch(self, name: str) -> AsyncGenerator[Job | TencentCloudError, None]:
        """Yields the job (or the error reading it) after every sweep, until the caller stops."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)
        self._watchers.setdefault(name, set()).add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"tencentcloud-poller-{self.scope}"
            )
        try:
            while True:
                yield await queue.get()
        finally:
            watchers = self._watchers.get(name)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._watchers[name]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            try:
                client = await self._client_factory()
            except TencentCloudError as error:
                self._deliver_all(error)
                await asyncio.sleep(self.interval)
                return
            async with client:
                while self._watchers:
                    started = loop.time()
                    await self._sweep(client)
                    await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))
        finally:
            self._task = None
            pollers = _POLLERS.get(loop, {})
            if self._watchers:  # a trigger started watching while this loop was closing down
                self._task = loop.create_task(self._run(), name=f"tencentcloud-poller-{self.scope}")
            elif pollers.get(self.key) is self:
                del pollers[self.key]

    async def _sweep(self, client: Any) -> None:
        found = await self._read(client, set(self._watchers))
        if found is not None:
            for name in list(self._watchers):
                if name in found:
                    self._deliver(name, found[name])

    async def _read(self, client: Any, names: set[str]) -> dict[str, Any] | None:
        """Each watched job (or the error reading it); None when the sweep failed as a whole (delivered)."""
        raise NotImplementedError

    async def _describe_each(
        self, names: list[str], describe: Callable[[str], Awaitable[Any]], found: dict[str, Any]
    ) -> None:
        """One read per job, at most ``MAX_CONCURRENT_DESCRIBES`` at once; errors go to the job's watcher."""
        gate = asyncio.Semaphore(MAX_CONCURRENT_DESCRIBES)

        async def one(name: str) -> None:
            async with gate:
                try:
                    found[name] = await describe(name)
                except TencentCloudError as error:  # JobNotFound, TransientError... go to the watcher
                    found[name] = error

        await asyncio.gather(*(one(name) for name in names))

    def _deliver(self, name: str, update: Any) -> None:
        for queue in self._watchers.get(name, ()):
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()  # a slow watcher only ever sees the newest state
            queue.put_nowait(update)

    def _deliver_all(self, update: TencentCloudError) -> None:
        for name in list(self._watchers):
            self._deliver(name, update)


class ClusterPoller(BatchPoller):
    """TI-A: paged ListJobs of the cluster (the scope), or DescribeJob per job when that is cheaper."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._jobs_in_cluster = 0  # size of the last full listing, to choose ListJobs or DescribeJob

    @property
    def cluster(self) -> str:
        return self.scope

    async def _read(self, client: AsyncTIAClient, names: set[str]) -> dict[str, Any] | None:
        pages = -(-self._jobs_in_cluster // PAGE_SIZE)
        if len(names) <= 2 or (self._jobs_in_cluster and pages >= len(names)):
            found: dict[str, Job] = {}
        else:
            try:
                found = await self._list_all(client)
            except TencentCloudError as error:
                log.warning("ListJobs of %s failed (%s); will try again", self.cluster, error)
                self._deliver_all(error)
                return None
            self._jobs_in_cluster = len(found)
        missing = [name for name in names if name not in found]
        if missing:
            await self._describe_each(missing, lambda name: client.describe_job(name, self.cluster), found)
        return found

    async def _list_all(self, client: AsyncTIAClient) -> dict[str, Job]:
        found: dict[str, Job] = {}
        offset = 0
        while True:
            page = await client.list_jobs_page(self.cluster, offset, PAGE_SIZE)
            for job in page:
                found[job.name] = job
            if len(page) < PAGE_SIZE:
                return found
            offset += len(page)
