"""Transport: https unless the connection says http explicitly; the service refuses every request whose
signature does not verify (forged, tampered, stale or replayed after 5 minutes, another service's scope,
wrong key/token) and performs nothing for it; the provider surfaces such refusals without retrying."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import requests
from tencentcloud.common import abstract_client, abstract_client_async

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.emulator.core import auth as emulator_auth
from airflow_provider_tia.emulator.core.auth import legacy_sign_string, tc3_canonical_request, tc3_signature
from airflow_provider_tia.exceptions import AuthFailure, NetworkError, TencentCloudConfigError
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job_spec import JobSpec

CLUSTER = "ap-beijing"
TEMP_ID, TEMP_KEY, TEMP_TOKEN = (
    "AKIDrelTransportTmp",
    "transport-temp-secret-key",
    "transport-session-token-1",
)


@pytest.fixture(scope="module")
def emu():
    with TIAEmulator(runner="simulated", sim_duration=30) as emulator:
        emulator.add_credential(TEMP_ID, TEMP_KEY, TEMP_TOKEN)
        yield emulator


def _conn(monkeypatch, conn_id: str, **extra) -> TIAHook:
    login = extra.pop("login", "AKIDemulator")
    password = extra.pop("password", "emulator-secret")
    host = extra.pop("host", None)
    body = {
        "conn_type": "tencentcloud",
        "login": login,
        "password": password,
        "extra": {"region": CLUSTER, "max_attempts": 1, "request_timeout": 5, **extra},
    }
    if host:
        body["host"] = host
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
    return TIAHook(conn_id)


# ------------------------------------------------------------------------------------ https default
@pytest.mark.parametrize(
    ("extra", "scheme"),
    [
        ({}, "https"),
        ({"endpoint": "tia.tencentcloudapi.com"}, "https"),
        ({"endpoint": "127.0.0.1:9000"}, "https"),
        ({"host": "127.0.0.1:9000"}, "https"),
        ({"endpoint": "https://127.0.0.1:9000"}, "https"),
        ({"endpoint": "http://127.0.0.1:9000", "scheme": "https"}, "https"),
        ({"endpoint": "127.0.0.1:9000", "scheme": "http"}, "http"),
        ({"endpoint": "127.0.0.1:9000", "scheme": "HTTP"}, "http"),
        ({"endpoint": "http://127.0.0.1:9000"}, "http"),
        ({"endpoint": "127.0.0.1:9000", "extra__tencentcloud__scheme": "http"}, "http"),
    ],
)
def test_https_unless_http_is_explicit(monkeypatch, extra, scheme) -> None:
    hook = _conn(monkeypatch, "tia_rel_scheme", **extra)
    assert hook.settings.scheme == scheme
    assert hook.client.profile.httpProfile.scheme == scheme


def test_unknown_scheme_is_refused(monkeypatch) -> None:
    with pytest.raises(TencentCloudConfigError, match="scheme must be 'https' or 'http', got 'ftp'"):
        _ = _conn(monkeypatch, "tia_rel_ftp", endpoint="127.0.0.1:9000", scheme="ftp").settings


def test_no_silent_downgrade_to_http_on_the_wire(emu, monkeypatch, reliability_results) -> None:
    """Pointed at a plain-HTTP server without saying http, the provider speaks TLS and fails: it never
    falls back to http, and the server never sees a request."""
    emu.reset_counters()
    hook = _conn(monkeypatch, "tia_rel_tls", endpoint=emu.endpoint)
    with pytest.raises(NetworkError):
        hook.describe_job("x", CLUSTER)

    async def read() -> None:
        async with await hook.async_client() as client:
            await client.describe_job("x", CLUSTER)

    with pytest.raises(NetworkError):
        asyncio.run(read())
    plain = _conn(monkeypatch, "tia_rel_plain", endpoint=emu.endpoint, scheme="http")
    assert [j.name for j in plain.list_jobs(CLUSTER)] == []
    reliability_results.record(
        "transport: https default (sync + async), no downgrade",
        3,
        false_failures=int(sum(emu.calls.values()) != 1),
    )
    assert dict(emu.calls) == {"ListJobs": 1}  # only the explicit-http call reached the server


# ------------------------------------------------------------------------------------ signatures
def signed(
    emu: TIAEmulator,
    action: str,
    params: dict,
    *,
    secret_id: str = "AKIDemulator",
    secret_key: str = "emulator-secret",
    timestamp: int | None = None,
    service: str = "tia",
    token: str | None = None,
    signed_headers: tuple[str, ...] = ("content-type", "host"),
    date: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """A TC3-HMAC-SHA256 request built from the public algorithm (not the SDK)."""
    body = json.dumps(params).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    date = date or datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")
    headers = {
        "content-type": "application/json",
        "host": emu.endpoint,
        "x-tc-action": action,
        "x-tc-version": "2018-02-26",
        "x-tc-timestamp": str(ts),
        "x-tc-region": CLUSTER,
    }
    if token:
        headers["x-tc-token"] = token
    canonical = tc3_canonical_request("POST", "/", "", headers, list(signed_headers), body)
    signature = tc3_signature(secret_key, date, service, str(ts), canonical)
    headers["authorization"] = (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )
    return headers, body


def send(emu: TIAEmulator, headers: dict[str, str], body: bytes) -> str:
    """The reply's error code, or "OK"."""
    reply = requests.post(emu.url, data=body, headers=headers, timeout=10).json()["Response"]
    return reply.get("Error", {}).get("Code", "OK")


def legacy(emu: TIAEmulator, params: dict, *, timestamp: int | None = None, tamper: bool = False) -> str:
    """An HmacSHA256 GET (the seed's form), optionally stale or tampered after signing."""
    query = {
        "Action": "DescribeJob",
        "Version": "2018-02-26",
        "Region": CLUSTER,
        "SecretId": "AKIDemulator",
        "Timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "Nonce": str(secrets.randbelow(2**31) + 1),  # a fresh one: the emulator refuses a replayed Nonce
        "SignatureMethod": "HmacSHA256",
        **params,
    }
    text = legacy_sign_string("GET", emu.endpoint, "/", query)
    query["Signature"] = base64.b64encode(
        hmac.new(b"emulator-secret", text.encode(), hashlib.sha256).digest()
    ).decode()
    if tamper:
        query["Name"] = query["Name"] + "x"
    reply = requests.get(f"{emu.url}?{urlencode(query)}", headers={"host": emu.endpoint}, timeout=10).json()
    return reply["Response"].get("Error", {}).get("Code", "OK")


def create_params(name: str) -> dict:
    return {"Name": name, "Cluster": CLUSTER, "RuntimeVersion": "tia-1.7.0"}


def test_every_unverifiable_request_is_refused_and_performs_nothing(
    emu, monkeypatch, reliability_results
) -> None:
    now = int(time.time())
    results: list[tuple[str, str, str]] = []  # (case, expected, got)

    def case(label: str, expected: str, headers: dict, body: bytes) -> None:
        results.append((label, expected, send(emu, headers, body)))

    # Control: a correctly signed request is accepted (so the refusals below are about the signature).
    case("valid", "OK", *signed(emu, "CreateJob", create_params("sig-valid")))
    case(
        "stale (400 s old)",
        "AuthFailure.SignatureExpire",
        *signed(emu, "CreateJob", create_params("sig-stale"), timestamp=now - 400),
    )
    case(
        "future (400 s ahead)",
        "AuthFailure.SignatureExpire",
        *signed(emu, "CreateJob", create_params("sig-future"), timestamp=now + 400),
    )
    case(
        "other service scope (cvm)",
        "AuthFailure.InvalidAuthorization",
        *signed(emu, "CreateJob", create_params("sig-cvm"), service="cvm"),
    )
    headers, _ = signed(emu, "CreateJob", create_params("sig-tamper-a"))
    case(
        "body tampered after signing",
        "AuthFailure.SignatureFailure",
        headers,
        json.dumps(create_params("sig-tamper-b")).encode(),
    )
    headers, body = signed(emu, "CreateJob", create_params("sig-host"))
    case(
        "host changed after signing",
        "AuthFailure.SignatureFailure",
        {**headers, "host": "tia.tencentcloudapi.com"},
        body,
    )
    case(
        "wrong SecretKey",
        "AuthFailure.SignatureFailure",
        *signed(emu, "CreateJob", create_params("sig-wrongkey"), secret_key="not-the-key"),
    )
    case(
        "unknown SecretId",
        "AuthFailure.SecretIdNotFound",
        *signed(emu, "CreateJob", create_params("sig-noid"), secret_id="AKIDnobody"),
    )
    case(
        "credential date != timestamp",
        "AuthFailure.SignatureFailure",
        *signed(emu, "CreateJob", create_params("sig-date"), date="2020-01-01"),
    )
    case(
        "temporary key without its token",
        "AuthFailure.TokenFailure",
        *signed(emu, "CreateJob", create_params("sig-notoken"), secret_id=TEMP_ID, secret_key=TEMP_KEY),
    )
    case(
        "temporary key, wrong token",
        "AuthFailure.TokenFailure",
        *signed(
            emu,
            "CreateJob",
            create_params("sig-badtoken"),
            secret_id=TEMP_ID,
            secret_key=TEMP_KEY,
            token="another-token",
        ),
    )
    case(
        "temporary key with its token",
        "OK",
        *signed(
            emu,
            "CreateJob",
            create_params("sig-temp"),
            secret_id=TEMP_ID,
            secret_key=TEMP_KEY,
            token=TEMP_TOKEN,
        ),
    )
    headers, body = signed(emu, "CreateJob", create_params("sig-nosig"))
    case(
        "no Authorization",
        "AuthFailure.InvalidAuthorization",
        {k: v for k, v in headers.items() if k != "authorization"},
        body,
    )
    # The action signed as a header cannot be swapped for another one.
    headers, body = signed(
        emu,
        "DescribeJob",
        {"Name": "sig-valid", "Cluster": CLUSTER},
        signed_headers=("content-type", "host", "x-tc-action"),
    )
    case("signed action", "OK", headers, body)
    case(
        "signed action swapped to DeleteJob",
        "AuthFailure.SignatureFailure",
        {**headers, "x-tc-action": "DeleteJob"},
        body,
    )

    # Replay: the same bytes, accepted now, refused once the service's clock is 5 minutes further on.
    replay_headers, replay_body = signed(emu, "DescribeJob", {"Name": "sig-valid", "Cluster": CLUSTER})
    case("replay, fresh", "OK", replay_headers, replay_body)
    for offset, expected in (
        (290, "OK"),
        (310, "AuthFailure.SignatureExpire"),
        (3600, "AuthFailure.SignatureExpire"),
    ):
        monkeypatch.setattr(emulator_auth, "time", SimpleNamespace(time=lambda o=offset: time.time() + o))
        case(f"replay after {offset} s", expected, replay_headers, replay_body)
    monkeypatch.undo()

    # The legacy HmacSHA256 form (the seed's GET) under the same rules.
    for label, expected, kwargs in (
        ("legacy GET", "OK", {}),
        ("legacy GET stale", "AuthFailure.SignatureExpire", {"timestamp": now - 400}),
        ("legacy GET tampered", "AuthFailure.SignatureFailure", {"tamper": True}),
    ):
        results.append((label, expected, legacy(emu, {"Name": "sig-valid", "Cluster": CLUSTER}, **kwargs)))

    created = sorted(name for name in (j["Name"] for j in emu.store.list(CLUSTER)) if name.startswith("sig-"))
    wrong = [r for r in results if r[1] != r[2]]
    reliability_results.record(
        "transport: forged/stale/replayed/foreign-scope requests",
        len(results),
        false_failures=len(wrong) + int(created != ["sig-temp", "sig-valid"]),
    )
    assert wrong == []
    assert created == ["sig-temp", "sig-valid"]  # no refused request created anything (nor deleted sig-valid)


def test_provider_with_a_skewed_clock_gets_a_clear_refusal_without_retries(emu, monkeypatch) -> None:
    """A worker whose clock is 400 s behind: the SDK signs stale requests; the provider raises AuthFailure
    (SignatureExpire) at once (no retries, no job), from the sync hook and the trigger's async client."""
    hook = _conn(monkeypatch, "tia_rel_skew", endpoint=emu.endpoint, scheme="http", max_attempts=5)
    skewed = SimpleNamespace(time=lambda: time.time() - 400, sleep=time.sleep, monotonic=time.monotonic)
    monkeypatch.setattr(abstract_client, "time", skewed)
    monkeypatch.setattr(abstract_client_async, "time", skewed)
    emu.reset_counters()
    with pytest.raises(AuthFailure) as caught:
        hook.create_job(JobSpec(name="skew-job", cluster=CLUSTER, runtime_version="tia-1.7.0"))
    assert caught.value.code == "AuthFailure.SignatureExpire"

    async def read() -> None:
        async with await hook.async_client() as client:
            await client.describe_job("skew-job", CLUSTER)

    with pytest.raises(AuthFailure, match="SignatureExpire"):
        asyncio.run(read())
    assert dict(emu.calls) == {"CreateJob": 1, "DescribeJob": 1}
    assert emu.store.get(CLUSTER, "skew-job") is None
