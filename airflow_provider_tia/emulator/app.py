"""HTTP layer only: parse a Tencent Cloud API 3.0 request, verify it, inject faults, dispatch, envelope."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from .actions import SCHEMAS, VERSION
from .auth import AuthError
from .errors import ApiError

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import MutableSequence

    from starlette.requests import Request

    from .actions import Service
    from .auth import Verifier
    from .faults import Fault, FaultInjector

TRANSPORT_KEY = "tia_emulator_transport"
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


class Backend(Protocol):
    """What the app needs from the emulator."""

    service: Service
    verifier: Verifier
    faults: FaultInjector
    calls: Counter[str]
    requests: MutableSequence[tuple[str, dict]]


@dataclass
class Parsed:
    """A request reduced to its action, version and action parameters."""

    action: str
    version: str
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
        except ValueError:
            raise ApiError("InvalidParameter", "The request body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "The request body must be a JSON object.")
        return Parsed(headers.get("x-tc-action", ""), headers.get("x-tc-version", ""), params, True, None)
    raw = query if method == "GET" else body.decode("utf-8", "replace")
    flat = dict(parse_qsl(raw, keep_blank_values=True))
    if "authorization" in headers or "x-tc-action" in headers:
        return Parsed(
            headers.get("x-tc-action", ""), headers.get("x-tc-version", ""), unflatten(flat), False, None
        )
    params = {k: v for k, v in flat.items() if k not in LEGACY_COMMON}
    return Parsed(flat.get("Action", ""), flat.get("Version", ""), unflatten(params), False, flat)


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


def create_app(backend: Backend) -> Starlette:
    """The Starlette app serving TI-A on ``/`` (GET and POST)."""

    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = request.scope.get("query_string", b"").decode("latin-1")
        try:
            parsed = parse(request.method, query, headers, body)
        except ApiError as exc:
            return error_response(exc.code, exc.message, request_id)
        action = parsed.action
        if not action:
            return error_response(
                "MissingParameter", "The request is missing a required parameter `Action`.", request_id
            )
        backend.calls[action] += 1
        backend.requests.append((action, parsed.params))
        try:
            host = headers.get("host", "")
            if parsed.legacy is not None:
                backend.verifier.verify_legacy(request.method, host, request.url.path, parsed.legacy)
            else:
                backend.verifier.verify_tc3(request.method, request.url.path, query, headers, body)
        except AuthError as exc:
            return error_response(exc.code, exc.message, request_id)
        if action not in SCHEMAS:
            return error_response("InvalidAction", f"The action `{action}` is not found.", request_id)
        if not parsed.version:
            return error_response(
                "MissingParameter", "The request is missing a required parameter `Version`.", request_id
            )
        if parsed.version != VERSION:
            return error_response(
                "NoSuchVersion", f"The API version `{parsed.version}` does not exist.", request_id
            )
        latency, fault = backend.faults.decide(action)
        if latency:
            await asyncio.sleep(latency)
        if fault is not None and not fault.after:
            return await _fault_reply(request, fault, action, request_id)
        try:
            result = backend.service.dispatch(action, parsed.params, parsed.typed)
        except ApiError as exc:
            if fault is not None:  # an `_after` fault loses the reply whatever it is (and is counted)
                return await _fault_reply(request, fault, action, request_id)
            return error_response(exc.code, exc.message, request_id)
        if fault is not None:
            return await _fault_reply(request, fault, action, request_id)
        return _json(result, request_id)

    return Starlette(routes=[Route("/", endpoint, methods=["GET", "POST"])])
