"""The inference gateway in front of the services' replicas: ``POST /<ServiceGroupId>/v1/models/m:predict``
(also ``/<ServiceGroupId>/inference``, tiinfer's own path) forwards the JSON body to a ready replica of one
of the group's versions and answers with the replica's reply, status and body unchanged.

It runs on its own 127.0.0.1 port (started on first use; ``url`` is what call info reports as
``InternetEndpoint``). Traffic is split between the group's versions in proportion to their ``Weight``;
stopped versions and versions without a ready replica get none. With authorization on, the request must
carry one of the group's tokens in ``Authorization``, bare (as Tencent's documentation shows) or as
``Bearer <token>``. The gateway's own errors are JSON ``{"Error": {"Code", "Message"}}``: 401
``FailedOperation.InvalidAuthToken`` (missing or wrong token), 404 ``ResourceNotFound`` (no such group or
path), 413 (body over 10 MiB), 503 ``InvalidParameter.ModelIsOffline`` (nothing serving), 502 (the replica
failed to answer), 504 (it took longer than 60 s). A simulated service (no process) answers
``{"simulated": true, "ServiceId", "BodyBytes"}``.
"""

from __future__ import annotations

import hmac
import random
import socket
import threading
import time
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    import uvicorn
    from starlette.requests import Request

    from .service_store import ServiceStore
    from .serving import Serving

MAX_BODY = 10 * 1024 * 1024
UPSTREAM_TIMEOUT = 60.0
PATHS = ("v1/models/m:predict", "inference")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"Error": {"Code": code, "Message": message}}, status_code=status)


def _token(header: str) -> str:
    value = header.strip()
    return value[7:].strip() if value[:7].lower() == "bearer " else value


class Gateway:
    """Routes predictions to the replicas ``serving`` runs for the groups of ``services``."""

    def __init__(self, services: ServiceStore, serving: Serving) -> None:
        self.services, self.serving = services, serving
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def pick(self, gid: str) -> tuple[str, int] | None:
        """(service Id, port) of a ready replica, the version drawn by weight; None when nothing serves."""
        group = self.services.group(gid, None)
        choices = []
        for service in group["Services"]:
            ports = self.serving.ready_ports(service["ServiceId"])
            if service["Weight"] > 0 and ports and service["Status"] not in ("Stopping", "Stopped"):
                choices.append((service["Weight"], service["ServiceId"], ports))
        if not choices:
            return None
        weight, sid, ports = random.choices(choices, weights=[c[0] for c in choices])[0]
        return sid, random.choice(ports)

    async def predict(self, request: Request) -> Response:
        import httpx

        from ..core.errors import ApiError

        gid, path = request.path_params["group"], request.path_params["path"]
        if path not in PATHS or request.method != "POST":
            return _error(404, "ResourceNotFound", f"POST /{gid}/v1/models/m:predict is the path served")
        try:
            group = self.services.group(gid, None)
        except ApiError:
            return _error(404, "ResourceNotFound", f"no service group {gid[:64]!r}")
        if group["AuthorizationEnable"]:
            given = _token(request.headers.get("authorization", "")).encode()
            if not any(hmac.compare_digest(given, t["Value"].encode()) for t in group.get("Tokens", [])):
                return _error(
                    401,
                    "FailedOperation.InvalidAuthToken",
                    "missing or wrong token in the Authorization header",
                )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return _error(413, "InvalidParameter", f"the body is larger than {MAX_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(413, "InvalidParameter", f"the body is larger than {MAX_BODY} bytes")
        try:
            target = self.pick(gid)
        except ApiError:  # the group was deleted meanwhile
            target = None
        if target is None:
            return _error(503, "InvalidParameter.ModelIsOffline", "no version of the service is serving")
        sid, port = target
        if port == 0:  # a simulated replica: no model runs
            return JSONResponse({"simulated": True, "ServiceId": sid, "BodyBytes": len(body)},
                                headers={"X-TIONE-Service-Id": sid})  # fmt: skip
        try:
            async with httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT) as client:
                reply = await client.post(f"http://127.0.0.1:{port}/inference", content=body,
                                          headers={"content-type": request.headers.get("content-type", "application/json")})  # fmt: skip
        except httpx.TimeoutException:
            return _error(504, "FailedOperation.Timedout", "the model did not answer within 60 s")
        except httpx.HTTPError as exc:
            return _error(
                502, "FailedOperation", f"the model's replica failed to answer: {type(exc).__name__}"
            )
        kind = reply.headers.get("content-type", "application/json")
        return Response(reply.content, status_code=reply.status_code, media_type=kind,
                        headers={"X-TIONE-Service-Id": sid})  # fmt: skip

    def app(self) -> Starlette:
        async def not_found(request: Request, exc: Exception) -> Response:
            return _error(
                404, "ResourceNotFound", "POST /<ServiceGroupId>/v1/models/m:predict is the path served"
            )

        route = Route("/{group}/{path:path}", self.predict, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
        return Starlette(routes=[route], exception_handlers={404: not_found, 405: not_found})

    def ensure_started(self) -> str:
        """Start the gateway once; its base URL."""
        import uvicorn

        with self._lock:
            if self._server is not None:
                return self.url
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            config = uvicorn.Config(self.app(), log_level="warning", access_log=False, lifespan="off",
                                    timeout_graceful_shutdown=2, server_header=False)  # fmt: skip
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                            name="tione-gateway", daemon=True)  # fmt: skip
            self._thread.start()
            deadline = time.monotonic() + 10
            while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            return self.url

    def shutdown(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.should_exit = True
                if self._thread is not None:
                    self._thread.join(timeout=5)
                self._server = None
