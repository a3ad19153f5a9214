"""A local TI-A service for tests and demos: ``TIAEmulator`` (imported lazily to keep this package light)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import TIAEmulator

__all__ = ["TIAEmulator"]


def __getattr__(name: str) -> Any:
    if name == "TIAEmulator":
        from .server import TIAEmulator

        return TIAEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
