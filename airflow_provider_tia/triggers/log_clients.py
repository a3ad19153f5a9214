"""One async API client per (platform, connection, region) for the log reads of a triggerer's triggers.

A trigger following its job's logs used to open its own client: a thousand deferred tasks made a
thousand HTTP clients (most of the triggerer's memory) and read logs as fast as they liked. Now the
triggers of one platform, connection and region in an event loop share one client, opened by the
first and closed when the last leaves, and every log call waits for its turn in the budget of its
action (``RateBudget``, ``[tencentcloud] log_requests_per_second``), shared by all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.triggers.rate_budget import RateBudget

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Hashable

log = logging.getLogger(__name__)
LOG_REQUESTS_PER_SECOND = 10.0  # default of [tencentcloud] log_requests_per_second
# Shared clients of each running event loop (an HTTP client belongs to the loop it was made in).
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, SharedClient]] = (
    weakref.WeakKeyDictionary()
)


def log_requests_per_second() -> float:
    """Log calls per second and per API action a triggerer may make (``[tencentcloud] log_requests_per_second``)."""
    from airflow_provider_tia.compat import conf

    return conf.getfloat("tencentcloud", "log_requests_per_second", fallback=LOG_REQUESTS_PER_SECOND)


class SharedClient:
    """One client, its users and the budgets of its actions; made by ``shared_log_client``."""

    def __init__(self, key: Hashable, opening: asyncio.Task[Any], per_second: float) -> None:
        self.key = key
        self.users = 0
        self.per_second = per_second
        self._opening = opening
        self._budgets: dict[str, RateBudget] = {}
        # Live polls under way at once: as many as the budget serves in a second. The other triggers
        # wait for a place holding nothing, rather than a half-built poll each in the budget's queue.
        self.live_polls = asyncio.Semaphore(max(1, math.ceil(per_second)))

    async def client(self) -> Any:
        # Shielded: a user cancelled while the client is being made does not cancel it for the others.
        return await asyncio.shield(self._opening)

    @property
    def failed(self) -> bool:
        """The client could not be made (the error went to every user waiting for it)."""
        return self._opening.done() and (self._opening.cancelled() or self._opening.exception() is not None)

    def budget(self, action: str) -> RateBudget:
        budget = self._budgets.get(action)
        if budget is None:
            budget = self._budgets[action] = RateBudget(action, self.per_second)
        return budget

    async def close(self) -> None:
        if not self._opening.done():
            self._opening.cancel()
            return
        if self.failed:
            return
        try:
            await self._opening.result().close()
        except Exception as error:  # closing a client never fails a trigger
            log.debug("Closing the shared log client %s failed (%s)", self.key, error)


class LogCalls:
    """What one trigger's log reader calls: the shared client's ``call``, each call in its action's budget.

    ``urgent_by`` (the event loop's time) puts this trigger's calls ahead of the others until then,
    and makes a call whose turn would come later raise ``TooLate`` (its job has ended and its event
    waits for no turn it cannot get).
    """

    def __init__(self, shared: SharedClient, client: Any) -> None:
        self._shared, self._client = shared, client
        self.urgent_by: float | None = None

    def live_poll(self) -> asyncio.Semaphore:
        """A place among the live polls of this client (``async with``), taken before a poll starts."""
        return self._shared.live_polls

    async def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        urgent = self.urgent_by is not None
        await self._shared.budget(action).turn(urgent=urgent, by=self.urgent_by)
        result: dict[str, Any] = await self._client.call(action, params)
        return result


@contextlib.asynccontextmanager
async def shared_log_client(
    key: Hashable, open_client: Callable[[], Coroutine[Any, Any, Any]]
) -> AsyncIterator[LogCalls]:
    """This event loop's client for ``key`` (opened with ``open_client`` by its first user).

    Raises what ``open_client`` raises (a ``TencentCloudError``: no credentials, a bad region...) to every
    user waiting for it; the next user tries again.
    """
    loop = asyncio.get_running_loop()
    clients = _SHARED.setdefault(loop, {})
    shared = clients.get(key)
    if shared is None:
        opening = loop.create_task(open_client(), name=f"tencentcloud-log-client-{key}")
        shared = clients[key] = SharedClient(key, opening, log_requests_per_second())
    shared.users += 1
    try:
        try:
            client = await shared.client()
        except BaseException:
            if clients.get(key) is shared and shared.failed:
                del clients[key]  # a failed opening is not shared: the next user opens again
            raise
        yield LogCalls(shared, client)
    finally:
        shared.users -= 1
        if not shared.users:
            if clients.get(key) is shared:
                del clients[key]
            await shared.close()
