"""Error codes -> typed errors, per service, and the retry decision that follows the same table.

Also where each service's calls go (one connection, endpoint per service).
"""

from __future__ import annotations

import json

import pytest
from tencentcloud.common.exception import TencentCloudSDKException

from airflow_provider_tia.exceptions import (
    TIA_ERRORS,
    TIONE_ERRORS,
    AuthFailure,
    InvalidParameter,
    JobAlreadyExists,
    JobNotFound,
    LogWindowTooLarge,
    NetworkError,
    QuotaExceeded,
    ResourceBusy,
    ResourceUnavailable,
    TencentCloudApiError,
    TencentCloudConfigError,
    Throttled,
    TransientError,
    UnauthorizedOperation,
    UnsupportedVersion,
    WrongState,
)
from airflow_provider_tia.hooks import sdk
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.hooks.tione import TIONEHook

TIONE_TABLE = [
    # NF: the bare code only; a missing dependency is bad configuration.
    ("ResourceNotFound", JobNotFound),
    ("FailedOperation.RecordNotFound", JobNotFound),
    ("ResourceNotFound.CfsNotFound", InvalidParameter),
    ("ResourceNotFound.VPCNotFound", InvalidParameter),
    ("InternalError.CFSNotFound", InvalidParameter),
    # DUP
    ("FailedOperation.DuplicateNameTaskIsCreating", JobAlreadyExists),
    ("InvalidParameterValue.DuplicateName", JobAlreadyExists),
    ("FailedOperation.DuplicateName", JobAlreadyExists),
    # RETRY
    ("InternalError", TransientError),
    ("InternalError.QueryResourceGroupNamesFailed", TransientError),
    ("InternalError.QuerySubnetInfoFailed", TransientError),
    ("InternalError.StopJobInstanceFailed", TransientError),
    ("FailedOperation", TransientError),
    ("FailedOperation.QueryResourceSpecFailed", TransientError),
    ("FailedOperation.QueryResourceGroupNamesFailed", TransientError),
    ("FailedOperation.Processing", TransientError),
    ("OperationDenied.BillingException", TransientError),
    ("RequestLimitExceeded", Throttled),
    ("RequestLimitExceeded.UinLimitExceeded", Throttled),
    ("ClientNetworkError", NetworkError),
    ("ServerNetworkError", NetworkError),
    # STATE: not transient although some start with InternalError.
    ("InternalError.NotAllow", WrongState),
    ("InternalError.UnSubmittedStatusNotAllowStop", WrongState),
    ("OperationDenied.NotAllow", WrongState),
    ("FailedOperation.UnSubmitNotAllowToStop", WrongState),
    # STATE, busy: another change is being applied (a rollout waits and sends its change again)
    ("ResourceInUse", ResourceBusy),
    ("ResourceInUse.Updating", ResourceBusy),
    # QUOTA
    ("OperationDenied.BalanceInsufficient", QuotaExceeded),
    ("FailedOperation.FreezeBillFailed", QuotaExceeded),
    ("OperationDenied.MIYINGBalanceInsufficient", QuotaExceeded),
    ("OperationDenied.BillingStatusResourceInsufficient", QuotaExceeded),
    ("OperationDenied.ResourceGroupInsufficient", QuotaExceeded),
    ("OperationDenied.TAIJIApplicationGroupInsufficient", QuotaExceeded),
    ("OperationDenied.WhitelistQuotaExceed", QuotaExceeded),
    ("ResourceInsufficient.QuotaInsufficient", QuotaExceeded),
    ("ResourcesSoldOut", QuotaExceeded),
    ("LimitExceeded", QuotaExceeded),
    # BAD
    ("InvalidParameter", InvalidParameter),
    ("InvalidParameter.FilterKeyStatusConflictWithChargeStatus", InvalidParameter),
    ("InvalidParameterValue", InvalidParameter),
    ("InvalidParameterValue.PageLimitExceeded", InvalidParameter),
    ("InvalidParameterValue.NotAllow", InvalidParameter),
    ("InternalError.ValidateCreateTaskFailed", InvalidParameter),
    ("OperationDenied.IpIllegal", InvalidParameter),
    ("MissingParameter", InvalidParameter),
    ("UnknownParameter", InvalidParameter),
    ("UnsupportedOperation", InvalidParameter),
    ("InvalidAction", InvalidParameter),
    ("UnsupportedRegion", InvalidParameter),
    ("ActionOffline", InvalidParameter),
    # AUTH
    ("AuthFailure", AuthFailure),
    ("AuthFailure.SignatureExpire", AuthFailure),
    ("InternalError.NoPermission", UnauthorizedOperation),
    ("UnauthorizedOperation.NoPermission", UnauthorizedOperation),
    # Logs: narrow the window.
    ("FailedOperation.ContextLimitError", LogWindowTooLarge),
    ("FailedOperation.CLSSizeExceed", LogWindowTooLarge),
    # Unknown codes stay generic (and are not retried).
    ("FailedOperation.SomethingNew", TencentCloudApiError),
    ("InternalErrorish", TencentCloudApiError),
    (None, TencentCloudApiError),
]

# TI-A's table, pinned as it was before the tables were split per service.
TIA_TABLE = [
    ("FailedOperation.AlreadyExists", JobAlreadyExists),
    ("FailedOperation.TimeOut", TransientError),
    ("ResourceNotFound", JobNotFound),
    ("ResourceNotFound.CfsNotFound", JobNotFound),
    ("FailedOperation.NotFound", JobNotFound),
    ("FailedOperation.JobNotFound", JobNotFound),
    ("RequestLimitExceeded.UinLimitExceeded", Throttled),
    ("AuthFailure.SecretIdNotFound", AuthFailure),
    ("InvalidParameter.Foo", InvalidParameter),
    ("InvalidParameterValue", TencentCloudApiError),
    ("MissingParameter", InvalidParameter),
    ("UnknownParameter", InvalidParameter),
    ("InvalidAction", InvalidParameter),
    ("NoSuchVersion", InvalidParameter),
    ("ResourceUnavailable.Busy", ResourceUnavailable),
    ("UnauthorizedOperation", UnauthorizedOperation),
    ("UnsupportedOperation.UnsupportedVersion", UnsupportedVersion),
    ("UnsupportedOperation", TencentCloudApiError),
    ("InternalError", TransientError),
    ("InternalError.NotAllow", TransientError),
    ("FailedOperation", TencentCloudApiError),
    ("ClientNetworkError", NetworkError),
    ("ServerNetworkError", NetworkError),
    ("OperationDenied.BalanceInsufficient", TencentCloudApiError),
]


@pytest.mark.parametrize(("code", "cls"), TIONE_TABLE)
def test_tione_error_codes_give_their_typed_errors(code: str | None, cls: type[TencentCloudApiError]) -> None:
    error = TIONE_ERRORS.error_for(code, "m", "req-1")
    assert type(error) is cls
    assert (error.code, error.request_id) == (code or "UnknownError", "req-1")


@pytest.mark.parametrize(("code", "cls"), TIA_TABLE)
def test_tia_error_codes_give_their_typed_errors(code: str, cls: type[TencentCloudApiError]) -> None:
    assert type(TIA_ERRORS.error_for(code, "m")) is cls


@pytest.mark.parametrize(("code", "cls"), TIONE_TABLE + [(c, k) for c, k in TIA_TABLE])
def test_retry_follows_the_table(code: str | None, cls: type[TencentCloudApiError]) -> None:
    """A code is retried exactly when its service's table calls it transient."""
    table = TIONE_ERRORS if (code, cls) in TIONE_TABLE else TIA_ERRORS
    policy = sdk.RetryPolicy(3, 0.0, table)
    assert policy.should_retry(TencentCloudSDKException(code, "x")) is issubclass(cls, TransientError)


def test_the_same_code_differs_per_service() -> None:
    assert type(TIA_ERRORS.error_for("ResourceNotFound.CfsNotFound", "m")) is JobNotFound
    assert type(TIONE_ERRORS.error_for("ResourceNotFound.CfsNotFound", "m")) is InvalidParameter
    assert TIA_ERRORS.is_transient("InternalError.NotAllow")
    assert not TIONE_ERRORS.is_transient("InternalError.NotAllow")


def test_replies_and_sdk_errors_use_the_services_table() -> None:
    reply = {"Response": {"Error": {"Code": "InternalError.NotAllow", "Message": "no"}, "RequestId": "r"}}
    with pytest.raises(WrongState, match="DeleteTrainingTask: no"):
        sdk.unwrap_response("DeleteTrainingTask", reply, TIONE_ERRORS)
    with pytest.raises(TransientError):
        sdk.unwrap_response("DeleteJob", reply, TIA_ERRORS)
    error = sdk.to_provider_error(TencentCloudSDKException("ResourceNotFound", "gone"), "X", 2, TIONE_ERRORS)
    assert type(error) is JobNotFound and error.attempts == 2


# ------------------------------------------------------------------------------ endpoint per service
def _settings(monkeypatch, conn_id: str, **extra: object) -> sdk.Settings:
    body = {
        "conn_type": "tencentcloud",
        "login": "AKID",
        "password": "k",
        "extra": {"region": "ap-beijing", **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
    return TIONEHook(conn_id).settings


def test_an_emulator_endpoint_serves_both_services(monkeypatch) -> None:
    settings = _settings(monkeypatch, "emu", endpoint="http://127.0.0.1:9000")
    assert settings.endpoint_for("tione") == settings.endpoint_for("tia") == "127.0.0.1:9000"


def test_another_services_cloud_host_is_not_used(monkeypatch) -> None:
    settings = _settings(monkeypatch, "cloud", endpoint="tia.tencentcloudapi.com")
    assert settings.endpoint_for("tia") == "tia.tencentcloudapi.com"
    assert settings.endpoint_for("tione") is None  # the SDK's default: tione.tencentcloudapi.com
    regional = _settings(monkeypatch, "regional", endpoint="tione.ap-guangzhou.tencentcloudapi.com")
    assert regional.endpoint_for("tione") == "tione.ap-guangzhou.tencentcloudapi.com"
    assert regional.endpoint_for("tia") is None


def test_endpoints_per_service_win(monkeypatch) -> None:
    settings = _settings(
        monkeypatch,
        "both",
        endpoint="tia.tencentcloudapi.com",
        endpoints={"tione": "https://tione.intl.tencentcloudapi.com/"},
    )
    assert settings.endpoint_for("tione") == "tione.intl.tencentcloudapi.com"
    assert settings.endpoint_for("tia") == "tia.tencentcloudapi.com"
    profile = sdk.client_profile(settings, "tione")
    assert profile.httpProfile.endpoint == "tione.intl.tencentcloudapi.com"


def test_bad_endpoints_extra_is_a_config_error(monkeypatch) -> None:
    with pytest.raises(TencentCloudConfigError, match="endpoints"):
        _settings(monkeypatch, "bad", endpoints=["tione.tencentcloudapi.com"])


def test_hooks_name_their_service_and_table() -> None:
    assert (TIONEHook.service, TIONEHook.api_version, TIONEHook.errors) == (
        "tione",
        "2021-11-11",
        TIONE_ERRORS,
    )
    assert (TIAHook.service, TIAHook.errors) == ("tia", TIA_ERRORS)
    assert TIONEHook.conn_type == TIAHook.conn_type == "tencentcloud"
