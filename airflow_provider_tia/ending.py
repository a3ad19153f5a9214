"""How a job is ended (stopped, deleted or left), written once for the worker and the triggerer.

A plan is a generator that yields ``Step`` s (call Stop, call Delete, read the job, sleep), receives
each step's outcome (the read job, or ``None`` when it is gone) or has the call's ``TencentCloudError`` thrown
into it. ``drive`` runs a plan with blocking calls (a worker's kill or ``on_timeout``), ``adrive``
with async ones (a trigger's ``on_kill``), so a policy such as "a task still being submitted refuses
Stop: ask again" or "stop a running task before deleting it" holds on both sides.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.exceptions import TencentCloudError, WrongState

STOP_RETRY = 60.0  # seconds a task still being submitted is asked again to stop
END_WAIT = 300.0  # seconds a stopped task may take to end before a delete gives up


@dataclasses.dataclass(frozen=True)
class Step:
    """One thing a plan asks for: ``stop``, ``delete``, ``read`` (the job or None), or ``sleep``."""

    kind: str
    seconds: float = 0.0


STOP, DELETE, READ = Step("stop"), Step("delete"), Step("read")
Plan = Generator[Step, Any, None]


def end_training_task(
    action: EndAction,
    log: Callable[[str], Any],
    *,
    stop_for: float = STOP_RETRY,
    end_within: float = END_WAIT,
) -> Plan:
    """TI-ONE: stop, or delete (a running task is stopped, and deleted once it has ended), or leave."""
    if action is EndAction.LEAVE:
        return
    if action is EndAction.DELETE:
        try:
            yield DELETE
            return
        except WrongState:  # the service refuses to delete a running task
            log("The task is running: stopping it before deleting it")
    yield from _stop(log, stop_for)
    if action is EndAction.DELETE:
        ends_by = time.monotonic() + end_within
        while (task := (yield READ)) is not None and not task.is_terminal:
            if time.monotonic() >= ends_by:
                raise TencentCloudError(f"The task was stopped but did not end within {end_within:.0f}s")
            yield Step("sleep", 2.0)
        yield DELETE


def _stop(log: Callable[[str], Any], timeout: float) -> Plan:
    """Stop; a task still being submitted refuses Stop ("retry later"): ask again until it stops,
    ends, or ``timeout`` passes."""
    gives_up = time.monotonic() + timeout
    while True:
        try:
            yield STOP
            return
        except WrongState as refused:
            task = yield READ
            if task is None or task.is_terminal:
                return
            if time.monotonic() >= gives_up:
                raise refused
            log(f"The task is {task.state_name} and refuses Stop yet: asking again")
            yield Step("sleep", 1.0)


def end_tia_job(action: EndAction) -> Plan:
    """TI-A has no stop: ending a job (either way) deletes it."""
    if action is not EndAction.LEAVE:
        yield DELETE


def drive(plan: Plan, calls: Mapping[str, Callable[[], Any]]) -> None:
    """Run ``plan`` with blocking ``calls`` (``stop``, ``delete``, ``read``)."""
    reply: Any = None
    error: TencentCloudError | None = None
    while (step := _next(plan, reply, error)) is not None:
        reply, error = None, None
        if step.kind == "sleep":
            time.sleep(step.seconds)
            continue
        try:
            reply = calls[step.kind]()
        except TencentCloudError as failure:
            error = failure


async def adrive(plan: Plan, calls: Mapping[str, Callable[[], Awaitable[Any]]]) -> None:
    """Run ``plan`` with async ``calls``: the same steps as ``drive``, without blocking the event loop."""
    reply: Any = None
    error: TencentCloudError | None = None
    while (step := _next(plan, reply, error)) is not None:
        reply, error = None, None
        if step.kind == "sleep":
            await asyncio.sleep(step.seconds)
            continue
        try:
            reply = await calls[step.kind]()
        except TencentCloudError as failure:
            error = failure


def _next(plan: Plan, reply: Any, error: TencentCloudError | None) -> Step | None:
    try:
        return plan.throw(error) if error is not None else plan.send(reply)
    except StopIteration:
        return None
