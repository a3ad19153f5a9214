"""Typed errors of the provider, one hierarchy rooted at ``TencentCloudError`` (an ``AirflowException``).

API error codes map to classes through each service's ``ErrorTable`` (``TIA_ERRORS``,
``TIONE_ERRORS``); every API error carries its code, message
and RequestId, so ``except JobAlreadyExists`` works and the RequestId reaches the task log.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
from typing import Any

from airflow_provider_tia.compat import AirflowException, AirflowFailException


class TencentCloudError(AirflowException):
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
    cls: type[TencentCloudError], message: str, code: str | None, request_id: str | None, state: dict
) -> TencentCloudError:
    error = cls.__new__(cls)
    TencentCloudError.__init__(error, message, code=code, request_id=request_id)
    error.__dict__.update(state)
    return error


class TencentCloudConfigError(TencentCloudError, AirflowFailException):
    """The connection or hook settings are unusable (no region, no credentials...); retrying won't help."""


class JobSpecError(TencentCloudError, AirflowFailException, ValueError):
    """A CreateJob parameter is invalid. Raised before any API call; retrying won't help."""

    def __init__(self, parameter: str, problem: str, *, api_name: str | None = None) -> None:
        self.parameter = parameter
        self.api_name = api_name
        self.problem = problem
        label = f"{parameter} ({api_name})" if api_name and api_name != parameter else parameter
        super().__init__(f"Invalid parameter {label}: {problem}")


class CodeDirError(JobSpecError):
    """The code directory to stage (``code_dir``) is unusable. Raised before any upload or API call."""


class COSError(TencentCloudError):
    """A COS (S3-compatible) call failed while staging or fetching code."""


class MalformedResponse(TencentCloudError):
    """The API answered with something that is not the documented reply."""


class TencentCloudApiError(TencentCloudError):
    """A Tencent Cloud API (TI-A, TI-ONE) answered with an error (``Response.Error``)."""


class TransientError(TencentCloudApiError):
    """A fault that may pass: InternalError, FailedOperation.TimeOut, network errors."""


class Throttled(TransientError):
    """RequestLimitExceeded: too many calls."""


class NetworkError(TransientError):
    """No usable reply: connection refused/dropped, timeout, HTTP status other than 200."""


class JobAlreadyExists(TencentCloudApiError):
    """FailedOperation.AlreadyExists: a job with this name already exists in the cluster."""


class JobNotFound(TencentCloudApiError):
    """The job does not exist (never created, or deleted)."""


class AuthFailure(TencentCloudApiError):
    """AuthFailure.*: bad SecretId/SecretKey, expired signature or token."""


class InvalidParameter(TencentCloudApiError):
    """InvalidParameter*, MissingParameter, UnknownParameter: the API refused a parameter."""


class ResourceUnavailable(TencentCloudApiError):
    """ResourceUnavailable*: the cluster cannot take the job now."""


class UnauthorizedOperation(TencentCloudApiError):
    """UnauthorizedOperation*: the credentials may not do this (CAM policy)."""


class UnsupportedVersion(TencentCloudApiError):
    """UnsupportedOperation.UnsupportedVersion: the cluster's version is too old."""


class JobFailed(TencentCloudError):
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


class JobWaitTimeout(TencentCloudError):
    """The job did not finish within ``max_wait``."""


class JobVanished(JobNotFound):
    """The watched job disappeared (deleted elsewhere) before it finished."""


class WrongState(TencentCloudApiError):
    """The action is not allowed in the task's current state (e.g. Stop before it is submitted)."""


class ResourceBusy(WrongState):
    """The resource is in use: another change is being applied to it (``ResourceInUse``). Wait and send
    the change again once it settles."""


class QuotaExceeded(TencentCloudApiError):
    """Balance, quota or capacity ran out (arrears, sold out, resource group full)."""


class LogWindowTooLarge(TencentCloudApiError):
    """The log query's window holds more than the service pages through: read a narrower one."""


class RolloutFailed(JobFailed, AirflowFailException):
    """The new version did not serve; the service was rolled back to the version it served before.

    Not retried: a retry would deploy the same version again. Carries the service's Warning events
    (in the message) and its last log lines."""


class RollbackFailed(JobFailed):
    """The new version did not serve, and the previous one did not serve again either."""


class ModelServiceCallError(TencentCloudError):
    """Calling a deployed service (its prediction endpoint) failed. Names the service group; never
    carries its token."""


# ---------------------------------------------------------------------------------------- error tables
Rule = tuple[str, type[TencentCloudApiError]]


@dataclasses.dataclass(frozen=True)
class ErrorTable:
    """One service's error codes -> error classes: ordered ``fnmatch`` patterns, the first match wins.

    The one place a service's codes are classified: the hook's retry decision reads it too (a code
    is retried when its class is a ``TransientError``). ``X`` matches only the bare code, ``X.*``
    its sub-codes.
    """

    service: str
    rules: tuple[Rule, ...]

    def class_for(self, code: str | None) -> type[TencentCloudApiError]:
        return _class_for(self, code or "UnknownError")

    def error_for(
        self, code: str | None, message: str, request_id: str | None = None
    ) -> TencentCloudApiError:
        """The typed error for an API error code (``TencentCloudApiError`` for codes the table doesn't know)."""
        return self.class_for(code)(message, code=code or "UnknownError", request_id=request_id)

    def is_transient(self, code: str | None) -> bool:
        return issubclass(self.class_for(code), TransientError)


@functools.lru_cache(maxsize=1024)
def _class_for(table: ErrorTable, code: str) -> type[TencentCloudApiError]:
    for pattern, cls in table.rules:
        if fnmatch.fnmatchcase(code, pattern):
            return cls
    return TencentCloudApiError


def family(code: str, cls: type[TencentCloudApiError]) -> tuple[Rule, Rule]:
    """Rules for a code and all its sub-codes (``X`` and ``X.*``)."""
    return (code, cls), (code + ".*", cls)


def _families(*pairs: tuple[str, type[TencentCloudApiError]]) -> tuple[Rule, ...]:
    return tuple(rule for code, cls in pairs for rule in family(code, cls))


_NETWORK = _families(("ClientNetworkError", NetworkError), ("ServerNetworkError", NetworkError))

TIA_ERRORS = ErrorTable(
    "tia",
    _families(
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
    )
    + _NETWORK,
)

# TI-ONE (tione 2021-11-11). Order matters: the exceptions inside a family
# (InternalError.NotAllow is a state error, not a transient one) come before the family.
TIONE_ERRORS = ErrorTable(
    "tione",
    (
        # NF: only the bare code is the task; ResourceNotFound.* is a missing dependency (bad config).
        ("ResourceNotFound", JobNotFound),
        ("FailedOperation.RecordNotFound", JobNotFound),
        ("ResourceNotFound.*", InvalidParameter),
        ("FailedOperation.DuplicateNameTaskIsCreating", JobAlreadyExists),
        ("FailedOperation.DuplicateName", JobAlreadyExists),
        ("InvalidParameterValue.DuplicateName", JobAlreadyExists),
        ("InternalError.NotAllow", WrongState),
        ("InternalError.UnSubmittedStatusNotAllowStop", WrongState),
        ("OperationDenied.NotAllow", WrongState),
        ("FailedOperation.UnSubmitNotAllowToStop", WrongState),
        ("ResourceInUse", ResourceBusy),
        ("ResourceInUse.*", ResourceBusy),
        ("InternalError.NoPermission", UnauthorizedOperation),
        ("InternalError.ValidateCreateTaskFailed", InvalidParameter),
        ("InternalError.CFSNotFound", InvalidParameter),
        ("OperationDenied.BillingException", TransientError),
        ("OperationDenied.*Insufficient", QuotaExceeded),
        ("OperationDenied.WhitelistQuotaExceed", QuotaExceeded),
        ("FailedOperation.FreezeBillFailed", QuotaExceeded),
        *_families(
            ("ResourceInsufficient", QuotaExceeded),
            ("ResourcesSoldOut", QuotaExceeded),
            ("LimitExceeded", QuotaExceeded),
        ),
        ("FailedOperation.ContextLimitError", LogWindowTooLarge),
        ("FailedOperation.CLSSizeExceed", LogWindowTooLarge),
        ("FailedOperation", TransientError),
        ("FailedOperation.QueryResourceSpecFailed", TransientError),
        ("FailedOperation.QueryResourceGroupNamesFailed", TransientError),
        ("FailedOperation.Processing", TransientError),
        ("FailedOperation.TimeOut", TransientError),
        *_families(
            ("InternalError", TransientError),
            ("RequestLimitExceeded", Throttled),
            ("AuthFailure", AuthFailure),
            ("UnauthorizedOperation", UnauthorizedOperation),
            ("OperationDenied", InvalidParameter),
            ("InvalidParameter", InvalidParameter),
            ("InvalidParameterValue", InvalidParameter),
            ("MissingParameter", InvalidParameter),
            ("UnknownParameter", InvalidParameter),
            ("UnsupportedOperation", InvalidParameter),
            ("InvalidAction", InvalidParameter),
            ("NoSuchVersion", InvalidParameter),
            ("UnsupportedRegion", InvalidParameter),
            ("ActionOffline", InvalidParameter),
        ),
        *_NETWORK,
    ),
)


_RENAMED = {  # names of an earlier release: "TIA" meant the provider as well as one platform
    "TIAError": "TencentCloudError",
    "TIAApiError": "TencentCloudApiError",
    "TIAConfigError": "TencentCloudConfigError",
}


def __getattr__(name: str) -> Any:
    """The earlier names, for one release, with a deprecation warning."""
    if name in _RENAMED:
        import warnings

        from airflow.exceptions import AirflowProviderDeprecationWarning

        warnings.warn(
            f"airflow_provider_tia.exceptions.{name} is deprecated, use {_RENAMED[name]}",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
