"""The job lifecycle, backend-neutral: every decision the operator, sensor and trigger share, made once.

- ``decide``: create, attach, replace, recreate or fail, from what exists and who made it (pure).
- ``assess``: one read of a job (or the error reading it) -> keep waiting, or a ``JobEvent``.
- ``JobEvent``: the typed outcome of a wait, with its JSON payload (the trigger's event).
- ``finish``: an event -> the job dict for XCom, or ``JobFailed``/``JobWaitTimeout``/``JobVanished``.
- ``Deadline``: the task's own time budget; ``retry_transient``/``wait`` are the blocking loops.

A job here is anything with ``is_terminal``, ``succeeded``, ``failed``, ``state_name``, ``message``
and ``to_dict()`` (``job.Job`` for TI-A). Transient errors never end a wait or a read before the
deadline; not-found ends a wait as "vanished"; any other API error (auth, config, refusal) ends it at once.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_tia.choices import IfExists
from airflow_provider_tia.exceptions import (
    JobFailed,
    JobNotFound,
    JobVanished,
    JobWaitTimeout,
    TencentCloudError,
    TransientError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)
T = TypeVar("T")


class JobLike(Protocol):
    """What the lifecycle reads of a job, whatever the platform."""

    @property
    def message(self) -> str | None: ...
    @property
    def is_terminal(self) -> bool: ...
    @property
    def succeeded(self) -> bool: ...
    @property
    def failed(self) -> bool: ...
    @property
    def state_name(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...


# -------------------------------------------------------------------------------------------- decide
class Action(str, enum.Enum):
    CREATE = "create"
    ATTACH = "attach"
    RENAME = "rename"  # the name is another run's: create under the name with this run's suffix
    REPLACE = "replace"  # delete the existing job, then create
    RECREATE = "recreate"  # the task's own job failed in an earlier try: run it again
    FAIL = "fail"


def decide(existing: JobLike | None, *, if_exists: IfExists, owned: bool, try_number: int) -> Action:
    """Create or reuse: ``owned`` says an earlier try of this task instance created ``existing``.

    Only a task instance's own job is ever run again (a Failed one, on a retry); a job of another
    run is never restarted, whatever ``if_exists`` says: attaching to it reports its outcome.
    """
    if existing is None:
        return Action.CREATE
    if owned:
        return Action.RECREATE if existing.failed and try_number > 1 else Action.ATTACH
    return {
        IfExists.NEW: Action.RENAME,
        IfExists.FAIL: Action.FAIL,
        IfExists.REPLACE: Action.REPLACE,
    }.get(if_exists, Action.ATTACH)


# -------------------------------------------------------------------------------------------- events
class Status(str, enum.Enum):
    SUCCESS = "success"
    FAILED = "failed"
    ERROR = "error"


class Reason(str, enum.Enum):
    FINISHED = "finished"
    TIMEOUT = "timeout"
    VANISHED = "vanished"
    API_ERROR = "api_error"


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """How a wait ended. ``resume`` is what the waiting task needs to carry on (echoed by triggers)."""

    status: Status
    reason: Reason
    message: str
    job: dict[str, Any] | None = None
    resume: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reason": self.reason.value,
            "message": self.message,
            "job": self.job,
            "resume": self.resume,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> JobEvent:
        """The event a trigger sent; ``TencentCloudError`` for anything else (never a silent success)."""
        try:
            return cls(
                status=Status(payload["status"]),
                reason=Reason(payload["reason"]),
                message=str(payload.get("message") or ""),
                job=payload.get("job"),
                resume=dict(payload.get("resume") or {}),
            )
        except (KeyError, ValueError, TypeError, AttributeError):
            raise TencentCloudError(f"Unreadable trigger event: {str(payload)[:300]}") from None

    def with_message(self, message: str) -> JobEvent:
        return dataclasses.replace(self, message=message)


def finished(job: JobLike, label: str, resume: dict[str, Any] | None = None) -> JobEvent:
    """The event of a job that ended (Succeeded or Failed)."""
    if job.succeeded:
        status, message = Status.SUCCESS, f"{label} succeeded"
    else:
        status, message = Status.FAILED, f"{label} failed: {job.message or 'no message'}"
    return JobEvent(status, Reason.FINISHED, message, job.to_dict(), dict(resume or {}))


def timed_out(label: str, budget: float | None, job: JobLike | None = None) -> JobEvent:
    within = f" within {budget:.0f}s" if budget is not None else " before the deadline"
    message = f"{label} did not finish{within}"
    return JobEvent(Status.ERROR, Reason.TIMEOUT, message, job.to_dict() if job else None)


def assess(read: JobLike | BaseException, label: str) -> JobEvent | None:
    """One read of a job -> None (keep waiting) or the event that ends the wait.

    Transient errors keep waiting (the caller logs them); a job gone is "vanished"; any other API
    error (auth, config, refusal) ends the wait at once. Exceptions that are no ``TencentCloudError`` propagate.
    """
    if isinstance(read, TransientError):
        return None
    if isinstance(read, JobNotFound):
        return JobEvent(
            Status.ERROR, Reason.VANISHED, f"{label} no longer exists: it was deleted while being watched"
        )
    if isinstance(read, TencentCloudError):
        return JobEvent(Status.ERROR, Reason.API_ERROR, f"Could not read {label}: {read}")
    if isinstance(read, BaseException):
        raise read
    return finished(read, label) if read.is_terminal else None


def finish(
    event: JobEvent,
    tail: list[str] | None = None,
    *,
    timeout_error: type[Exception] = JobWaitTimeout,
    failed_error: type[JobFailed] = JobFailed,
) -> dict[str, Any]:
    """The job dict of a successful event; otherwise the typed error the task fails with."""
    if event.status is Status.SUCCESS and event.job is not None:
        return event.job
    raise error_of(event, tail, timeout_error=timeout_error, failed_error=failed_error)


def error_of(
    event: JobEvent,
    tail: list[str] | None = None,
    *,
    timeout_error: type[Exception] = JobWaitTimeout,
    failed_error: type[JobFailed] = JobFailed,
) -> Exception:
    if event.status is Status.FAILED:
        return failed_error(event.message, event.job or {}, tail)
    if event.reason is Reason.TIMEOUT:
        return timeout_error(event.message)
    if event.reason is Reason.VANISHED:
        return JobVanished(event.message)
    return TencentCloudError(event.message)


def recorded_job(store: Any, key: str) -> dict[str, Any]:
    """The job an earlier try recorded in the task's ``task_state_store`` (Airflow 3.3), or ``{}``.

    The store is an aid to retries, never a reason to fail: an unreadable one reads as empty.
    """
    if store is None:
        return {}
    try:
        record = store.get(key)
    except Exception as error:
        log.debug("Could not read the task state store: %s", error)
        return {}
    return record if isinstance(record, dict) else {}


def record_job(store: Any, key: str, record: dict[str, Any], log_to: Any) -> None:
    """Keep ``record`` in the task's ``task_state_store`` (Airflow 3.3) for a later try; best effort:
    without a store (Airflow < 3.3) or when it fails, a retry finds the job by other means."""
    if store is None:
        return
    try:
        store.set(key, record)
    except Exception as error:
        log_to.warning("Could not record %s in the task state store (%s)", key, error)


# ---------------------------------------------------------------------------------------------- time
@dataclasses.dataclass(frozen=True)
class Deadline:
    """A task's time budget as an epoch time (``None``: no limit); JSON-safe, so triggers carry it."""

    at: float | None = None

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        return cls(None if seconds is None else time.time() + seconds)

    def remaining(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.time())

    @property
    def expired(self) -> bool:
        return self.at is not None and time.time() >= self.at

    def sleep_for(self, interval: float) -> float:
        """``interval``, shortened so a sleep never passes the deadline."""
        remaining = self.remaining()
        return interval if remaining is None else min(interval, remaining)


def retry_transient(read: Callable[[], T], deadline: Deadline, interval: float, what: str) -> T:
    """``read()``, again after each transient error, until it answers or the deadline passes.

    Raises ``JobWaitTimeout`` at the deadline (chained to the last transient error); other errors propagate.
    """
    while True:
        try:
            return read()
        except TransientError as error:
            if deadline.expired:
                raise JobWaitTimeout(
                    f"{what}: gave up at the task's deadline after transient errors: {error}"
                ) from error
            log.warning("%s failed (%s); trying again", what, error)
            time.sleep(deadline.sleep_for(interval))


def note_transient(logger: Any, label: str, error: TencentCloudError) -> None:
    """A read of a job failed for a passing reason: said once per read, the wait goes on."""
    logger.warning("Could not read %s (%s); will try again", label, error)


def wait(
    read: Callable[[], JobLike],
    label: str,
    *,
    deadline: Deadline,
    interval: float,
    budget: float | None = None,
    on_poll: Callable[[JobLike], None] | None = None,
) -> JobEvent:
    """Read the job every ``interval`` seconds until ``assess`` ends the wait or the deadline passes."""
    last: JobLike | None = None
    while True:
        try:
            result: JobLike | BaseException = read()
        except TencentCloudError as error:
            result = error
        if not isinstance(result, BaseException):
            last = result
            if on_poll:
                on_poll(result)
        elif isinstance(result, TransientError):
            note_transient(log, label, result)
        event = assess(result, label)
        if event is not None:
            return event
        if deadline.expired:
            return timed_out(label, budget, last)
        time.sleep(deadline.sleep_for(interval))
