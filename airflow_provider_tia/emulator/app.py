"""HTTP layer only: parse a Tencent Cloud API 3.0 request, verify it, inject faults, dispatch, envelope.

One port serves several services (TI-A ``tia``, TI-ONE ``tione``): the service a TC3 request signed picks the
backend (a legacy-signed request, which names no service, picks it by ``Version``), then the action and the
version are checked against that backend (``InvalidAction``, ``NoSuchVersion``).

Every reply is the JSON error envelope (HTTP 200, exactly ``application/json``) unless it is an API reply or
the console page: wrong method (``UnsupportedProtocol``), wrong path (``InvalidAction``), a body over the
bound, an emulator bug (``InternalError``). Parsing, verifying and running an action happen in worker
threads, so no request blocks the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .auth import AuthError
from .console import CONSOLE_PATH, TIONE_CONSOLE_PATH, job_page, task_page
from .errors import ApiError
from .limits import MAX_ACTION_CHARS, MAX_BODY_BYTES, MAX_COUNTED_ACTIONS

if TYPE_CHECKING:
    from collections import Counter, deque
    from collections.abc import Collection

    from starlette.requests import Request

    from .actions import Service
    from .auth import Account, Credential, Verifier
    from .faults import Fault, FaultInjector

TRANSPORT_KEY = "tia_emulator_transport"
API_METHODS = ("GET", "POST")
DRAIN_BYTES = (
    8 * 1024 * 1024
)  # an oversized body is read and dropped up to this, so the client gets the reply
log = logging.getLogger(__name__)
_COUNT_LOCK = threading.Lock()  # calls are counted from worker threads
LEGACY_COMMON = (
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "SignatureMethod",
    "Token",
    "Language",
    "Signature",
    "RequestClient",
)


class ActionService(Protocol):
    """One served API: its version, its action names and how to run one for an account."""

    @property
    def version(self) -> str: ...

    @property
    def actions(self) -> Collection[str]: ...

    def dispatch(
        self, action: str, params: dict, typed: bool, account: Account | None, region: str = ""
    ) -> dict: ...


class Backend(Protocol):
    """What the app needs from the emulator: ``services`` maps a signed service name to its API."""

    service: Service | None
    services: dict[str, ActionService]
    verifier: Verifier
    faults: FaultInjector
    calls: Counter[str]
    requests: deque[tuple[str, dict]]


@dataclass
class Parsed:
    """A request reduced to its action, version and action parameters."""

    action: str
    version: str
    region: str
    params: dict
    typed: bool  # True for JSON bodies (types must match), False for query/form strings
    legacy: dict[str, str] | None  # flat params of an HmacSHA1/HmacSHA256 request


def unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """``{"PackageDir.0": "a", "PackageDir.1": "b"}`` -> ``{"PackageDir": ["a", "b"]}`` (nested too)."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ApiError("InvalidParameter", f"The parameter `{key}` conflicts with `{part}`.")
        if isinstance(node.get(parts[-1]), dict):
            raise ApiError("InvalidParameter", f"The parameter `{key}` conflicts with its items.")
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        items = {k: listify(v) for k, v in node.items()}
        if items and all(k.isdigit() for k in items):
            return [items[k] for k in sorted(items, key=int)]
        return items

    return listify(root)


def parse(method: str, query: str, headers: dict[str, str], body: bytes) -> Parsed:
    """Read action, version and params from the X-TC-* form or the legacy common-parameter form."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if method == "POST" and ctype == "application/json":
        try:
            params = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise ApiError("InvalidParameter", "The request body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "The request body must be a JSON object.")
        return Parsed(*_tc_headers(headers), params, True, None)
    raw = query if method == "GET" else body.decode("utf-8", "replace")
    flat = dict(parse_qsl(raw, keep_blank_values=True))
    if "authorization" in headers or "x-tc-action" in headers:
        return Parsed(*_tc_headers(headers), unflatten(flat), False, None)
    params = {k: v for k, v in flat.items() if k not in LEGACY_COMMON}
    common = (flat.get("Action", ""), flat.get("Version", ""), flat.get("Region", ""))
    return Parsed(*common, unflatten(params), False, flat)


def _tc_headers(headers: dict[str, str]) -> tuple[str, str, str]:
    """Action, version and region of an X-TC-* request."""
    return tuple(headers.get(f"x-tc-{k}", "") for k in ("action", "version", "region"))  # type: ignore[return-value]


def _json(payload: dict, request_id: str) -> Response:
    payload = {"Response": {**payload, "RequestId": request_id}}
    return Response(json.dumps(payload, ensure_ascii=False).encode("utf-8"), media_type="application/json")


def error_response(code: str, message: str, request_id: str) -> Response:
    """The API 3.0 error envelope, HTTP 200, Content-Type exactly application/json."""
    return _json({"Error": {"Code": code, "Message": message}}, request_id)


class _BrokenResponse(Response):
    """Fallback drop when the server gives no transport: start a response, then fail mid-body."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            }
        )
        raise ConnectionAbortedError("tia emulator: injected drop")


async def _drop(request: Request) -> Response:
    transport = request.scope.get("state", {}).get(TRANSPORT_KEY)
    if transport is None:
        return _BrokenResponse()
    transport.abort()
    for _ in range(3):
        await asyncio.sleep(0)  # let the server notice the disconnect so it sends nothing
    return Response(b"")


async def _fault_reply(request: Request, fault: Fault, action: str, request_id: str) -> Response:
    if fault.kind == "drop":
        return await _drop(request)
    if fault.kind == "http5xx":
        text = {502: "Bad Gateway", 503: "Service Unavailable"}[fault.status]
        return Response(
            f"<html><body>{fault.status} {text}</body></html>".encode(),
            status_code=fault.status,
            media_type="text/html",
        )
    return error_response(
        fault.code or "InternalError", f"injected fault {fault.label} on {action}", request_id
    )


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


def _service(backend: Backend) -> Service:
    assert backend.service is not None, "the emulator serves only once started"
    return backend.service


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
    return _json(result, request_id)


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
            return await _fault_reply(request, fault, action, request_id)
        reply = outcome.reply
        if reply is None:
            reply = await run_in_threadpool(_run, outcome.api, outcome.parsed, outcome.cred, request_id)
        if fault is not None:  # an `_after` fault: the action ran, its reply (whatever it is) is lost
            return await _fault_reply(request, fault, action, request_id)
        return reply

    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            return await api(request, request_id)
        except Exception as exc:  # an emulator bug: still the envelope, never a bare 500
            log.exception("TI-A emulator: unexpected error")
            return error_response("InternalError", f"emulator error: {type(exc).__name__}", request_id)

    async def console(request: Request) -> Response:
        q = request.query_params
        status, html = await run_in_threadpool(
            job_page,
            _service(backend).store,
            _service(backend).runner,
            q.get("cluster", ""),
            q.get("name", ""),
            q.get("account") or None,
        )
        return HTMLResponse(html, status_code=status)

    async def tione_console(request: Request) -> Response:
        service = backend.services.get("tione")
        store = getattr(service, "store", None)
        if store is None:
            return HTMLResponse("TI-ONE is not served", status_code=404)
        status, html = await run_in_threadpool(task_page, store, request.query_params.get("id", ""))
        return HTMLResponse(html, status_code=status)

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
            Route(CONSOLE_PATH, console, methods=["GET"]),
            Route(TIONE_CONSOLE_PATH, tione_console, methods=["GET"]),
        ],
        exception_handlers={404: other, 405: other},
    )
