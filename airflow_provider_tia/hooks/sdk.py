"""Glue to the official Tencent Cloud SDK, shared by every platform: settings, profiles, retries, errors, secrets.

The SDK signs (TC3-HMAC-SHA256), resolves credentials and sends requests. Retries are ours
(``RetryPolicy``): the SDK's ``StandardRetryer`` never clears a failed attempt's error, so a call that
succeeds on a retry is still reported as failed, and it sleeps after the last attempt. Our loop judges
each attempt on its own and returns how many attempts a call took, so a caller can tell whether an
earlier attempt of the same call may have acted (a lost CreateJob reply). SDK modules are imported
inside the functions here, never at DAG-parse time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from airflow_provider_tia.exceptions import (
    ErrorTable,
    MalformedResponse,
    NetworkError,
    TencentCloudConfigError,
    TencentCloudError,
)
from airflow_provider_tia.secrets import redact, register_secrets

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from airflow.sdk import Connection

SSL_HINT = (
    " (the endpoint seems to speak plain http, e.g. the local emulator: write the connection's endpoint "
    "as http://host:port)"
)

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    extra: Mapping[str, Any] = dataclasses.field(repr=False, default_factory=dict)
    endpoints: Mapping[str, str] = dataclasses.field(default_factory=dict)

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
            raise TencentCloudConfigError(
                f"Connection {conn.conn_id!r} has no region: set the connection's extra 'region' "
                "(e.g. ap-beijing) or pass region= to the hook/operator"
            )
        endpoint, scheme = _endpoint_and_scheme(conn, extra)
        endpoints = extra.get("endpoints") or {}
        if not isinstance(endpoints, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in endpoints.items()
        ):
            raise TencentCloudConfigError(
                f"Connection {conn.conn_id!r}: extra 'endpoints' must map service names to hosts, "
                'e.g. {"tione": "tione.tencentcloudapi.com"}'
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
            extra=extra,
            endpoints={service: _host_of(host) for service, host in endpoints.items()},
        )
        if settings.secret_id and not settings.secret_key:
            raise TencentCloudConfigError(
                f"Connection {conn.conn_id!r} has a SecretId (login) but no SecretKey (password)"
            )
        return settings

    def retry_policy(self, errors: ErrorTable) -> RetryPolicy:
        """Retries of this connection for a service whose codes ``errors`` classifies."""
        return RetryPolicy(self.max_attempts, self.retry_backoff, errors)

    @property
    def is_tencent_cloud(self) -> bool:
        """True unless the endpoint points elsewhere (a local emulator, a test server)."""
        host = (self.endpoint or "").split(":")[0]
        return not host or host.endswith((".tencentcloudapi.com", ".myqcloud.com"))

    def endpoint_for(self, service: str) -> str | None:
        """Where ``service``'s calls go; ``None`` is the SDK's default (``<service>.tencentcloudapi.com``).

        The extra ``endpoints`` (``{"tione": ..., "tia": ...}``) wins. Else the connection's one
        ``endpoint`` serves every service (an emulator serves both platforms), unless it is the
        Tencent Cloud host of another service (``tia.tencentcloudapi.com`` never takes TI-ONE calls).
        """
        if service in self.endpoints:
            return self.endpoints[service]
        host = (self.endpoint or "").split(":")[0].split("/")[0]
        if host.endswith(".tencentcloudapi.com") and host.split(".")[0] != service:
            return None
        return self.endpoint


def _host_of(endpoint: str) -> str:
    """``host[:port][/path]`` of an endpoint written with or without a scheme."""
    if "://" not in endpoint:
        return endpoint
    parts = urlsplit(endpoint)
    return parts.netloc + (parts.path.rstrip("/") or "")


def _endpoint_and_scheme(conn: Connection, extra: Mapping[str, Any]) -> tuple[str | None, str]:
    endpoint = extra.get("endpoint") or conn.host or None
    scheme = (extra.get("scheme") or "").lower() or None
    if endpoint and "://" in endpoint:
        parts = urlsplit(endpoint)
        scheme = scheme or parts.scheme.lower()
        endpoint = parts.netloc + (parts.path.rstrip("/") or "")
    scheme = scheme or "https"
    if scheme not in ("https", "http"):
        raise TencentCloudConfigError(
            f"Connection {conn.conn_id!r}: scheme must be 'https' or 'http', got {scheme!r}"
        )
    return endpoint, scheme


def extra_of(conn: Connection) -> dict[str, Any]:
    """The connection's extra, with the UI's ``extra__tencentcloud__<field>`` keys read as ``<field>``."""
    try:
        extra = conn.extra_dejson
    except Exception as error:
        raise TencentCloudConfigError(
            f"Connection {conn.conn_id!r} has an extra that is not valid JSON"
        ) from error
    return {key.removeprefix("extra__tencentcloud__"): value for key, value in (extra or {}).items()}


def credential_for(settings: Settings) -> Any:
    """An SDK credential: the connection's keys, else the SDK's default chain (env, profile, role).

    Blocking (the chain may read files or ask the instance metadata service): in a trigger, call it
    in a thread.
    """
    from tencentcloud.common import credential

    if settings.secret_id:
        return credential.Credential(settings.secret_id, settings.secret_key, settings.token)
    try:
        found = credential.DefaultCredentialProvider().get_credentials()
    except Exception:
        raise TencentCloudConfigError(
            f"Connection {settings.conn_id!r} has no SecretId (login) and the Tencent Cloud default "
            "credential chain found none (env TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, "
            "~/.tencentcloud/credentials, instance role)"
        ) from None
    register_secrets(getattr(found, "secret_key", None), getattr(found, "token", None))
    return found


def client_profile(settings: Settings, service: str, *, asynchronous: bool = False) -> Any:
    """SDK ClientProfile for ``service``: its endpoint, keep-alive and request timeout; no SDK retryer
    (``RetryPolicy`` retries)."""
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    http = HttpProfile(
        protocol=settings.scheme,
        endpoint=settings.endpoint_for(service),
        reqTimeout=settings.request_timeout,
        keepAlive=True,
    )
    if asynchronous and settings.scheme == "http":
        # Plain http has no TLS: don't let httpx build (and load CA files into) an SSL context per
        # client, ~20 ms each. https keeps full verification.
        http.certification = False
    return ClientProfile(httpProfile=http, language="en-US")


# ------------------------------------------------------------------------------------------ retries
@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Which failures get another attempt, and how long to wait before it (jittered, doubling, <= 30 s).

    An API error is retried when the service's ``ErrorTable`` calls its code transient (throttling,
    network, the service's own passing faults): the classification lives in that table only.
    """

    max_attempts: int
    backoff: float
    errors: ErrorTable

    def should_retry(self, error: BaseException) -> bool:
        from tencentcloud.common.exception import TencentCloudSDKException

        if isinstance(error, TencentCloudSDKException):
            return self.errors.is_transient(error.get_code())
        return _is_transport_error(error)

    def delay_after(self, attempt: int, error: BaseException, action: str) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based); re-raises when there is no next one."""
        if attempt >= self.max_attempts or not self.should_retry(error):
            raise error
        delay = min(30.0, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        log.warning(
            "%s failed (%s); attempt %d in %.1fs", action, redact(describe_error(error)), attempt + 1, delay
        )
        return delay


def call_with_retries(fn: Callable[[int], T], policy: RetryPolicy, action: str) -> T:
    """``fn(attempt)`` under ``policy`` (attempts count from 1); the last failure propagates."""
    for attempt in itertools.count(1):
        try:
            return fn(attempt)
        except Exception as error:
            time.sleep(policy.delay_after(attempt, error, action))
    raise AssertionError("unreachable")  # pragma: no cover


async def acall_with_retries(fn: Callable[[int], Awaitable[T]], policy: RetryPolicy, action: str) -> T:
    """The async twin of ``call_with_retries``."""
    for attempt in itertools.count(1):
        try:
            return await fn(attempt)
        except Exception as error:
            await asyncio.sleep(policy.delay_after(attempt, error, action))
    raise AssertionError("unreachable")  # pragma: no cover


def _is_transport_error(err: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return False
    return isinstance(err, httpx.TransportError)


# ------------------------------------------------------------------------------------------- errors
def describe_error(err: Any) -> str:
    code = getattr(err, "code", None) or type(err).__name__
    message = getattr(err, "message", None) or str(err)
    request_id = getattr(err, "requestId", None)
    return f"{code}: {message}" + (f" (RequestId: {request_id})" if request_id else "")


def to_provider_error(
    err: BaseException, action: str, attempts: int, errors: ErrorTable
) -> TencentCloudError:
    """Turn an SDK/transport/parse failure into the provider's typed error, secrets redacted.

    ``attempts``: how many attempts the call made, kept on the error (``error.attempts``).
    ``errors``: the service's code classification.
    """
    error = _typed(err, action, errors)
    error.attempts = max(attempts, 1)
    return error


def _typed(err: BaseException, action: str, errors: ErrorTable) -> TencentCloudError:
    from tencentcloud.common.exception import TencentCloudSDKException

    if isinstance(err, TencentCloudError):
        return err
    if isinstance(err, TencentCloudSDKException):
        message = err.get_message()
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        text = str(message)[:2000]
        if _looks_like_tls_to_http(text):
            text += SSL_HINT
        return errors.error_for(err.get_code(), redact(f"{action}: {text}"), err.get_request_id())
    if _is_transport_error(err) or isinstance(err, OSError | TimeoutError):
        text = f"{action}: {type(err).__name__}: {str(err)[:500]}"
        if _looks_like_tls_to_http(text):
            text += SSL_HINT
        return NetworkError(redact(text), code="ClientNetworkError")
    if isinstance(err, ValueError | KeyError | TypeError):
        return MalformedResponse(
            redact(f"{action}: unreadable reply ({type(err).__name__}: {str(err)[:300]})")
        )
    return TencentCloudError(redact(f"{action}: {type(err).__name__}: {str(err)[:500]}"))


def _looks_like_tls_to_http(text: str) -> bool:
    """The OpenSSL errors of a TLS handshake answered by a plain-http server."""
    return any(
        marker in text for marker in ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure")
    )


def unwrap_response(action: str, payload: Any, errors: ErrorTable) -> dict[str, Any]:
    """``payload["Response"]``, checked; an error envelope the SDK let through becomes a typed error."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError as bad_json:
            raise MalformedResponse(f"{action}: the reply is not JSON") from bad_json
    if not isinstance(payload, Mapping) or not isinstance(payload.get("Response"), Mapping):
        raise MalformedResponse(f"{action}: the reply has no Response object")
    response = payload["Response"]
    error = response.get("Error")
    if isinstance(error, Mapping):
        raise errors.error_for(
            str(error.get("Code") or "UnknownError"),
            redact(f"{action}: {error.get('Message') or ''}"),
            response.get("RequestId"),
        )
    return dict(response)
