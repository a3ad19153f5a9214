"""Typed errors of the provider, one hierarchy rooted at ``TIAError`` (an ``AirflowException``).

API error codes map to classes with ``error_for_code``; every API error carries its code, message
and RequestId, so ``except JobAlreadyExists`` works and the RequestId reaches the task log.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException


class TIAError(AirflowException):
    """Root of every error raised by the provider."""

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.attempts = 1  # attempts of the API call that failed (set by the hook)
        text = f"{code}: {message}" if code else message
        if request_id:
            text += f" (RequestId: {request_id})"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor: keep the error picklable across processes.
        return (_rebuild, (type(self), self.message, self.code, self.request_id, self.__dict__))


def _rebuild(
    cls: type[TIAError], message: str, code: str | None, request_id: str | None, state: dict
) -> TIAError:
    error = cls.__new__(cls)
    TIAError.__init__(error, message, code=code, request_id=request_id)
    error.__dict__.update(state)
    return error


class TIAConfigError(TIAError, AirflowFailException):
    """The connection or hook settings are unusable (no region, no credentials...); retrying won't help."""


class JobSpecError(TIAError, AirflowFailException, ValueError):
    """A CreateJob parameter is invalid. Raised before any API call; retrying won't help."""

    def __init__(self, parameter: str, problem: str, *, api_name: str | None = None) -> None:
        self.parameter = parameter
        self.api_name = api_name
        label = f"{parameter} ({api_name})" if api_name and api_name != parameter else parameter
        super().__init__(f"Invalid parameter {label}: {problem}")


class CodeDirError(JobSpecError):
    """The code directory to stage (``code_dir``) is unusable. Raised before any upload or API call."""


class COSError(TIAError):
    """A COS (S3-compatible) call failed while staging or fetching code."""


class MalformedResponse(TIAError):
    """The API answered with something that is not the documented reply."""


class TIAApiError(TIAError):
    """The TI-A API answered with an error (``Response.Error``)."""


class TransientError(TIAApiError):
    """A fault that may pass: InternalError, FailedOperation.TimeOut, network errors."""


class Throttled(TransientError):
    """RequestLimitExceeded: too many calls."""


class NetworkError(TransientError):
    """No usable reply: connection refused/dropped, timeout, HTTP status other than 200."""


class JobAlreadyExists(TIAApiError):
    """FailedOperation.AlreadyExists: a job with this name already exists in the cluster."""


class JobNotFound(TIAApiError):
    """The job does not exist (never created, or deleted)."""


class AuthFailure(TIAApiError):
    """AuthFailure.*: bad SecretId/SecretKey, expired signature or token."""


class InvalidParameter(TIAApiError):
    """InvalidParameter*, MissingParameter, UnknownParameter: the API refused a parameter."""


class ResourceUnavailable(TIAApiError):
    """ResourceUnavailable*: the cluster cannot take the job now."""


class UnauthorizedOperation(TIAApiError):
    """UnauthorizedOperation*: the credentials may not do this (CAM policy)."""


class UnsupportedVersion(TIAApiError):
    """UnsupportedOperation.UnsupportedVersion: the cluster's version is too old."""


class JobFailed(TIAError):
    """The training job ended Failed. Carries the job (its dict) and its last log lines.

    Not a fail-fast error: a task retry deletes the failed job and runs it again.
    """

    def __init__(
        self, message: str, job: dict[str, Any] | None = None, last_lines: list[str] | None = None
    ) -> None:
        self.job = dict(job or {})
        self.last_lines = list(last_lines or [])
        text = message
        if self.last_lines:
            text += "\nLast log lines:\n" + "\n".join(self.last_lines)
        super().__init__(text)


class WatchedJobFailed(JobFailed, AirflowFailException):
    """A job the task only watches (``JobSensor``) failed: no retry of the task can change that."""


class JobWaitTimeout(TIAError):
    """The job did not finish within ``max_wait``."""


class JobVanished(JobNotFound):
    """The watched job disappeared (deleted elsewhere) before it finished."""


_PREFIXES: tuple[tuple[str, type[TIAApiError]], ...] = (
    ("FailedOperation.AlreadyExists", JobAlreadyExists),
    ("FailedOperation.TimeOut", TransientError),
    ("ResourceNotFound", JobNotFound),
    ("FailedOperation.NotFound", JobNotFound),
    ("FailedOperation.JobNotFound", JobNotFound),
    ("RequestLimitExceeded", Throttled),
    ("AuthFailure", AuthFailure),
    ("InvalidParameter", InvalidParameter),
    ("MissingParameter", InvalidParameter),
    ("UnknownParameter", InvalidParameter),
    ("InvalidAction", InvalidParameter),
    ("NoSuchVersion", InvalidParameter),
    ("ResourceUnavailable", ResourceUnavailable),
    ("UnauthorizedOperation", UnauthorizedOperation),
    ("UnsupportedOperation.UnsupportedVersion", UnsupportedVersion),
    ("InternalError", TransientError),
    ("ClientNetworkError", NetworkError),
    ("ServerNetworkError", NetworkError),
)


def error_for_code(code: str | None, message: str, request_id: str | None = None) -> TIAApiError:
    """The typed error for an API error code (``TIAApiError`` for codes we don't know)."""
    code = code or "UnknownError"
    for prefix, cls in _PREFIXES:
        if code == prefix or code.startswith(prefix + "."):
            return cls(message, code=code, request_id=request_id)
    return TIAApiError(message, code=code, request_id=request_id)
