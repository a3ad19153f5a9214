"""What every Tencent Cloud hook shares: one ``tencentcloud`` connection -> settings -> signed SDK calls.

A platform hook (TI-A, TI-ONE) sets ``service`` and ``api_version`` and adds its typed actions; the
connection, secrets, retries and the sync/async clients live here once.
"""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow_provider_tia.compat import BaseHook
from airflow_provider_tia.connection_id import connection_id
from airflow_provider_tia.hooks import sdk
from airflow_provider_tia.secrets import redact, register_secrets

if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import Self

    from airflow_provider_tia.exceptions import ErrorTable

AsyncClientT = TypeVar("AsyncClientT", bound="AsyncTencentCloudClient")


class TencentCloudConnectionHook(BaseHook):
    """Settings of a ``tencentcloud`` connection: credentials, region, endpoint, retries.

    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``); ``tia_conn_id`` is a
        deprecated name of it.
    :param region: Region, overriding the connection's extra ``region``.
    :param request_timeout: Seconds before one HTTP request is abandoned (and retried).
    :param max_attempts: Attempts per call for throttling, network and internal errors.
    :param retry_backoff: First backoff in seconds; doubles each retry (capped at 30 s, with jitter).
    """

    conn_name_attr = "tencentcloud_conn_id"
    default_conn_name = "tencentcloud_default"
    conn_type = "tencentcloud"

    def __init__(
        self,
        tencentcloud_conn_id: str | None = None,
        region: str | None = None,
        *,
        request_timeout: int | None = None,
        max_attempts: int | None = None,
        retry_backoff: float | None = None,
        tia_conn_id: str | None = None,
    ) -> None:
        super().__init__()
        self.tencentcloud_conn_id = connection_id(
            type(self).__name__, tencentcloud_conn_id, {"tia_conn_id": tia_conn_id}
        )
        self.region = region
        self._overrides: dict[str, Any] = {
            "request_timeout": request_timeout,
            "max_attempts": max_attempts,
            "retry_backoff": retry_backoff,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tencentcloud_conn_id={self.tencentcloud_conn_id!r}, region={self.region!r})"

    def copy(self) -> Self:
        """A hook with the same settings and a client of its own (no connection lookup)."""
        twin = type(self)(self.tencentcloud_conn_id, self.region, **self._overrides)
        if "settings" in self.__dict__:
            twin.__dict__["settings"] = self.__dict__["settings"]
        return twin

    def _settings_of(self, conn: Any) -> sdk.Settings:
        settings = sdk.Settings.from_connection(conn, region=self.region, **self._overrides)
        register_secrets(settings.secret_key, settings.token)
        return settings

    @cached_property
    def settings(self) -> sdk.Settings:
        """Connection settings, read once per hook; the SecretKey and token are registered for masking."""
        return self._settings_of(self.get_connection(self.tencentcloud_conn_id))

    async def aget_settings(self) -> sdk.Settings:
        """``settings`` read in the triggerer, without blocking its event loop."""
        if "settings" not in self.__dict__:
            self.__dict__["settings"] = self._settings_of(await _aget_connection(self.tencentcloud_conn_id))
        return self.__dict__["settings"]


class TencentCloudBaseHook(TencentCloudConnectionHook):
    """Signed calls to one Tencent Cloud API (``service``, ``api_version``) through the official SDK."""

    service: ClassVar[str] = ""
    api_version: ClassVar[str] = ""
    errors: ClassVar[ErrorTable]  # the service's error codes -> classes (and retries): each platform's own

    @cached_property
    def client(self) -> Any:
        """The SDK's CommonClient, built once per hook (credentials resolved once, keep-alive on)."""
        from tencentcloud.common.common_client import CommonClient

        settings = self.settings
        return CommonClient(
            self.service,
            self.api_version,
            sdk.credential_for(settings),
            settings.region,
            sdk.client_profile(settings, self.service),
        )

    def call(
        self,
        action: str,
        params: dict[str, Any],
        *,
        before_retry: Callable[[], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """One signed call with retries: ``Response`` (with ``RequestId``), or a typed ``TencentCloudError``.

        The error says how many attempts the call made (``error.attempts``): above 1, an earlier
        attempt may have acted although its reply was lost. ``before_retry`` runs before each
        attempt after the first: a ``Response`` it returns (what the lost attempt did, found
        another way) ends the call, so a call that is not idempotent is never sent twice for nothing.
        """
        client, attempts = self.client, [0]

        def attempt(number: int) -> Any:
            attempts[0] = number
            found = before_retry() if number > 1 and before_retry is not None else None
            return {"Response": found} if found is not None else client.call_json(action, params)

        try:
            payload = sdk.call_with_retries(attempt, self.settings.retry_policy(self.errors), action)
        except Exception as error:
            raise sdk.to_provider_error(error, action, attempts[0], self.errors) from None
        return sdk.unwrap_response(action, payload, self.errors)

    def probe(self) -> tuple[str, dict[str, Any]]:
        """The cheap read ``test_connection`` makes: ``(action, params)``."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        """One cheap signed call (``probe``) in the connection's region."""
        try:
            response = self.call(*self.probe())
        except Exception as error:
            return False, redact(str(error))
        return (
            True,
            f"Connection works (region {self.settings.region}, RequestId: {response.get('RequestId')})",
        )

    async def _async_client(self, cls: type[AsyncClientT]) -> AsyncClientT:
        """An async client of this hook's service (``cls``: the platform's subclass)."""
        return await cls.create(self.service, self.api_version, await self.aget_settings(), self.errors)


async def _aget_connection(conn_id: str) -> Any:
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async  # pragma: no cover - Airflow 3.0

    return await sync_to_async(BaseHook.get_connection)(conn_id)  # pragma: no cover


class AsyncTencentCloudClient:
    """Signed async calls (the SDK's httpx client) for triggers. Build with ``await create(...)``.

    Building the SDK client resolves credentials and may import the SDK for the first time: both
    block, so ``create`` does them in a thread, keeping the triggerer's event loop free.
    """

    def __init__(self, client: Any, settings: sdk.Settings, errors: ErrorTable) -> None:
        self._client = client
        self.settings = settings
        self.errors = errors

    @classmethod
    async def create(cls, service: str, api_version: str, settings: sdk.Settings, errors: ErrorTable) -> Self:
        def build() -> Any:
            # What the first request would otherwise import on the event loop: httpx's async
            # transport backend (anyio) and the SDK's error types.
            import anyio._backends._asyncio  # noqa: F401
            import tencentcloud.common.exception  # noqa: F401
            from tencentcloud.common.common_client_async import CommonClient

            profile = sdk.client_profile(settings, service, asynchronous=True)
            return CommonClient(service, api_version, sdk.credential_for(settings), settings.region, profile)

        return cls(await asyncio.to_thread(build), settings, errors)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.close()

    async def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """The async twin of ``TencentCloudBaseHook.call``."""
        attempts = [0]

        async def attempt(number: int) -> Any:
            attempts[0] = number
            return await self._client.call_and_deserialize(action, params)

        try:
            payload = await sdk.acall_with_retries(attempt, self.settings.retry_policy(self.errors), action)
        except Exception as error:
            raise sdk.to_provider_error(error, action, attempts[0], self.errors) from None
        return sdk.unwrap_response(action, payload, self.errors)
