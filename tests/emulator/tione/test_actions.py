"""TI-ONE actions over real HTTP with the official TioneClient: shapes, validation, states, listing."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import pytest
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_tia.emulator import TIAEmulator

from ..helpers.tia import profile
from ..helpers.tione import REGION, call, common_error, create, detail, error_code, serving, sim_tags, spec

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_tia.emulator.server import TIAEmulator as Emu


@pytest.fixture(scope="module")
def slow_submit() -> Iterator[Emu]:
    """Simulated runner; new tasks stay SUBMITTING for 3 s."""
    yield from serving(runner="simulated", sim_duration=0.05, tione_submit_delay=3.0)


def test_create_then_describe_has_the_contract_shape(sim_emu: Emu) -> None:
    task_id = create(
        sim_emu,
        TrainingMode="DDP",
        Tags=[{"TagKey": "team", "TagValue": "ml"}],
        Output={"Bucket": "out-1250000000", "Region": REGION, "Paths": ["o/"]},
        Envs=[{"Name": "A", "Value": "1"}],
    )
    assert re.fullmatch(r"train-\d{19}", task_id)
    d = sim_emu.wait_for_task(task_id, "SUCCEED")
    d = detail(sim_emu, task_id)
    assert d["Status"] == "SUCCEED" and d["ChargeStatus"] == "NOT_BILLING"
    assert re.fullmatch(re.escape(task_id) + r"-[a-z0-9]{12}", d["LatestInstanceId"])
    assert d["CodePackagePath"] == {"Bucket": "", "Region": "", "Paths": []}
    assert d["StartCmdInfo"] == {"StartCmd": "echo hello", "PsStartCmd": "", "WorkerStartCmd": ""}
    assert d["Output"]["Paths"] == ["o/"] and d["DataConfigs"] == [] and d["FailureReason"] == ""
    assert d["Tags"][0]["TagKey"] == "qcs:tag:createdBy" and {"TagKey": "team", "TagValue": "ml"} in d["Tags"]
    assert d["Uin"] == sim_emu.account.uin and d["Region"] == REGION
    for field in ("CreateTime", "StartTime", "EndTime", "UpdateTime"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08", d[field]), field
    assert datetime.fromisoformat(d["EndTime"] + ":00") >= datetime.fromisoformat(d["CreateTime"] + ":00")


def test_list_items_pods_and_filters(sim_emu: Emu) -> None:
    name = f"list-{uuid.uuid4().hex[:6]}"
    ids = [create(sim_emu, Name=name, Tags=[{"TagKey": "k", "TagValue": f"v{i}"}]) for i in range(3)]
    for task_id in ids:
        sim_emu.wait_for_task(task_id)
    reply = call(sim_emu, "DescribeTrainingTasks", Filters=[{"Name": "Name", "Values": [name]}], Limit=2)
    assert reply["TotalCount"] == 3 and len(reply["TrainingTaskSet"]) == 2
    item = reply["TrainingTaskSet"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", item["CreateTime"])
    assert "LatestInstanceId" not in item or item["LatestInstanceId"] is None
    rest = call(sim_emu, "DescribeTrainingTasks", Filters=[{"Name": "Name", "Values": [name]}], Offset=2)
    assert {t["Id"] for t in reply["TrainingTaskSet"] + rest["TrainingTaskSet"]} == set(ids)
    by_ids = call(sim_emu, "DescribeTrainingTasks", Filters=[{"Name": "Id", "Values": ids[:2]}])
    assert {t["Id"] for t in by_ids["TrainingTaskSet"]} == set(ids[:2])
    by_tag = call(sim_emu, "DescribeTrainingTasks", TagFilters=[{"TagKey": "k", "TagValues": ["v1", "v2"]}],
                  Filters=[{"Name": "Name", "Values": [name]}])  # fmt: skip
    assert {t["Id"] for t in by_tag["TrainingTaskSet"]} == set(ids[1:])
    asc = call(sim_emu, "DescribeTrainingTasks", Filters=[{"Name": "Name", "Values": [name]}],
               Order="ASC", OrderField="CreateTime")  # fmt: skip
    assert [t["Id"] for t in asc["TrainingTaskSet"]] == ids
    status = call(sim_emu, "DescribeTrainingTasks", Filters=[{"Name": "Name", "Values": [name]},
                  {"Name": "Status", "Values": ["FAILED", "RUNNING"]}])  # fmt: skip
    assert status["TotalCount"] == 0
    pods = call(sim_emu, "DescribeTrainingTaskPods", Id=ids[0])
    iid = detail(sim_emu, ids[0])["LatestInstanceId"]
    assert pods["PodNames"] == [f"{iid}-worker-0"] and pods["TotalCount"] == 1
    assert pods["PodInfoList"][0]["Status"] == "SUCCEEDED"


def test_stop_start_and_delete_follow_the_task_status(sim_emu: Emu) -> None:
    task_id = create(sim_emu, Tags=sim_tags(duration=60))
    sim_emu.wait_for_task(task_id, "RUNNING")
    assert detail(sim_emu, task_id)["ChargeStatus"] == "BILLING"
    assert error_code(sim_emu, "StartTrainingTask", Id=task_id) == "InternalError.NotAllow"
    assert error_code(sim_emu, "DeleteTrainingTask", Id=task_id) == "InternalError.NotAllow"
    call(sim_emu, "StopTrainingTask", Id=task_id)
    d = sim_emu.wait_for_task(task_id, "STOPPED")
    assert d["FailureReason"] == "User Stop" and d["ChargeStatus"] == "NOT_BILLING"
    assert error_code(sim_emu, "StopTrainingTask", Id=task_id) == "InternalError.NotAllow"
    first = d["LatestInstanceId"]
    call(sim_emu, "StartTrainingTask", Id=task_id)
    d = sim_emu.wait_for_task(task_id, "RUNNING")
    assert d["LatestInstanceId"] != first and d["FailureReason"] == ""
    call(sim_emu, "StopTrainingTask", Id=task_id)
    sim_emu.wait_for_task(task_id, "STOPPED")
    call(sim_emu, "DeleteTrainingTask", Id=task_id)
    assert error_code(sim_emu, "DescribeTrainingTask", Id=task_id) == "ResourceNotFound"


def test_arrears_stop_ends_the_task_stopped_and_not_billed(sim_emu: Emu) -> None:
    task_id = create(sim_emu, Tags=sim_tags(duration=60))
    sim_emu.wait_for_task(task_id, "RUNNING")
    sim_emu.arrears_stop(task_id)
    d = sim_emu.wait_for_task(task_id, "STOPPED")
    assert d["ChargeStatus"] == "ARREARS_STOP" and "arrears" in d["FailureReason"]


def test_a_simulated_failure_fails_the_task_with_its_reason(sim_emu: Emu) -> None:
    task_id = create(sim_emu, Tags=sim_tags(outcome="Failed"))
    d = sim_emu.wait_for_task(task_id)
    assert d["Status"] == "FAILED" and "exited with code 1" in d["FailureReason"]


def test_name_conflict_only_while_submitting(slow_submit: Emu) -> None:
    task_id = create(slow_submit, Name="same-name")
    assert detail(slow_submit, task_id)["Status"] == "SUBMITTING"
    assert error_code(slow_submit, "CreateTrainingTask", **spec(Name="same-name")) == (
        "FailedOperation.DuplicateNameTaskIsCreating"
    )
    assert (
        error_code(slow_submit, "StopTrainingTask", Id=task_id)
        == "InternalError.UnSubmittedStatusNotAllowStop"
    )
    slow_submit.wait_for_task(task_id, "SUCCEED")
    assert create(slow_submit, Name="same-name") != task_id


def test_tasks_belong_to_the_signing_account(sim_emu: Emu) -> None:
    sim_emu.add_credential("AKIDother", "other-key", uin="200000000002")
    task_id = create(sim_emu)
    other = CommonClient(
        "tione", "2021-11-11", Credential("AKIDother", "other-key"), REGION, profile(sim_emu)
    )
    with pytest.raises(TencentCloudSDKException) as info:
        other.call_json("DescribeTrainingTask", {"Id": task_id})
    assert info.value.code == "ResourceNotFound"
    assert other.call_json("DescribeTrainingTasks", {})["Response"]["TotalCount"] == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Name": None}, "MissingParameter"),
        ({"ChargeType": None}, "MissingParameter"),
        ({"ResourceConfigInfos": None}, "MissingParameter"),
        ({"Name": "-starts-badly"}, "InvalidParameterValue"),
        ({"Name": "a" * 61}, "InvalidParameterValue"),
        ({"Name": "has space"}, "InvalidParameterValue"),
        ({"ChargeType": "FREE"}, "InvalidParameterValue"),
        ({"ResourceConfigInfos": []}, "InvalidParameterValue"),
        ({"ResourceConfigInfos": [{"Role": "WORKER", "InstanceNum": 0}]}, "InvalidParameterValue"),
        ({"TuningParameters": "x" * 2049}, "InvalidParameterValue"),
        ({"Remark": "x" * 1025}, "InvalidParameterValue"),
        ({"CodePackagePath": {"Bucket": "b-1", "Region": REGION, "Paths": ["a/", "b/"]}}, "InvalidParameterValue"),
        ({"DataConfigs": [{"COSSource": {"Bucket": "b-1", "Region": REGION, "Paths": ["d/"]}}] * 11},
         "InvalidParameterValue"),
    ],
)  # fmt: skip
def test_invalid_create_requests_are_refused(sim_emu: Emu, fields: dict, code: str) -> None:
    body = {k: v for k, v in spec(**fields).items() if v is not None}
    assert error_code(sim_emu, "CreateTrainingTask", **body) == code


def test_name_may_start_with_a_digit_or_chinese_letter(sim_emu: Emu) -> None:
    for name in ("1abc_x-y", "训练-1"):
        assert create(sim_emu, Name=name).startswith("train-")


def test_bad_list_and_lookup_requests_are_refused(sim_emu: Emu) -> None:
    assert error_code(sim_emu, "DescribeTrainingTasks", Limit=51) == "InvalidParameterValue.PageLimitExceeded"
    assert error_code(sim_emu, "DescribeTrainingTasks", Filters=[{"Name": "Color", "Values": ["x"]}]) == (
        "InvalidParameterValue"
    )
    assert error_code(sim_emu, "DescribeTrainingTasks", Order="SIDEWAYS") == "InvalidParameterValue"
    for action in ("DescribeTrainingTask", "StopTrainingTask", "StartTrainingTask", "DeleteTrainingTask",
                   "DescribeTrainingTaskPods"):  # fmt: skip
        assert error_code(sim_emu, action, Id="train-0000000000000000000") == "ResourceNotFound", action


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("CreateTrainingTask", {**spec(), "Name": 5}, "InvalidParameter"),
        ("CreateTrainingTask", {**spec(), "ResourceConfigInfos": "WORKER"}, "InvalidParameter"),
        ("CreateTrainingTask", {**spec(), "Tags": [{"TagKey": "k"}]}, "MissingParameter"),
        ("CreateTrainingTask", {**spec(), "Bogus": 1}, "UnknownParameter"),
        ("DescribeTrainingTasks", {"Limit": 10**30}, "InvalidParameterValue"),
        ("DescribeTrainingTasks", {"Limit": "ten"}, "InvalidParameter"),
        ("DescribeTrainingTask", {"Id": ["train-1"]}, "InvalidParameter"),
        ("DescribeTrainingTask", {}, "MissingParameter"),
    ],
)
def test_hostile_input_gets_errors(sim_emu: Emu, action: str, body: dict, code: str) -> None:
    assert common_error(sim_emu, action, body) == code


@pytest.mark.parametrize(
    ("service", "version", "action", "code"),
    [
        ("tione", "2018-02-26", "DescribeTrainingTasks", "NoSuchVersion"),
        ("tione", "2021-11-11", "ListJobs", "InvalidAction"),
        ("tia", "2018-02-26", "DescribeTrainingTasks", "InvalidAction"),
        ("cvm", "2021-11-11", "DescribeTrainingTasks", "AuthFailure.InvalidAuthorization"),
    ],
)
def test_the_signed_service_picks_the_api(
    sim_emu: Emu, service: str, version: str, action: str, code: str
) -> None:
    assert common_error(sim_emu, action, {}, service, version) == code


def test_bad_json_body_is_an_error(sim_emu: Emu) -> None:
    import hashlib
    import json
    import time
    import urllib.request

    body = b"{not json"
    ts = int(time.time())
    date = time.strftime("%Y-%m-%d", time.gmtime(ts))
    canonical = "\n".join(["POST", "/", "", f"content-type:application/json\nhost:{sim_emu.endpoint}\n",
                           "content-type;host", hashlib.sha256(body).hexdigest()])  # fmt: skip
    from airflow_provider_tia.emulator.core.auth import tc3_signature

    sig = tc3_signature(sim_emu.secret_key, date, "tione", str(ts), canonical)
    request = urllib.request.Request(sim_emu.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-TC-Action": "DescribeTrainingTasks", "X-TC-Version": "2021-11-11",
        "X-TC-Timestamp": str(ts), "Authorization": f"TC3-HMAC-SHA256 Credential={sim_emu.secret_id}/{date}/tione/"
        f"tc3_request, SignedHeaders=content-type;host, Signature={sig}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as resp:
        reply = json.loads(resp.read())
    assert reply["Response"]["Error"]["Code"] == "InvalidParameter"


def test_faults_apply_to_tione_actions(sim_emu: Emu) -> None:
    sim_emu.set_faults("DescribeTrainingTasks:RequestLimitExceeded=1")
    try:
        assert error_code(sim_emu, "DescribeTrainingTasks") == "RequestLimitExceeded"
    finally:
        sim_emu.set_faults(None)
    assert call(sim_emu, "DescribeTrainingTasks")["TotalCount"] >= 0


def test_tasks_survive_a_restart(tmp_path: object) -> None:
    with TIAEmulator(runner="simulated", state_dir=str(tmp_path), sim_duration=0.05) as emu:
        done = create(emu, Tags=sim_tags(log_lines=5))
        emu.wait_for_task(done, "SUCCEED")
        running = create(emu, Tags=sim_tags(duration=1.5))
        emu.wait_for_task(running, "RUNNING")
        before = call(emu, "DescribeLogs", Service="TRAIN", ServiceId=detail(emu, done)["LatestInstanceId"])
    with TIAEmulator(runner="simulated", state_dir=str(tmp_path), sim_duration=0.05) as emu:
        assert detail(emu, done)["Status"] == "SUCCEED"
        after = call(emu, "DescribeLogs", Service="TRAIN", ServiceId=detail(emu, done)["LatestInstanceId"])
        assert [x["Id"] for x in after["Content"]] == [x["Id"] for x in before["Content"]]
        assert len(after["Content"]) == 5
        assert emu.wait_for_task(running, "SUCCEED")["Status"] == "SUCCEED"


@pytest.mark.parametrize(
    ("method", "sign"), [("GET", "HmacSHA256"), ("POST", "HmacSHA1"), ("GET", "TC3-HMAC-SHA256")]
)
def test_every_request_style_reaches_tione(sim_emu: Emu, method: str, sign: str) -> None:
    from tencentcloud.tione.v20211111.tione_client import TioneClient

    from ..helpers.tione import req

    client = TioneClient(
        Credential(sim_emu.secret_id, sim_emu.secret_key), REGION, profile(sim_emu, method, sign)
    )
    body = spec(LogEnable=True, ResourceConfigInfos=[{"Role": "WORKER", "InstanceNum": 2}])
    task_id = client.CreateTrainingTask(req("CreateTrainingTask", **body)).Id
    d = sim_emu.wait_for_task(task_id)
    assert d["ResourceConfigInfos"][0]["InstanceNum"] == 2 and d["LogEnable"] is True
    listed = client.DescribeTrainingTasks(
        req("DescribeTrainingTasks", Filters=[{"Name": "Id", "Values": [task_id]}])
    )
    assert listed.TotalCount == 1
