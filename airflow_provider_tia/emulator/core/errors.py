"""The error type every emulator layer raises; the HTTP layer turns it into an error envelope."""

from __future__ import annotations


class ApiError(Exception):
    """A Tencent Cloud API error: ``code`` such as ``ResourceNotFound`` and a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
