"""The HTTP server's protocol: uvicorn's h11 protocol, giving the app the connection's transport (so an
injected fault can drop it) and answering a malformed request with the JSON error envelope too."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    import asyncio

TRANSPORT_KEY = "tia_emulator_transport"  # where a request's scope state holds its connection's transport


class ErrorEnvelopeProtocol(H11Protocol):
    """uvicorn's h11 protocol with the transport in the app's state and a JSON envelope for HTTP 400."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self.app_state = {**self.app_state, TRANSPORT_KEY: transport}

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(
            {
                "Response": {
                    "Error": {"Code": "InvalidParameter", "Message": msg},
                    "RequestId": str(uuid.uuid4()),
                }
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (
            h11.Response(status_code=400, headers=headers),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))  # type: ignore[arg-type]
        self.transport.close()
