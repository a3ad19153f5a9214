"""The pure TI-ONE task model: statuses, outcome messages, empty values, the three time formats."""

from __future__ import annotations

import json

import pendulum
import pytest

from airflow_provider_tia.exceptions import MalformedResponse
from airflow_provider_tia.lifecycle import JobLike, finished
from airflow_provider_tia.models.common import parse_time
from airflow_provider_tia.models.tione.training_task import STATUSES, TrainingTask

DETAIL = {
    "Id": "train-1208038387393233920",
    "Name": "resnet50-ddp-nightly",
    "Status": "RUNNING",
    "ChargeStatus": "BILLING",
    "LatestInstanceId": "train-1208038387393233920-a3vq1whfx24g",
    "Tags": [
        {"TagKey": "qcs:tag:createdBy", "TagValue": "CAMUser:100042146752:alice"},
        {"TagKey": "airflow-dag", "TagValue": "nightly_train"},
    ],
    "CreateTime": "2025-06-01T02:00:05+08",
    "UpdateTime": "2025-06-01T02:01:40+08",
    "StartTime": "2025-06-01T02:01:40+08",
    "EndTime": "",
    "FailureReason": "",
    "Message": "",
    "Output": {"Bucket": "", "Region": "", "Paths": []},
}
LIST_ITEM = {
    "Id": "train-1",
    "Name": "a",
    "Status": "PENDING",
    "ChargeStatus": "NOT_BILLING",
    "CreateTime": "2025-01-01 00:00:00",
    "UpdateTime": "2025-01-01 00:00:00",
    "StartTime": None,
    "EndTime": None,
    "Tags": None,
    "FailureReason": None,
    "Message": None,
}


def _task(**changes: object) -> TrainingTask:
    return TrainingTask.from_api({**DETAIL, **changes})


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2025-05-28T18:18:33+08", "2025-05-28T10:18:33+00:00"),  # Detail: hour-only offset
        ("2025-01-01 00:00:00", "2024-12-31T16:00:00+00:00"),  # list items, pods: no zone = UTC+8
        ("2022-01-11T04:14:36.348499491Z", "2022-01-11T04:14:36.348499+00:00"),  # logs: ns, Z
        ("2021-11-30T16:22:09+08:00", "2021-11-30T08:22:09+00:00"),
    ],
)
def test_the_three_time_formats_parse_to_utc(text: str, iso: str) -> None:
    moment = parse_time(text)
    assert moment is not None and moment.tzinfo is not None
    assert moment.isoformat() == iso


@pytest.mark.parametrize("empty", ["", None, "   "])
def test_empty_times_are_none(empty: object) -> None:
    assert parse_time(empty) is None
    assert _task(CreateTime=empty).create_time is None


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_says_whether_it_is_terminal_succeeded_or_failed(status: str) -> None:
    task = _task(Status=status)
    terminal = status in ("STOPPED", "FAILED", "SUCCEED", "SUBMIT_FAILED")
    assert (task.state_name, task.is_terminal) == (status, terminal)
    assert task.succeeded is (status == "SUCCEED")
    assert task.failed is (status in ("FAILED", "SUBMIT_FAILED", "STOPPED"))


@pytest.mark.parametrize("status", ["QUEUED", "succeeded", "", None])
def test_unknown_or_missing_statuses_are_not_terminal(status: object) -> None:
    task = _task(Status=status)
    assert not task.is_terminal and not task.succeeded and not task.failed
    assert task.state_name  # never empty


def test_a_detail_reply_gives_every_field_the_lifecycle_reads() -> None:
    task = _task()
    like: JobLike = task  # what the lifecycle reads (a Protocol, not runtime-checkable)
    assert all(
        hasattr(like, n) for n in ("message", "is_terminal", "succeeded", "failed", "state_name", "to_dict")
    )
    assert (task.id, task.name, task.status) == (
        "train-1208038387393233920",
        "resnet50-ddp-nightly",
        "RUNNING",
    )
    assert task.latest_instance_id == "train-1208038387393233920-a3vq1whfx24g"
    assert task.create_time == pendulum.datetime(2025, 5, 31, 18, 0, 5, tz="UTC")
    assert task.end_time is None
    assert task.tags == {"qcs:tag:createdBy": "CAMUser:100042146752:alice", "airflow-dag": "nightly_train"}
    assert task.label == "TI-ONE training task resnet50-ddp-nightly (train-1208038387393233920)"
    assert task.message is None  # "" is no message
    assert task.raw["Name"] == "resnet50-ddp-nightly"


def test_a_list_item_with_nulls_reads_as_empty() -> None:
    task = TrainingTask.from_api(LIST_ITEM)
    assert task.latest_instance_id is None and task.tags == {} and task.message is None
    assert task.create_time == pendulum.datetime(2024, 12, 31, 16, tz="UTC")


def test_message_prefers_failure_reason_then_message() -> None:
    assert _task(Status="FAILED", FailureReason="OOM", Message="info").message == "OOM"
    assert (
        _task(Status="FAILED", FailureReason="", Message="image pull failed").message == "image pull failed"
    )
    assert _task(Status="FAILED", FailureReason=None, Message=None).message is None


def test_stopped_says_who_stopped_it() -> None:
    operator = {
        "SubUin": "100042146752",
        "SubUinName": "alice",
        "IsPlatformOperator": False,
        "OperationType": "STOP",
    }
    task = _task(Status="STOPPED", FailureReason="User Stop", OperatorInfo=operator)
    assert task.message == "the task was stopped by alice (100042146752) (User Stop)"
    assert _task(Status="STOPPED").message == "the task was stopped"
    listed = TrainingTask.from_api(
        {**LIST_ITEM, "Status": "STOPPED", "LatestOperatorInfo": {"IsPlatformOperator": True}}
    )
    assert listed.message == "the task was stopped by the platform"
    event = finished(task, task.label)
    assert event.status.value == "failed" and "stopped by alice" in event.message


def test_arrears_stop_says_to_top_up() -> None:
    task = _task(Status="STOPPED", ChargeStatus="ARREARS_STOP", FailureReason="")
    assert task.failed
    assert "arrears" in task.message and "top up" in task.message  # type: ignore[operator]


def test_to_dict_is_json_safe_with_iso_times() -> None:
    raw = {**DETAIL, "Status": "SUCCEED", "EndTime": "2025-06-01T03:00:00+08", "Weird": object()}
    out = TrainingTask.from_api(raw).to_dict()
    assert json.loads(json.dumps(out)) == out
    assert out["CreateTime"] == "2025-05-31T18:00:05Z" and out["EndTime"] == "2025-05-31T19:00:00Z"
    assert out["Status"] == "SUCCEED" and "Weird" not in out
    listed = TrainingTask.from_api(LIST_ITEM).to_dict()
    assert listed["CreateTime"] == "2024-12-31T16:00:00Z" and listed["StartTime"] is None
    for key in ("CreateTime", "UpdateTime", "EndTime"):
        assert pendulum.parse(out[key]).tzinfo is not None  # type: ignore[union-attr]


def test_to_dict_masks_env_values_and_the_image_password() -> None:
    image = {
        "ImageType": "CUSTOM",
        "ImageUrl": "r/i:1",
        "ImageSecret": {"Username": "u", "Password": "pw-123"},
    }
    envs = [{"Name": "TOKEN", "Value": "tok-456"}, {"Name": "EMPTY", "Value": ""}]
    out = TrainingTask.from_api({**LIST_ITEM, "Envs": envs, "ImageInfo": image}).to_dict()
    assert out["Envs"] == [{"Name": "TOKEN", "Value": "***"}, {"Name": "EMPTY", "Value": ""}]
    assert out["ImageInfo"]["ImageSecret"] == {"Username": "u", "Password": "***"}
    assert out["ImageInfo"]["ImageUrl"] == "r/i:1" and "pw-123" not in json.dumps(out)


@pytest.mark.parametrize("bad", [None, [], "train-1", {"Name": "no id"}, {"Id": ""}])
def test_a_malformed_reply_is_refused(bad: object) -> None:
    with pytest.raises(MalformedResponse):
        TrainingTask.from_api(bad)
