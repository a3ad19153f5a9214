"""TI-ONE online services over HTTP with the official client: the lifecycle of a group and its versions,
stop/resume, weights, call info, events and logs, and the errors that name the field."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tione.v20211111 import models as tione_models

from ..helpers.tione import (
    call,
    cos,
    error_code,
    import_request,
    imported,
    predict,
    serves,
    service_request,
    serving,
    wait_service,
    wait_version,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_tia.emulator.server import TIAEmulator as Emu


@pytest.fixture(scope="module")
def svc_emu(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    yield from serving(
        runner="local", state_dir=tmp_path_factory.mktemp("tione-services"), cos_endpoint=moto_url
    )


@pytest.fixture(scope="module")
def version(svc_emu: Emu, moto_url: str) -> dict:
    return imported(svc_emu, moto_url, 2.0)


def _error(emu: Emu, action: str, **fields: object) -> tuple[str, str]:
    with pytest.raises(TencentCloudSDKException) as info:
        call(emu, action, **fields)
    return str(info.value.code), str(info.value.message)


def test_lifecycle_create_serve_stop_resume_delete(svc_emu: Emu, version: dict) -> None:
    created = call(svc_emu, "CreateModelService", **service_request(version, Replicas=2))["Service"]
    assert created["Status"] == "" and created["BusinessStatus"] == "CREATING"
    sid, gid = created["ServiceId"], created["ServiceGroupId"]
    assert sid == f"{gid}-1" and created["Version"] == "1" and len(gid) == 11
    normal = wait_service(svc_emu, sid, serves(version["TrainingModelVersionId"]))
    assert normal["BusinessStatus"] == "BILLING" and normal["CreateFailedReason"] == "CREATE_SUCCEED"
    assert normal["Weight"] == 100 and len(normal["ServiceInfo"]["PodInfos"]) == 2
    assert all(p["Name"].startswith(f"{sid}-") for p in normal["ServiceInfo"]["PodInfos"])
    group = call(svc_emu, "DescribeModelServiceGroup", ServiceGroupId=gid)["ServiceGroup"]
    assert (
        group["ServiceCount"] == 1
        and group["Services"][0]["ServiceId"] == sid
        and group["Status"] == "Normal"
    )
    assert group["AuthorizationEnable"] and group["AuthTokens"][0]["Base"]["Value"]

    code, message = _error(svc_emu, "DeleteModelService", ServiceId=sid)
    assert code == "ResourceInUse" and "STOP" in message
    call(svc_emu, "ModifyModelService", ServiceId=sid, ServiceAction="STOP")
    stopped = wait_service(svc_emu, sid, lambda s: s["Status"] == "Stopped")
    assert stopped["ServiceInfo"]["Replicas"] == 0 and stopped["ServiceInfo"]["OldReplicas"] == 2
    assert predict(svc_emu, gid, {"x": [1]}).status_code == 503
    call(svc_emu, "ModifyModelService", ServiceId=sid, ServiceAction="RESUME")
    resumed = wait_service(svc_emu, sid, serves(version["TrainingModelVersionId"]))
    assert resumed["ServiceInfo"]["Replicas"] == 2
    call(svc_emu, "ModifyModelService", ServiceId=sid, ServiceAction="SCALE", Replicas=1)
    scaled = wait_service(svc_emu, sid, lambda s: s["ServiceInfo"]["Status"]["Replicas"] == 1)
    assert scaled["Status"] == "Normal" and len(scaled["ServiceInfo"]["PodInfos"]) == 1

    call(svc_emu, "ModifyModelService", ServiceId=sid, ServiceAction="STOP")
    wait_service(svc_emu, sid, lambda s: s["Status"] == "Stopped")
    call(svc_emu, "DeleteModelService", ServiceId=sid)
    assert error_code(svc_emu, "DescribeModelService", ServiceId=sid) == "ResourceNotFound"
    call(svc_emu, "DeleteModelServiceGroup", ServiceGroupId=gid)
    assert error_code(svc_emu, "DescribeModelServiceGroup", ServiceGroupId=gid) == "ResourceNotFound"


def test_blue_green_weights_shift_the_traffic(svc_emu: Emu, version: dict, moto_url: str) -> None:
    blue = call(svc_emu, "CreateModelService", **service_request(version))["Service"]
    gid = blue["ServiceGroupId"]
    newer = imported(
        svc_emu, moto_url, 10.0, ImportMethod="VERSION", TrainingModelId=version["Id"], TrainingModelName=None
    )
    green = call(svc_emu, "CreateModelService", ServiceGroupId=gid, NewVersion=True, ChargeType="POSTPAID_BY_HOUR",
                 InstanceType="TI.S.MEDIUM.POST", ModelInfo={"ModelVersionId": newer["TrainingModelVersionId"]})["Service"]  # fmt: skip
    assert green["ServiceId"] == f"{gid}-2" and green["Weight"] == 0
    wait_service(svc_emu, blue["ServiceId"], serves(version["TrainingModelVersionId"]))
    wait_service(svc_emu, green["ServiceId"], serves(newer["TrainingModelVersionId"]))
    assert {predict(svc_emu, gid, {"x": [1]}).json()["factor"] for _ in range(5)} == {2.0}
    weights = [
        {"ServiceId": green["ServiceId"], "Weight": 100},
        {"ServiceId": blue["ServiceId"], "Weight": 0},
    ]
    call(svc_emu, "ModifyServiceGroupWeights", ServiceGroupId=gid, Weights=weights)
    group = call(svc_emu, "DescribeModelServiceGroup", ServiceGroupId=gid)["ServiceGroup"]
    assert group["WeightUpdateStatus"] == "UPDATING" and group["LatestVersion"] == "2"
    deadline = time.monotonic() + 10
    while (
        call(svc_emu, "DescribeModelServiceGroup", ServiceGroupId=gid)["ServiceGroup"]["WeightUpdateStatus"]
        != "UPDATED"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert {predict(svc_emu, gid, {"x": [1]}).json()["factor"] for _ in range(5)} == {10.0}
    listed = call(svc_emu, "DescribeModelServiceGroups",
                  Filters=[{"Name": "ModelVersionId", "Values": [newer["TrainingModelVersionId"]]}])  # fmt: skip
    assert [g["ServiceGroupId"] for g in listed["ServiceGroups"]] == [gid]
    # The client keeps only the fields its models know: SDKs before GlobalTotalCount drop it.
    if hasattr(tione_models.DescribeModelServiceGroupsResponse, "GlobalTotalCount"):
        assert listed["GlobalTotalCount"] >= 1
    code, message = _error(
        svc_emu, "DeleteTrainingModelVersion", TrainingModelVersionId=newer["TrainingModelVersionId"]
    )
    assert code == "ResourceInUse" and green["ServiceId"] in message
    call(svc_emu, "DeleteModelServiceGroup", ServiceGroupId=gid)


def test_call_info_events_and_logs(svc_emu: Emu, version: dict) -> None:
    created = call(svc_emu, "CreateModelService", **service_request(version))["Service"]
    sid, gid = created["ServiceId"], created["ServiceGroupId"]
    wait_service(svc_emu, sid, serves(version["TrainingModelVersionId"]))
    info = call(svc_emu, "DescribeModelServiceCallInfo", ServiceGroupId=gid)
    v2 = info["ServiceCallInfoV2"]
    assert (
        v2["AuthorizationEnable"]
        and v2["AuthToken"]
        and v2["InternetEndpoint"].startswith("http://127.0.0.1:")
    )
    assert info["ServiceCallInfo"]["OuterHttpAddr"] == f"{v2['InternetEndpoint']}/{gid}"
    events = call(svc_emu, "DescribeEvents", Service="INFER", ServiceId=sid)["Events"]
    assert {e["ResourceKind"] for e in events} == {"Pod"} and any("Started" in e["Message"] for e in events)
    assert call(svc_emu, "DescribeEvents", Service="INFER", ServiceId=sid,
                Filters=[{"Name": "Type", "Values": ["Warning"]}])["Events"] == []  # fmt: skip
    lines = call(svc_emu, "DescribeLogs", Service="INFER", ServiceId=sid, Limit=1000)["Content"]
    assert lines and all(line["PodName"].startswith(sid) for line in lines)
    assert not any(v2["AuthToken"] in line["Message"] for line in lines)
    call(svc_emu, "DeleteModelServiceGroup", ServiceGroupId=gid)


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"ServiceGroupName": "名字"}, "InvalidParameterValue", "ServiceGroupName"),
        ({"ChargeType": "FREE"}, "InvalidParameterValue", "ChargeType"),
        ({"InstanceType": None}, "InvalidParameterValue", "InstanceType"),
        ({"Replicas": 1000}, "InvalidParameterValue", "Replicas"),
        ({"ModelInfo": {"ModelVersionId": "mv-v1-1"}}, "ResourceNotFound", "ModelInfo.ModelVersionId"),
        ({"ModelInfo": None}, "InvalidParameterValue", "ModelInfo"),
        ({"ServiceGroupId": "ms-00000000", "ServiceGroupName": None}, "InvalidParameterValue", "NewVersion"),
        ({"ScaleMode": "FAST"}, "InvalidParameterValue", "ScaleMode"),
        ({"Env": [{"Value": "x"}]}, "InvalidParameterValue", "Env.0.Name"),
    ],
)  # fmt: skip
def test_bad_services_are_refused_naming_the_field(
    svc_emu: Emu, version: dict, overrides: dict, code: str, field: str
) -> None:
    request = {k: v for k, v in {**service_request(version), **overrides}.items() if v is not None}
    before = len(svc_emu.tione.service_store.groups())  # type: ignore[union-attr]
    got_code, message = _error(svc_emu, "CreateModelService", **request)
    assert (got_code, f"`{field}`" in message) == (code, True), message
    assert len(svc_emu.tione.service_store.groups()) == before  # type: ignore[union-attr]


def test_duplicate_group_names_and_unknown_ids(svc_emu: Emu, version: dict) -> None:
    request = service_request(version, Replicas=0)
    created = call(svc_emu, "CreateModelService", **request)["Service"]
    assert _error(svc_emu, "CreateModelService", **request)[0] == "FailedOperation.DuplicateName"
    assert error_code(svc_emu, "DescribeModelService", ServiceId="ms-nothere0-1") == "ResourceNotFound"
    assert error_code(svc_emu, "ModifyModelService", ServiceId=created["ServiceId"], ServiceAction="PAUSE") == "InvalidParameterValue"  # fmt: skip
    code, message = _error(svc_emu, "ModifyServiceGroupWeights", ServiceGroupId=created["ServiceGroupId"],
                           Weights=[{"ServiceId": "ms-other000-1", "Weight": 1}])  # fmt: skip
    assert code == "InvalidParameterValue" and "`Weights.0.ServiceId`" in message
    assert error_code(svc_emu, "DescribeEvents", Service="NOTEBOOK") == "InvalidParameterValue"
    call(svc_emu, "DeleteModelServiceGroup", ServiceGroupId=created["ServiceGroupId"])


def test_simulated_services_serve_without_processes(sim_emu: Emu) -> None:
    """With the simulated runner (no COS, no tiinfer): imports succeed empty, many services go Normal at once,
    a version tagged sim.outcome=Abnormal fails, and the gateway answers for the version drawn."""
    good = call(sim_emu, "CreateTrainingModel", **import_request(cos("b-1250000000", "m/")))
    bad = call(sim_emu, "CreateTrainingModel", **import_request(cos("b-1250000000", "m/"),
                                                                Tags=[{"TagKey": "sim.outcome", "TagValue": "Abnormal"}]))  # fmt: skip
    assert wait_version(sim_emu, good["TrainingModelVersionId"])["TrainingModelStatus"] == "STATUS_SUCCESS"
    assert wait_version(sim_emu, bad["TrainingModelVersionId"])["TrainingModelStatus"] == "STATUS_SUCCESS"
    sids = [
        call(sim_emu, "CreateModelService", **service_request(good, Replicas=2))["Service"]["ServiceId"]
        for _ in range(30)
    ]
    for sid in sids:
        wait_service(sim_emu, sid, serves(good["TrainingModelVersionId"]), timeout=20)
    listed = call(sim_emu, "DescribeModelServiceGroups", Limit=100,
                  Filters=[{"Name": "ServiceId", "Values": sids}])  # fmt: skip
    assert listed["TotalCount"] == 30 and {
        s["Status"] for g in listed["ServiceGroups"] for s in g["Services"]
    } == {"Normal"}
    gid = sids[0].rsplit("-", 1)[0]
    reply = predict(sim_emu, gid, {"x": [1]})
    assert (
        reply.status_code == 200
        and reply.json()["simulated"] is True
        and reply.json()["ServiceId"] == sids[0]
    )
    broken = call(sim_emu, "CreateModelService", **service_request(bad))["Service"]["ServiceId"]
    assert (
        wait_service(sim_emu, broken, lambda s: s["Status"] == "Abnormal", timeout=20)["ServiceInfo"][
            "Status"
        ]["AvailableReplicas"]
        == 0
    )
    for sid in [*sids, broken]:
        call(sim_emu, "DeleteModelServiceGroup", ServiceGroupId=sid.rsplit("-", 1)[0])


def test_mistyped_nested_configuration_is_refused_naming_the_path(svc_emu: Emu, version: dict) -> None:
    from tencentcloud.common.common_client import CommonClient

    from ..helpers.tia import profile
    from ..helpers.tione import tione

    client = CommonClient("tione", "2021-11-11", tione(svc_emu).credential, "ap-guangzhou", profile(svc_emu))
    for field, value, path in [
        ("HealthProbe", {"LivenessProbe": "x"}, "HealthProbe.LivenessProbe"),
        ("RollingUpdate", {"MaxSurge": {"Value": "1"}}, "RollingUpdate.MaxSurge.Value"),
        ("CronScaleJobs", [{"Name": "no-schedule"}], "CronScaleJobs.0.Schedule"),
        ("Weird", 1, "Weird"),
    ]:
        with pytest.raises(TencentCloudSDKException) as info:
            client.call_json("CreateModelService", {**service_request(version), field: value})
        assert f"`{path}`" in info.value.message, info.value.message


def test_a_lost_create_reply_leaves_one_group_that_a_retry_finds_by_name(svc_emu: Emu, version: dict) -> None:
    """Faults work on the new actions as on the others: the Create ran, its reply was lost; the retry's
    DuplicateName and a name filter lead to the one group (no duplicate)."""
    request = service_request(version, Replicas=0)
    svc_emu.set_faults("CreateModelService: InternalError_after=1")
    try:
        assert _error(svc_emu, "CreateModelService", **request)[0] == "InternalError"
    finally:
        svc_emu.set_faults(None)
    assert _error(svc_emu, "CreateModelService", **request)[0] == "FailedOperation.DuplicateName"
    found = call(svc_emu, "DescribeModelServiceGroups",
                 Filters=[{"Name": "ServiceGroupName", "Values": [request["ServiceGroupName"]]}])  # fmt: skip
    assert found["TotalCount"] == 1
    call(svc_emu, "DeleteModelServiceGroup", ServiceGroupId=found["ServiceGroups"][0]["ServiceGroupId"])
