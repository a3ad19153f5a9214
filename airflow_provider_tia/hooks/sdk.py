"""Glue to the official Tencent Cloud SDK: connection settings, profiles, retries, error mapping.

The SDK does the signing (TC3-HMAC-SHA256), credentials and retries. Its modules are imported inside
the functions here, never at DAG-parse time.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import json
import logging
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_tia.exceptions import (
    MalformedResponse,
    NetworkError,
    TIAConfigError,
    TIAError,
    error_for_code,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

SERVICE = "tia"
API_VERSION = "2018-02-26"
SDK_LOGGER = "tencentcloud_sdk_common"
# Codes worth another attempt. The SDK's own retryer covers only network errors and throttling.
RETRY_CODES = frozenset(
    {
        "ClientNetworkError",
        "ServerNetworkError",
        "RequestLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
        "InternalError",
        "FailedOperation.TimeOut",
    }
)

log = logging.getLogger(__name__)
# Retries made during the current call (read after a CreateJob to know whether a lost reply may hide
# a job the service did create).
retries_in_call: contextvars.ContextVar[int] = contextvars.ContextVar("tia_retries_in_call", default=0)
_known_secrets: set[str] = set()
# As Airflow's masker: a "secret" of a few characters would turn ordinary words into "***".
MIN_SECRET_LENGTH = 5


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a hook needs from its Airflow connection. ``secret_key``/``token`` never appear in repr."""

    conn_id: str
    region: str
    endpoint: str | None
    scheme: str
    secret_id: str | None
    secret_key: str | None = dataclasses.field(repr=False, default=None)
    token: str | None = dataclasses.field(repr=False, default=None)
    request_timeout: int = 60
    max_attempts: int = 5
    retry_backoff: float = 1.0

    @classmethod
    def from_connection(
        cls,
        conn: Connection,
        *,
        region: str | None = None,
        request_timeout: int | None = None,
        max_attempts: int | None = None,
        retry_backoff: float | None = None,
    ) -> Settings:
        """Read login (SecretId), password (SecretKey) and extra (region, token, endpoint, scheme)."""
        extra = extra_of(conn)
        region = region or extra.get("region")
        if not region:
            raise TIAConfigError(
                f"Connection {conn.conn_id!r} has no region: set the connection's extra 'region' "
                "(e.g. ap-beijing) or pass region= to the hook/operator"
            )
        endpoint = extra.get("endpoint") or conn.host or None
        scheme = (extra.get("scheme") or "").lower() or None
        if endpoint and "://" in endpoint:
            parts = urlsplit(endpoint)
            scheme = scheme or parts.scheme.lower()
            endpoint = parts.netloc + (parts.path.rstrip("/") or "")
        scheme = scheme or "https"
        if scheme not in ("https", "http"):
            raise TIAConfigError(
                f"Connection {conn.conn_id!r}: scheme must be 'https' or 'http', got {scheme!r}"
            )
        settings = cls(
            conn_id=conn.conn_id,
            region=str(region),
            endpoint=endpoint,
            scheme=scheme,
            secret_id=conn.login or None,
            secret_key=conn.password or None,
            token=extra.get("token") or None,
            request_timeout=int(request_timeout or extra.get("request_timeout") or 60),
            max_attempts=int(max_attempts or extra.get("max_attempts") or 5),
            retry_backoff=float(
                retry_backoff if retry_backoff is not None else extra.get("retry_backoff", 1.0)
            ),
        )
        if settings.secret_id and not settings.secret_key:
            raise TIAConfigError(
                f"Connection {conn.conn_id!r} has a SecretId (login) but no SecretKey (password)"
            )
        settings.register_secrets()
        return settings

    def register_secrets(self) -> None:
        """Give the SecretKey and token to Airflow's secret masker and to our own redaction."""
        register_secrets(self.secret_key, self.token)


def register_secrets(*secrets: str | None) -> None:
    """Mask these secrets everywhere: Airflow's secret masker, our error texts, the SDK's DEBUG log."""
    for secret in secrets:
        if not secret:
            continue
        if len(secret) >= MIN_SECRET_LENGTH:
            _known_secrets.add(secret)
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(secret)
        except Exception:  # pragma: no cover - masking is best effort outside a task
            log.debug("Airflow's secret masker is unavailable here")
    _install_sdk_log_redaction()


def extra_of(conn: Connection) -> dict[str, Any]:
    try:
        extra = conn.extra_dejson
    except Exception as error:
        raise TIAConfigError(f"Connection {conn.conn_id!r} has an extra that is not valid JSON") from error
    out: dict[str, Any] = {}
    for key, value in (extra or {}).items():
        # The UI may store custom fields as extra__tencentcloud__<field>.
        out[key.removeprefix("extra__tencentcloud__")] = value
    return out


def redact(text: str) -> str:
    """Replace every known secret in ``text`` by ``***``."""
    for secret in _known_secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _known_secrets:
            message = redact(record.getMessage())
            record.msg, record.args = message, None
        return True


def _install_sdk_log_redaction() -> None:
    """At DEBUG the SDK logs whole requests (X-TC-Token included): strip our secrets from them."""
    sdk_logger = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(f, _RedactFilter) for f in sdk_logger.filters):
        sdk_logger.addFilter(_RedactFilter())


def credential_for(settings: Settings) -> Any:
    """An SDK credential: the connection's keys, else the SDK's default chain (env, profile, role)."""
    from tencentcloud.common import credential

    if settings.secret_id:
        return credential.Credential(settings.secret_id, settings.secret_key, settings.token)
    try:
        found = credential.DefaultCredentialProvider().get_credentials()
    except Exception:
        raise TIAConfigError(
            f"Connection {settings.conn_id!r} has no SecretId (login) and the Tencent Cloud default "
            "credential chain found none (env TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, "
            "~/.tencentcloud/credentials, instance role)"
        ) from None
    register_secrets(getattr(found, "secret_key", None), getattr(found, "token", None))
    return found


def _backoff(base: float) -> Any:
    def backoff(attempt: int) -> float:
        return min(30.0, base * 2**attempt) * random.uniform(0.5, 1.0)

    return backoff


def client_profile(settings: Settings, *, asynchronous: bool = False) -> Any:
    """SDK ClientProfile: keep-alive, request timeout, retries of transient codes with jittered backoff."""
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    http = HttpProfile(
        protocol=settings.scheme,
        endpoint=settings.endpoint,
        reqTimeout=settings.request_timeout,
        keepAlive=True,
    )
    if asynchronous and settings.scheme == "http":
        # Plain http has no TLS: don't let httpx build (and load CA files into) an SSL context per
        # client, ~20 ms each. https keeps full verification.
        http.certification = False
    if asynchronous:
        retryer: Any = _async_retryer_class()(settings.max_attempts, _async(_backoff(settings.retry_backoff)))
    else:
        retryer = _sync_retryer_class()(settings.max_attempts, _backoff(settings.retry_backoff))
    return ClientProfile(httpProfile=http, retryer=retryer, language="en-US")


def _async(fn: Any) -> Any:
    async def wrapper(attempt: int) -> float:
        return fn(attempt)

    return wrapper


def _should_retry(err: Any) -> bool:
    from tencentcloud.common.exception import TencentCloudSDKException

    if isinstance(err, TencentCloudSDKException):
        code = err.get_code() or ""
        return code in RETRY_CODES or code.startswith("InternalError.")
    return _is_transport_error(err)


def _is_transport_error(err: Any) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return False
    return isinstance(err, httpx.TransportError)


def _note_retry(attempt: int, sleep: float, err: Any) -> None:
    retries_in_call.set(retries_in_call.get() + 1)
    log.warning("TI-A call failed (%s); retry %d in %.1fs", redact(describe_error(err)), attempt + 1, sleep)


@functools.cache
def _sync_retryer_class() -> type:
    from tencentcloud.common.retry import StandardRetryer

    class Retryer(StandardRetryer):
        # The SDK's send_request never clears the previous attempt's error, so a success after a retry
        # is still treated as a failure (and the stale error raised): each attempt is judged on its own.
        def send_request(self, fn: Any) -> Any:
            for attempt in range(self._max_attempts):
                try:
                    return fn()
                except Exception as error:
                    if attempt == self._max_attempts - 1 or not self.should_retry(None, error):
                        raise
                    sleep = self._backoff_fn(attempt)
                    self.on_retry(attempt, sleep, None, error)
                    time.sleep(sleep)
            raise AssertionError("unreachable")  # pragma: no cover

        def should_retry(self, resp: Any, err: Any) -> bool:  # type: ignore[override]
            return err is not None and _should_retry(err)

        def on_retry(self, n: int, sleep: float, resp: Any, err: Any) -> None:
            _note_retry(n, sleep, err)

    return Retryer


@functools.cache
def _async_retryer_class() -> type:
    from tencentcloud.common.retry_async import StandardRetryer

    class AsyncRetryer(StandardRetryer):
        async def send_request(self, fn: Any) -> Any:  # same fix as the sync retryer
            for attempt in range(self._max_attempts):
                try:
                    return await fn()
                except Exception as error:
                    if attempt == self._max_attempts - 1 or not await self.should_retry(None, error):
                        raise
                    sleep = await self._backoff_fn(attempt)
                    await self.on_retry(attempt, sleep, None, error)
                    await asyncio.sleep(sleep)
            raise AssertionError("unreachable")  # pragma: no cover

        async def should_retry(self, resp: Any, err: Any) -> bool:  # type: ignore[override]
            return err is not None and _should_retry(err)

        async def on_retry(self, n: int, sleep: float, resp: Any, err: Any) -> None:
            _note_retry(n, sleep, err)

    return AsyncRetryer


def describe_error(err: Any) -> str:
    code = getattr(err, "code", None) or type(err).__name__
    message = getattr(err, "message", None) or str(err)
    request_id = getattr(err, "requestId", None)
    return f"{code}: {message}" + (f" (RequestId: {request_id})" if request_id else "")


def to_provider_error(err: BaseException, action: str) -> TIAError:
    """Turn an SDK/transport/parse failure into the provider's typed error, secrets redacted."""
    from tencentcloud.common.exception import TencentCloudSDKException

    if isinstance(err, TIAError):
        return err
    if isinstance(err, TencentCloudSDKException):
        message = err.get_message()
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        return error_for_code(
            err.get_code(), redact(f"{action}: {str(message)[:2000]}"), err.get_request_id()
        )
    if _is_transport_error(err) or isinstance(err, OSError | TimeoutError):
        return NetworkError(
            redact(f"{action}: {type(err).__name__}: {str(err)[:500]}"), code="ClientNetworkError"
        )
    if isinstance(err, ValueError | KeyError | TypeError):
        return MalformedResponse(
            redact(f"{action}: unreadable reply ({type(err).__name__}: {str(err)[:300]})")
        )
    return TIAError(redact(f"{action}: {type(err).__name__}: {str(err)[:500]}"))


def unwrap_response(action: str, payload: Any) -> Mapping[str, Any]:
    """``payload["Response"]``, checked; an error envelope the SDK let through becomes a typed error."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError as error:
            raise MalformedResponse(f"{action}: the reply is not JSON") from error
    if not isinstance(payload, Mapping) or not isinstance(payload.get("Response"), Mapping):
        raise MalformedResponse(f"{action}: the reply has no Response object")
    response = payload["Response"]
    error = response.get("Error")
    if isinstance(error, Mapping):
        raise error_for_code(
            str(error.get("Code") or "UnknownError"),
            redact(f"{action}: {error.get('Message') or ''}"),
            response.get("RequestId"),
        )
    return response

