"""Wire protocol: envelopes, Content-Type, common errors for action/version/parameters."""

from __future__ import annotations

import json
import time

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tia.v20180226.tia_client import TiaClient

from airflow_provider_tia.emulator.core.parsing import unflatten

from ..helpers.tia import CLUSTER, client, common, req


def _code(fn) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return info.value.code


def test_unflatten_lists_and_nesting() -> None:
    flat = {"PackageDir.1": "b", "PackageDir.0": "a", "Name": "x", "F.0.Values.0": "v", "F.0.Name": "n"}
    assert unflatten(flat) == {"PackageDir": ["a", "b"], "Name": "x", "F": [{"Values": ["v"], "Name": "n"}]}


def test_replies_are_exactly_application_json(emu) -> None:
    ok = requests.post(emu.url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=5)
    body = ok.json()["Response"]
    assert ok.status_code == 200 and ok.headers["Content-Type"] == "application/json"
    assert body["Error"]["Code"] == "MissingParameter" and "Action" in body["Error"]["Message"]
    assert len(body["RequestId"]) == 36
    reply = json.loads(common(emu).call("ListJobs", {"Cluster": CLUSTER}))["Response"]
    assert set(reply) == {"Jobs", "RequestId"}


def test_unknown_actions_and_versions_are_refused(emu) -> None:
    assert _code(lambda: common(emu).call_json("RunEverything", {})) == "InvalidAction"
    assert _code(lambda: common(emu, version="2017-01-01").call_json("ListJobs", {})) == "NoSuchVersion"
    assert _code(lambda: common(emu, version="").call_json("ListJobs", {})) == "MissingParameter"

    class OldTia(TiaClient):
        _apiVersion = "2010-01-01"

    assert _code(lambda: client(emu, cls=OldTia).ListJobs(req("ListJobs"))) == "NoSuchVersion"
    assert emu.calls["RunEverything"] == 1


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_unknown_missing_and_mistyped_parameters_are_refused(emu, method: str) -> None:
    c = common(emu, method=method)
    base = {"Name": "p-errors", "Cluster": CLUSTER, "RuntimeVersion": "tia-1.7.0"}
    assert _code(lambda: c.call_json("CreateJob", {**base, "Colour": "red"})) == "UnknownParameter"
    assert _code(lambda: c.call_json("CreateJob", {"Name": "x", "Cluster": CLUSTER})) == "MissingParameter"
    assert _code(lambda: c.call_json("DescribeJob", {"Name": "x"})) == "MissingParameter"
    bad = {**base, "ScaleTier": "Custom", "MasterType": "1U1G0P", "WorkerCount": "two"}
    assert _code(lambda: c.call_json("CreateJob", bad)) == "InvalidParameter"
    assert _code(lambda: c.call_json("CreateJob", {**base, "Debug": "maybe"})) == "InvalidParameter"
    assert _code(lambda: c.call_json("ListJobs", {"Cluster": CLUSTER, "Limit": "many"})) == "InvalidParameter"


def test_json_types_are_strict(emu) -> None:
    c = common(emu)
    base = {"Name": "strict", "Cluster": CLUSTER, "RuntimeVersion": "tia-1.7.0"}
    assert _code(lambda: c.call_json("CreateJob", {**base, "Command": "python"})) == "InvalidParameter"
    assert _code(lambda: c.call_json("CreateJob", {**base, "Command": ["python", 3]})) == "InvalidParameter"
    assert _code(lambda: c.call_json("CreateJob", {**base, "Debug": 1})) == "InvalidParameter"
    assert _code(lambda: c.call_json("ListJobs", {"Cluster": CLUSTER, "Limit": "5"})) == "InvalidParameter"
    assert _code(lambda: c.call_json("ListJobs", {"Cluster": CLUSTER, "Limit": True})) == "InvalidParameter"
    assert _code(lambda: c.call_json("CreateJob", {**base, "Name": "  "})) == "InvalidParameterValue"


def test_get_list_items_and_types_are_decoded(emu) -> None:
    c = common(emu, method="GET")
    name = f"get-decoded-{int(time.time() * 1000)}"
    c.call_json(
        "CreateJob",
        {
            "Name": name,
            "Cluster": CLUSTER,
            "RuntimeVersion": "tia-1.7.0",
            "ScaleTier": "CUSTOM",
            "MasterType": "1U1G0P",
            "WorkerCount": 0,
            "Debug": True,
            "Command": [],
            "Args": ["a", "b"],
            "RuntimeConf": ["k=v"],
        },
    )
    job = emu.store.get(CLUSTER, name)
    assert job["Args"] == ["a", "b"] and job["WorkerCount"] == 0 and job["Debug"] is True
    assert job["ScaleTier"] == "Custom" and job["RuntimeConf"] == ["k=v"]


def test_calls_and_requests_are_recorded(emu) -> None:
    before = emu.calls["ListJobs"]
    c = client(emu)
    c.ListJobs(req("ListJobs", Cluster=CLUSTER))
    c.ListJobs(req("ListJobs", Cluster=CLUSTER, Limit=1))
    assert emu.calls["ListJobs"] == before + 2
    assert emu.requests[-1] == ("ListJobs", {"Cluster": CLUSTER, "Limit": 1})
