"""What the HTTP layer answers besides an action's own reply: the error envelope and injected faults
(a dropped connection, an HTTP 5xx page, an error code)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from .transport import TRANSPORT_KEY

if TYPE_CHECKING:
    from starlette.requests import Request

    from .faults import Fault


def json_reply(payload: dict, request_id: str) -> Response:
    """``payload`` in the API 3.0 envelope ``{"Response": {..., "RequestId": ...}}``."""
    payload = {"Response": {**payload, "RequestId": request_id}}
    return Response(json.dumps(payload, ensure_ascii=False).encode("utf-8"), media_type="application/json")


def error_response(code: str, message: str, request_id: str) -> Response:
    """The API 3.0 error envelope, HTTP 200, Content-Type exactly application/json."""
    return json_reply({"Error": {"Code": code, "Message": message}}, request_id)


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


async def fault_reply(request: Request, fault: Fault, action: str, request_id: str) -> Response:
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
