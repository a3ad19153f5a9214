"""HTTP layer only: parse a Tencent Cloud API 3.0 request, verify it, inject faults, dispatch, envelope.

One port serves several services (TI-A ``tia``, TI-ONE ``tione``): the service a TC3 request signed picks the
backend (a legacy-signed request, which names no service, picks it by ``Version``), then the action and the
version are checked against that backend (``InvalidAction``, ``NoSuchVersion``).

Every reply is the JSON error envelope (HTTP 200, exactly ``application/json``) unless it is an API reply or
a service's console page (``console_path``): wrong method (``UnsupportedProtocol``), wrong path
(``InvalidAction``), a body over the bound, an emulator bug (``InternalError``). Parsing, verifying and
running an action happen in worker threads, so no request blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .auth import AuthError
from .errors import ApiError
from .limits import MAX_ACTION_CHARS, MAX_BODY_BYTES, MAX_COUNTED_ACTIONS
from .parsing import Parsed, parse
from .replies import error_response, fault_reply, json_reply

if TYPE_CHECKING:
    from collections import Counter, deque
    from collections.abc import Collection, Mapping

    from starlette.requests import Request

    from .auth import Account, Credential, Verifier
    from .faults import Fault, FaultInjector

API_METHODS = ("GET", "POST")
DRAIN_BYTES = (
    8 * 1024 * 1024
)  # an oversized body is read and dropped up to this, so the client gets the reply
log = logging.getLogger(__name__)
_COUNT_LOCK = threading.Lock()  # calls are counted from worker threads


class ActionService(Protocol):
    """One served API: its version, its action names and how to run one for an account."""

    @property
    def version(self) -> str: ...

    @property
    def actions(self) -> Collection[str]: ...

    @property
    def console_path(self) -> str:
        """Where the service's human page of one job is served (GET, no auth)."""
        ...

    def dispatch(
        self, action: str, params: dict, typed: bool, account: Account | None, region: str = ""
    ) -> dict: ...

    def console(self, query: Mapping[str, str]) -> tuple[int, str]:
        """(HTTP status, HTML) of the console page the query string asks for."""
        ...


class Backend(Protocol):
    """What the app needs from the emulator: ``services`` maps a signed service name to its API."""

    services: dict[str, ActionService]
    verifier: Verifier
    faults: FaultInjector
    calls: Counter[str]
    requests: deque[tuple[str, dict]]


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is larger than MAX_BODY_BYTES (the rest is dropped unread, not kept)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_BYTES:
        return None  # not worth draining: reply at once, the connection closes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > DRAIN_BYTES:
            return None
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    return b"".join(chunks) if size <= MAX_BODY_BYTES else None


def _count(backend: Backend, action: str, params: dict) -> None:
    """Record a call for tests, keeping the counter small whatever Action names arrive."""
    with _COUNT_LOCK:
        known = any(action in api.actions for api in backend.services.values())
        if known or action in backend.calls or len(backend.calls) < MAX_COUNTED_ACTIONS:
            backend.calls[action] += 1
    backend.requests.append((action, params))


def _api_for(backend: Backend, parsed: Parsed, headers: dict[str, str]) -> ActionService:
    """The API a request addresses: its signed service, or for a legacy signature the one of its Version."""
    if parsed.legacy is None:
        return backend.services[backend.verifier.service_of(headers)]
    by_version = [api for api in backend.services.values() if api.version == parsed.version]
    return by_version[0] if by_version else next(iter(backend.services.values()))


def _admit(
    backend: Backend, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> tuple[Parsed, Credential, ActionService]:
    """Parse and authenticate a request and check its action and version (runs in a worker thread)."""
    parsed = parse(method, query, headers, body)
    action = parsed.action
    if not action:
        raise ApiError("MissingParameter", "The request is missing a required parameter `Action`.")
    if len(action) > MAX_ACTION_CHARS:
        raise ApiError("InvalidAction", f"The action is longer than {MAX_ACTION_CHARS} characters.")
    _count(backend, action, parsed.params)
    try:
        if parsed.legacy is not None:
            cred = backend.verifier.verify_legacy(method, headers.get("host", ""), path, parsed.legacy)
        else:
            cred = backend.verifier.verify_tc3(method, path, query, headers, body)
    except AuthError as exc:
        raise ApiError(exc.code, exc.message) from None
    api = _api_for(backend, parsed, headers)
    if action not in api.actions:
        raise ApiError("InvalidAction", f"The action `{action}` is not found.")
    if not parsed.version:
        raise ApiError("MissingParameter", "The request is missing a required parameter `Version`.")
    if parsed.version != api.version:
        raise ApiError(
            "NoSuchVersion", f"The API version `{parsed.version[:MAX_ACTION_CHARS]}` does not exist."
        )
    return parsed, cred, api


@dataclass
class _Admitted:
    """An authenticated request; ``reply`` is set when its action already ran (no latency or early fault)."""

    parsed: Parsed
    cred: Credential
    api: ActionService
    latency: float
    fault: Fault | None
    reply: Response | None


def _run(api: ActionService, parsed: Parsed, cred: Credential, request_id: str) -> Response:
    """Run the action for the caller's account; its reply, success or error envelope (in a worker thread)."""
    try:
        result = api.dispatch(parsed.action, parsed.params, parsed.typed, cred.account, parsed.region)
    except ApiError as exc:
        return error_response(exc.code, exc.message, request_id)
    return json_reply(result, request_id)


def _admit_and_run(
    backend: Backend,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    request_id: str,
) -> _Admitted | Response:
    """Admit the request, draw its faults and, when nothing must happen first, run it: one thread hop."""
    try:
        parsed, cred, api = _admit(backend, method, path, query, headers, body)
    except ApiError as exc:
        return error_response(exc.code, exc.message, request_id)
    latency, fault = backend.faults.decide(parsed.action)
    early = bool(latency) or (fault is not None and not fault.after)
    reply = None if early else _run(api, parsed, cred, request_id)
    return _Admitted(parsed, cred, api, latency, fault, reply)


def create_app(backend: Backend) -> Starlette:
    """The Starlette app serving every API of ``backend.services`` on ``/`` (GET and POST) and the console page."""

    async def api(request: Request, request_id: str) -> Response:
        if request.method not in API_METHODS:
            return error_response(
                "UnsupportedProtocol",
                f"HTTP method {request.method} is not supported: use GET or POST.",
                request_id,
            )
        body = await _read_body(request)
        query = request.scope.get("query_string", b"").decode("latin-1")
        if body is None or len(query) > MAX_BODY_BYTES:
            return error_response(
                "InvalidParameterValue",
                f"The request body and the query string must each be at most {MAX_BODY_BYTES} bytes.",
                request_id,
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        outcome = await run_in_threadpool(
            _admit_and_run, backend, request.method, request.url.path, query, headers, body, request_id
        )
        if isinstance(outcome, Response):
            return outcome
        if outcome.latency:
            await asyncio.sleep(outcome.latency)
        fault, action = outcome.fault, outcome.parsed.action
        if fault is not None and not fault.after:
            return await fault_reply(request, fault, action, request_id)
        reply = outcome.reply
        if reply is None:
            reply = await run_in_threadpool(_run, outcome.api, outcome.parsed, outcome.cred, request_id)
        if fault is not None:  # an `_after` fault: the action ran, its reply (whatever it is) is lost
            return await fault_reply(request, fault, action, request_id)
        return reply

    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            return await api(request, request_id)
        except Exception as exc:  # an emulator bug: still the envelope, never a bare 500
            log.exception("TI-A emulator: unexpected error")
            return error_response("InternalError", f"emulator error: {type(exc).__name__}", request_id)

    def console_route(service: ActionService) -> Route:
        async def console(request: Request) -> Response:
            status, html = await run_in_threadpool(service.console, dict(request.query_params))
            return HTMLResponse(html, status_code=status)

        return Route(service.console_path, console, methods=["GET"])

    async def other(request: Request, exc: Exception) -> Response:
        request_id = str(uuid.uuid4())
        if request.method not in API_METHODS:
            return error_response(
                "UnsupportedProtocol",
                f"HTTP method {request.method} is not supported: use GET or POST.",
                request_id,
            )
        return error_response(
            "InvalidAction",
            f"The path {request.url.path[:200]!r} is not served: API requests go to /.",
            request_id,
        )

    return Starlette(
        routes=[
            Route("/", endpoint, methods=list(API_METHODS)),
            *(console_route(service) for service in backend.services.values()),
        ],
        exception_handlers={404: other, 405: other},
    )
