"""Signature verification: the public TC3 test vector, the legacy form, and every auth failure via the SDK."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
import requests
from tencentcloud.common import abstract_client
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tia.v20180226.tia_client import TiaClient

from airflow_provider_tia.emulator.core.auth import (
    AuthError,
    Verifier,
    legacy_sign_string,
    legacy_signature,
    tc3_canonical_request,
    tc3_signature,
)

from ..helpers.tia import CLUSTER, client, req

VECTOR_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
VECTOR_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
VECTOR_TS = 1551113065
VECTOR_SIG = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
VECTOR_BODY = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
VECTOR_HEADERS = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}


def test_tc3_signature_matches_the_public_test_vector() -> None:
    canonical = tc3_canonical_request("POST", "/", "", VECTOR_HEADERS, ["content-type", "host"], VECTOR_BODY)
    assert canonical.endswith("35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    assert tc3_signature(VECTOR_KEY, "2019-02-25", "cvm", str(VECTOR_TS), canonical) == VECTOR_SIG


def _vector_headers(sig: str = VECTOR_SIG, service: str = "cvm") -> dict[str, str]:
    auth = (
        f"TC3-HMAC-SHA256 Credential={VECTOR_ID}/2019-02-25/{service}/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={sig}"
    )
    return {**VECTOR_HEADERS, "authorization": auth, "x-tc-timestamp": str(VECTOR_TS)}


def test_verifier_accepts_vector_and_rejects_tampering() -> None:
    v = Verifier(service="cvm")
    v.add(VECTOR_ID, VECTOR_KEY)
    assert v.verify_tc3("POST", "/", "", _vector_headers(), VECTOR_BODY, now=VECTOR_TS).secret_id == VECTOR_ID
    cases = [
        (dict(body=VECTOR_BODY.replace(b"1", b"2")), "AuthFailure.SignatureFailure"),
        (dict(now=VECTOR_TS + 301), "AuthFailure.SignatureExpire"),
        (dict(headers=_vector_headers(service="tia")), "AuthFailure.InvalidAuthorization"),
        (
            dict(headers={**_vector_headers(), "authorization": "Bearer x"}),
            "AuthFailure.InvalidAuthorization",
        ),
    ]
    for overrides, code in cases:
        args = {"headers": _vector_headers(), "body": VECTOR_BODY, "now": VECTOR_TS, **overrides}
        with pytest.raises(AuthError) as info:
            v.verify_tc3("POST", "/", "", args["headers"], args["body"], now=args["now"])
        assert info.value.code == code
    assert v.verify_tc3("POST", "/", "", _vector_headers(), VECTOR_BODY, now=VECTOR_TS - 299)


def test_legacy_sign_string_matches_sdk_rules() -> None:
    params = {
        "Action": "DescribeJob",
        "Nonce": "11886",
        "Timestamp": "1465185768",
        "SecretId": "AKID",
        "Filters_0_Name": "x",
        "Signature": "ignored",
    }
    text = legacy_sign_string("GET", "tia.tencentcloudapi.com", "/", params)
    assert text == (
        "GETtia.tencentcloudapi.com/?Action=DescribeJob&Filters.0.Name=x&Nonce=11886"
        "&SecretId=AKID&Timestamp=1465185768"
    )
    assert len(legacy_signature("k", text, "HmacSHA1")) == 28
    assert len(legacy_signature("k", text, "HmacSHA256")) == 44


@pytest.mark.parametrize(
    ("method", "sign"),
    [
        ("POST", "TC3-HMAC-SHA256"),
        ("GET", "TC3-HMAC-SHA256"),
        ("GET", "HmacSHA256"),
        ("POST", "HmacSHA256"),
        ("GET", "HmacSHA1"),
    ],
)
def test_all_request_styles_reach_the_action(emu, method: str, sign: str) -> None:
    c = client(emu, method, sign)
    with pytest.raises(TencentCloudSDKException) as info:
        c.DescribeJob(req("DescribeJob", Name="missing", Cluster=CLUSTER))
    assert info.value.code == "ResourceNotFound"
    action, params = emu.requests[-1]
    assert action == "DescribeJob" and params == {"Name": "missing", "Cluster": CLUSTER}  # no secrets kept


def _code(fn) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return info.value.code


@pytest.mark.parametrize(("method", "sign"), [("POST", "TC3-HMAC-SHA256"), ("GET", "HmacSHA256")])
def test_a_wrong_key_or_an_unknown_secret_id_is_refused(emu, method: str, sign: str) -> None:
    call = req("DescribeJob", Name="x", Cluster=CLUSTER)
    assert (
        _code(lambda: client(emu, method, sign, secret_key="wrong").DescribeJob(call))
        == "AuthFailure.SignatureFailure"
    )
    assert (
        _code(lambda: client(emu, method, sign, secret_id="AKIDnobody", secret_key="k").DescribeJob(call))
        == "AuthFailure.SecretIdNotFound"
    )


@pytest.mark.parametrize("sign", ["TC3-HMAC-SHA256", "HmacSHA1"])
def test_a_timestamp_older_than_five_minutes_is_refused(emu, monkeypatch, sign: str) -> None:
    real = time.time
    monkeypatch.setattr(abstract_client, "time", SimpleNamespace(time=lambda: real() - 400))
    call = req("DescribeJob", Name="x", Cluster=CLUSTER)
    assert _code(lambda: client(emu, sign=sign).DescribeJob(call)) == "AuthFailure.SignatureExpire"
    monkeypatch.setattr(abstract_client, "time", SimpleNamespace(time=lambda: real() - 200))
    assert _code(lambda: client(emu, sign=sign).DescribeJob(call)) == "ResourceNotFound"


def test_a_scope_naming_another_service_is_refused(emu) -> None:
    class CvmScoped(TiaClient):
        _service = "cvm"

    call = req("DescribeJob", Name="x", Cluster=CLUSTER)
    assert _code(lambda: client(emu, cls=CvmScoped).DescribeJob(call)) == "AuthFailure.InvalidAuthorization"


@pytest.mark.parametrize(("method", "sign"), [("POST", "TC3-HMAC-SHA256"), ("POST", "HmacSHA256")])
def test_temporary_credentials_need_their_token(emu, method: str, sign: str) -> None:
    emu.add_credential("AKIDtemporary", "temp-key", token="the-token")
    call = req("DescribeJob", Name="x", Cluster=CLUSTER)

    def make(token):
        return client(emu, method, sign, secret_id="AKIDtemporary", secret_key="temp-key", token=token)

    assert _code(lambda: make(None).DescribeJob(call)) == "AuthFailure.TokenFailure"
    assert _code(lambda: make("other").DescribeJob(call)) == "AuthFailure.TokenFailure"
    assert _code(lambda: make("the-token").DescribeJob(call)) == "ResourceNotFound"


def test_a_malformed_authorization_or_missing_signature_is_refused(emu) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-TC-Action": "DescribeJob",
        "X-TC-Version": "2018-02-26",
        "X-TC-Timestamp": str(int(time.time())),
        "Authorization": "TC3-HMAC-SHA256 garbage",
    }
    r = requests.post(emu.url, data=json.dumps({"Name": "x", "Cluster": CLUSTER}), headers=headers, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    r = requests.get(
        emu.url, params={"Action": "DescribeJob", "Version": "2018-02-26", "Name": "x"}, timeout=5
    )
    assert r.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_host_must_be_signed() -> None:
    """A signature over content-type alone could be replayed against another host: refused."""
    v = Verifier(service="cvm")
    v.add(VECTOR_ID, VECTOR_KEY)
    canonical = tc3_canonical_request("POST", "/", "", VECTOR_HEADERS, ["content-type"], VECTOR_BODY)
    sig = tc3_signature(VECTOR_KEY, "2019-02-25", "cvm", str(VECTOR_TS), canonical)
    auth = f"TC3-HMAC-SHA256 Credential={VECTOR_ID}/2019-02-25/cvm/tc3_request, SignedHeaders=content-type, Signature={sig}"
    headers = {**VECTOR_HEADERS, "authorization": auth, "x-tc-timestamp": str(VECTOR_TS)}
    with pytest.raises(AuthError) as info:
        v.verify_tc3("POST", "/", "", headers, VECTOR_BODY, now=VECTOR_TS)
    assert info.value.code.startswith("AuthFailure") and "host" in info.value.message
