"""Paging logic written once for sync and async clients: a generator that asks for calls.

A dialogue yields ``(action, params)``, receives the reply (or has the call's ``TencentCloudError`` thrown
into it) and returns its result. ``adrive`` runs it on an async ``call``, ``drive`` on a blocking
one, so a paging rule (when to stop, how to narrow a window) lives in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from airflow_provider_tia.exceptions import JobNotFound, TencentCloudError

T = TypeVar("T")
Request = tuple[str, dict[str, Any]]
Dialogue = Generator[Request, dict[str, Any], T]


def unless_gone(action: str, params: dict[str, Any], *, missing_ok: bool) -> Dialogue[dict[str, Any] | None]:
    """One call, or None when its target is gone (``JobNotFound``) and that is fine: ``missing_ok``,
    or a retried call (an earlier attempt may have done it, e.g. deleted the job)."""
    try:
        return (yield action, params)
    except JobNotFound as error:
        if missing_ok or error.attempts > 1:
            return None
        raise


def read_or_none(dialogue: Dialogue[T], *, missing_ok: bool) -> Dialogue[T | None]:
    """``dialogue``'s result, or None when what it reads is gone (``JobNotFound``) and ``missing_ok``."""
    try:
        return (yield from dialogue)
    except JobNotFound:
        if missing_ok:
            return None
        raise


def _advance(dialogue: Dialogue[T], reply: Any, error: TencentCloudError | None) -> tuple[bool, Any]:
    """Give the dialogue one call's outcome: ``(False, next request)`` or ``(True, result)``."""
    try:
        return False, (dialogue.throw(error) if error is not None else dialogue.send(reply))
    except StopIteration as done:
        return True, done.value


async def adrive(
    dialogue: Dialogue[T], call: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
) -> T:
    """Run ``dialogue`` with an async ``call(action, params) -> Response``."""
    finished, value = _advance(dialogue, None, None)
    while not finished:
        try:
            reply, error = await call(*value), None
        except TencentCloudError as failure:
            reply, error = None, failure
        finished, value = _advance(dialogue, reply, error)
    return value  # type: ignore[no-any-return]


def drive(dialogue: Dialogue[T], call: Callable[[str, dict[str, Any]], dict[str, Any]]) -> T:
    """Run ``dialogue`` with a blocking ``call``: ``adrive`` on a call that never suspends, so the
    coroutine finishes on its first step, without an event loop."""

    async def now(action: str, params: dict[str, Any]) -> dict[str, Any]:
        return call(action, params)

    coroutine = adrive(dialogue, now)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a blocking call suspended")  # pragma: no cover - `now` never awaits
