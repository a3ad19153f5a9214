"""Replies follow the contract: no nulls, Custom machine types, the QueryLogs zone option, the legacy Nonce,
a JSON envelope for every HTTP reply, and the console page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import textwrap
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.emulator.__main__ import build_parser
from airflow_provider_tia.emulator.core.auth import legacy_sign_string

from ..helpers.tia import CLUSTER, client, common, req, unique, write_script

if TYPE_CHECKING:
    from pathlib import Path

BASE = {"Cluster": CLUSTER, "RuntimeVersion": "tia-1.7.0"}


def _error(fn) -> tuple[str, str]:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return info.value.code, info.value.message


def test_replies_leave_unset_fields_out(sim_emu) -> None:
    name = unique("sparse")
    c = common(sim_emu)
    created = json.loads(c.call("CreateJob", {**BASE, "Name": name, "RuntimeConf": ["sim.start_delay=60"]}))
    described = json.loads(c.call("DescribeJob", {"Name": name, "Cluster": CLUSTER}))
    listed = json.loads(c.call("ListJobs", {"Cluster": CLUSTER}))
    for reply in (created, described, listed):
        assert "null" not in json.dumps(reply)
    job = described["Response"]["Job"]
    assert job["State"] == "Created" and job["RuntimeConf"] == ["sim.start_delay=60"]
    for unset in (
        "StartTime",
        "EndTime",
        "DelTime",
        "PackageDir",
        "Command",
        "Args",
        "ScaleTier",
        "MasterType",
        "WorkerType",
        "ParameterServerType",
        "WorkerCount",
        "ParameterServerCount",
    ):
        assert unset not in job
    assert {"Name", "Id", "Cluster", "RuntimeVersion", "Message", "CreateTime", "AppId", "Uin"} <= set(job)


def test_custom_counts_need_their_machine_type(sim_emu) -> None:
    c = client(sim_emu)
    custom = {**BASE, "ScaleTier": "Custom", "MasterType": "1U1G0P"}
    assert _error(lambda: c.CreateJob(req("CreateJob", Name=unique(), **custom, WorkerCount=2))) == (
        "InvalidParameter",
        "`WorkerCount` above 0 requires `WorkerType`.",
    )
    assert _error(lambda: c.CreateJob(req("CreateJob", Name=unique(), **custom, ParameterServerCount=1))) == (
        "InvalidParameter",
        "`ParameterServerCount` above 0 requires `ParameterServerType`.",
    )
    job = c.CreateJob(req("CreateJob", Name=unique(), **custom, WorkerCount=0)).Job
    assert job.WorkerCount == 0 and job.WorkerType is None


def _first_log_second(emu: TIAEmulator) -> tuple[str, datetime]:
    name = unique("zone")
    client(emu).CreateJob(
        req("CreateJob", Name=name, **BASE, RuntimeConf=["sim.log_lines=1", "sim.duration=0.05"])
    )
    emu.wait_for_state(name, CLUSTER, "Succeeded", timeout=10)
    stamp = emu.store.query_logs(CLUSTER, name, 0, 2**62, 1)[0][0]["Time"]
    return name, datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("zone", "offset"), [("utc", timezone.utc), ("+08:00", timezone(timedelta(hours=8)))]
)
def test_query_logs_reads_times_in_the_chosen_zone(zone: str, offset: timezone) -> None:
    with TIAEmulator(runner="simulated", query_logs_zone=zone) as e:
        name, second = _first_log_second(e)

        def count(wall: datetime) -> int:
            window = {
                "StartTime": f"{wall:%Y-%m-%d %H:%M:%S}",
                "EndTime": f"{wall + timedelta(seconds=5):%Y-%m-%d %H:%M:%S}",
            }
            return len(
                client(e).QueryLogs(req("QueryLogs", JobName=name, Cluster=CLUSTER, Limit=10, **window)).Logs
            )

        assert count(second.astimezone(offset)) == 1  # the wall-clock digits of the chosen zone find the line
        other = timezone(timedelta(hours=8)) if zone == "utc" else timezone.utc
        assert count(second.astimezone(other)) == 0  # the other reading is 8 hours off
        code, message = _error(
            lambda: client(e).QueryLogs(
                req("QueryLogs", JobName=name, Cluster=CLUSTER, Limit=1, StartTime="soon", EndTime="later")
            )
        )
        assert code == "InvalidParameterValue" and zone in message


def test_query_logs_zone_defaults_to_plus_0800_and_refuses_others() -> None:
    assert build_parser().parse_args([]).query_logs_zone == "+08:00"
    assert build_parser().parse_args(["--query-logs-zone", "utc"]).query_logs_zone == "utc"
    with pytest.raises(ValueError, match="query_logs_zone"):
        TIAEmulator(query_logs_zone="Asia/Shanghai")


def _legacy_url(emu: TIAEmulator, nonce: str | None) -> str:
    query = {
        "Action": "DescribeJob",
        "Version": "2018-02-26",
        "Region": CLUSTER,
        "SecretId": emu.secret_id,
        "Timestamp": str(int(time.time())),
        "SignatureMethod": "HmacSHA256",
        "Name": "ghost",
        "Cluster": CLUSTER,
        **({"Nonce": nonce} if nonce is not None else {}),
    }
    text = legacy_sign_string("GET", emu.endpoint, "/", query)
    query["Signature"] = base64.b64encode(
        hmac.new(emu.secret_key.encode(), text.encode(), hashlib.sha256).digest()
    ).decode()
    return f"{emu.url}?{urlencode(query)}"


def _legacy_code(url: str, emu: TIAEmulator) -> str:
    reply = requests.get(url, headers={"host": emu.endpoint}, timeout=10).json()["Response"]
    return reply.get("Error", {}).get("Code", "OK")


def test_legacy_signature_needs_a_fresh_nonce(sim_emu) -> None:
    assert _legacy_code(_legacy_url(sim_emu, None), sim_emu) == "MissingParameter"
    assert _legacy_code(_legacy_url(sim_emu, "-5"), sim_emu) == "InvalidParameterValue"
    url = _legacy_url(sim_emu, str(int(time.time() * 1000)))
    assert _legacy_code(url, sim_emu) == "ResourceNotFound"  # signed well: the action ran
    assert _legacy_code(url, sim_emu) == "AuthFailure.SignatureFailure"  # the same request again: a replay
    legacy = client(sim_emu, method="GET", sign="HmacSHA256")
    for _ in range(3):  # the SDK draws a new Nonce per request
        assert (
            _error(lambda: legacy.DescribeJob(req("DescribeJob", Name="ghost", Cluster=CLUSTER)))[0]
            == "ResourceNotFound"
        )


@pytest.mark.parametrize(("method", "path", "code"), [
    ("PUT", "/", "UnsupportedProtocol"), ("DELETE", "/", "UnsupportedProtocol"),
    ("OPTIONS", "/", "UnsupportedProtocol"), ("PATCH", "/", "UnsupportedProtocol"),
    ("BREW", "/", "UnsupportedProtocol"), ("GET", "/nope", "InvalidAction"), ("POST", "/v2/jobs", "InvalidAction"),
    ("PUT", "/nope", "UnsupportedProtocol"), ("POST", "/console/tia/job", "InvalidAction"),
])  # fmt: skip
def test_every_reply_is_the_json_envelope(sim_emu, method: str, path: str, code: str) -> None:
    r = requests.request(method, sim_emu.url.rstrip("/") + path, data=b"{}", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert "server" not in r.headers
    body = r.json()["Response"]
    assert body["Error"]["Code"] == code and len(body["RequestId"]) == 36


def test_no_server_banner_and_malformed_http_gets_json(sim_emu) -> None:
    ok = requests.post(sim_emu.url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=10)
    assert "server" not in ok.headers
    with socket.create_connection((sim_emu.host, sim_emu.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/json\r\n" in head.lower() + b"\r\n" and b"server:" not in head.lower()
    assert json.loads(body)["Response"]["Error"]["Code"] == "InvalidParameter"


HTML_LOGS = textwrap.dedent("""
    for i in range(60):
        print("line %d <b>bold</b> & <script>alert(1)</script>" % i)
""")


def test_console_page_shows_the_job_escaped_and_404s_a_missing_one(emu, tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", HTML_LOGS)
    name = unique("console")
    client(emu).CreateJob(
        req(
            "CreateJob",
            Name=name,
            **BASE,
            ScaleTier="Custom",
            MasterType="1U1G0P",
            WorkerType="1U1G0P",
            WorkerCount=1,
            PackageDir=[str(pkg)],
            Command=["python", "train.py"],
        )
    )
    job = emu.wait_for_state(name, CLUSTER, timeout=20)
    r = requests.get(f"{emu.url}console/tia/job", params={"cluster": CLUSTER, "name": name}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.text
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert job["State"] in page and job["CreateTime"] in page and job["EndTime"] in page
    assert f"{name}-master-0" in page and f"{name}-worker-0" in page
    assert page.count("&lt;b&gt;bold") == 50  # only the last 50 lines
    missing = requests.get(
        f"{emu.url}console/tia/job", params={"cluster": CLUSTER, "name": "ghost<i>"}, timeout=10
    )
    assert missing.status_code == 404 and "not found" in missing.text and "ghost&lt;i&gt;" in missing.text
    other = requests.get(
        f"{emu.url}console/tia/job", params={"cluster": CLUSTER, "name": name, "account": "999"}, timeout=10
    )
    assert other.status_code == 404  # another account's view has no such job
