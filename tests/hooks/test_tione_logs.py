"""TI-ONE log reading and list paging, against a stand-in for the service's replies (pure, no network).

``FakeLogs`` stands in for DescribeLogs/DescribeTrainingTask: it answers from a list of lines with
Context paging and the service's 10,000-line refusal (scaled down), so the reader's paging and
window narrowing are exercised together with the real ``LogCursor``/``LogFollower``.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pendulum
import pytest

from airflow_provider_tia.dialogue import drive
from airflow_provider_tia.exceptions import (
    TIONE_ERRORS,
    InvalidParameter,
    JobAlreadyExists,
    LogWindowTooLarge,
    TransientError,
)
from airflow_provider_tia.hooks.tione import AsyncTIONELogReader, TIONEHook, TIONELogReader
from airflow_provider_tia.hooks.tione import hook as tione
from airflow_provider_tia.logs import AsyncLogFollower, LogCursor, LogFollower
from airflow_provider_tia.models.common import rfc3339
from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec
from airflow_provider_tia.models.tione.training_task import TrainingLogLine, TrainingTask

T0 = pendulum.datetime(2025, 6, 1, 2, 0, 0, tz="UTC")
INSTANCE = "train-1-a3vq1whfx24g"


def _line(n: int, seconds: float) -> dict[str, Any]:
    moment = T0.add(microseconds=int(seconds * 1_000_000))
    return {
        "Id": f"line-{n}",
        "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",  # nanoseconds, as the sample
        "PodName": f"{INSTANCE}-worker-0",
        "Message": f"step {n}\n",
    }


def _error(code: str) -> Exception:
    return TIONE_ERRORS.error_for(code, f"DescribeLogs: {code}", "req")


class FakeLogs:
    """DescribeLogs over ``lines``: ascending, Context paging, a refusal past ``context_limit`` lines."""

    def __init__(
        self, lines: list[dict[str, Any]], *, context_limit: int = 10_000, instance: str | None = INSTANCE
    ):
        self.lines, self.context_limit, self.instance = lines, context_limit, instance
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.too_large_above: datetime.timedelta | None = None  # CLSSizeExceed for wider windows

    def __call__(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((action, dict(params)))
        if action == "DescribeTrainingTask":
            return {
                "TrainingTaskDetail": {"Id": params["Id"], "LatestInstanceId": self.instance},
                "RequestId": "r",
            }
        assert (params["Service"], params["ServiceId"], params["Order"]) == ("TRAIN", self.instance, "ASC")
        start = datetime.datetime.fromisoformat(params["StartTime"])  # Python 3.10 reads +00:00
        end = datetime.datetime.fromisoformat(params["EndTime"])
        if self.too_large_above is not None and end - start > self.too_large_above:
            raise _error("FailedOperation.CLSSizeExceed")
        inside = [
            line
            for line in self.lines
            if start <= pendulum.parse(line["Timestamp"]).replace(microsecond=0) <= end
        ]
        offset = int(params.get("Context") or 0)
        if offset >= self.context_limit:
            raise _error("FailedOperation.ContextLimitError")
        page = inside[offset : offset + params["Limit"]]
        more = offset + len(page) < len(inside)
        return {"Content": page, "Context": str(offset + len(page)) if more else "", "RequestId": "r"}


def _follow(service: FakeLogs, reader: TIONELogReader, window_cap: int) -> tuple[LogFollower, list[str]]:
    printed: list[str] = []
    return LogFollower(reader, LogCursor(T0, window_cap=window_cap), printed.append), printed


def test_a_line() -> None:
    line = TrainingLogLine.from_api(_line(1, 1.5))
    assert (line.key, line.format()) == ("line-1", f"[{INSTANCE}-worker-0] step 1")
    assert line.time == T0.add(seconds=1, microseconds=500_000)
    anonymous = TrainingLogLine.from_api({"Message": None, "PodName": None, "Timestamp": None, "Id": None})
    assert anonymous.time is None and anonymous.format() == "" and anonymous.key  # no "[] " for no pod


def test_pages_follow_context_until_a_short_page() -> None:
    service = FakeLogs([_line(n, n) for n in range(7)])
    lines = TIONELogReader(service, "train-1", INSTANCE, limit=3).read(T0, T0.add(minutes=1))
    assert [line.key for line in lines] == [f"line-{n}" for n in range(7)]
    assert [params.get("Context") for _, params in service.calls] == [None, "3", "6"]
    first = service.calls[0][1]
    assert (first["StartTime"], first["EndTime"], first["Limit"]) == (
        "2025-06-01T02:00:00+00:00",
        "2025-06-01T02:01:00+00:00",
        3,
    )


@pytest.mark.parametrize(
    "reply",
    [
        {"Content": None, "Context": "x"},
        {"Content": [], "Context": "x"},
        {"Content": [_line(n, n) for n in range(3)], "Context": None},
        {"Content": [_line(n, n) for n in range(3)], "Context": ""},
    ],
)
def test_a_page_without_content_or_context_ends_the_window(reply: dict[str, Any]) -> None:
    calls = []

    def service(action: str, params: dict[str, Any]) -> dict[str, Any]:
        calls.append(action)
        return reply

    lines = TIONELogReader(service, "train-1", INSTANCE, limit=3).read(T0, T0.add(minutes=1))
    assert len(calls) == 1 and len(lines) == len(reply["Content"] or [])


def test_context_limit_narrows_the_window_and_no_line_is_lost() -> None:
    """Past the service's paging limit the reader returns what it read; the cursor reads on from there."""
    lines = [_line(n, n * 0.5) for n in range(50)]  # 2 lines a second over 25 s
    service = FakeLogs(lines, context_limit=10)
    follower, printed = _follow(service, TIONELogReader(service, "train-1", INSTANCE, limit=5), window_cap=10)
    follower.poll()
    assert printed == [f"[{INSTANCE}-worker-0] step {n}" for n in range(50)]
    refused = [p for a, p in service.calls if int(p.get("Context") or 0) >= 10]
    assert refused  # the limit was hit, and reading went on from the newest line
    starts = {p["StartTime"] for _, p in service.calls}
    assert len(starts) > 2


def test_content_too_large_in_the_first_page_halves_the_window() -> None:
    service = FakeLogs([_line(n, n) for n in range(5)])
    service.too_large_above = datetime.timedelta(seconds=20)
    lines = TIONELogReader(service, "train-1", INSTANCE).read(T0, T0.add(seconds=60))
    assert [line.key for line in lines] == [f"line-{n}" for n in range(5)]
    spans = [
        datetime.datetime.fromisoformat(p["EndTime"]) - datetime.datetime.fromisoformat(p["StartTime"])
        for _, p in service.calls
    ]
    assert spans == [datetime.timedelta(seconds=s) for s in (60, 30, 15)]


def test_content_too_large_even_in_one_second_is_an_error() -> None:
    service = FakeLogs([_line(0, 0)])
    service.too_large_above = datetime.timedelta(0)
    with pytest.raises(LogWindowTooLarge):
        TIONELogReader(service, "train-1", INSTANCE).read(T0, T0.add(seconds=8))


def test_a_task_without_a_run_yet_has_no_lines_until_it_has_one() -> None:
    service = FakeLogs([_line(0, 0)], instance=None)
    reader = TIONELogReader(service, "train-1")
    assert reader.read(T0, T0.add(minutes=1)) == []
    assert [a for a, _ in service.calls] == ["DescribeTrainingTask"]
    service.instance = INSTANCE
    assert [line.key for line in reader.read(T0, T0.add(minutes=1))] == ["line-0"]
    assert reader.state() == {"instance_id": INSTANCE}
    assert [a for a, _ in service.calls] == ["DescribeTrainingTask", "DescribeTrainingTask", "DescribeLogs"]


def test_the_hook_reader_resumes_the_run_from_its_state() -> None:
    hook = TIONEHook("unused")
    listed = TrainingTask.from_api({"Id": "train-1", "Status": "RUNNING"})  # a list item: no run id
    assert hook.log_reader(listed, {"instance_id": INSTANCE}).instance_id == INSTANCE
    detail = TrainingTask.from_api({"Id": "train-1", "LatestInstanceId": "train-1-new"})
    assert hook.log_reader(detail, {"instance_id": INSTANCE}).instance_id == "train-1-new"  # a rerun


def test_the_async_reader_shares_the_logic() -> None:
    lines = [_line(n, n * 0.5) for n in range(30)]
    service = FakeLogs(lines, context_limit=10)

    async def call(action: str, params: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return service(action, params)

    printed: list[str] = []
    reader = AsyncTIONELogReader(call, "train-1", INSTANCE, limit=5)
    follower = AsyncLogFollower(reader, LogCursor(T0, window_cap=10), printed.append)
    asyncio.run(follower.poll())
    assert printed == [f"[{INSTANCE}-worker-0] step {n}" for n in range(30)]


def test_rfc3339_is_utc_whole_seconds() -> None:
    moment = pendulum.datetime(2025, 6, 1, 10, 0, 5, 999_999, tz="Asia/Shanghai")
    assert rfc3339(moment) == "2025-06-01T02:00:05+00:00"


# ------------------------------------------------------------------------------------ list paging
def _tasks(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"Id": f"train-{n}", "Name": f"t{n}", "Status": "RUNNING", **fields} for n in range(count)]


class FakeList:
    def __init__(self, tasks: list[dict[str, Any]], *, ignore_offset: bool = False) -> None:
        self.tasks, self.ignore_offset, self.calls = tasks, ignore_offset, list[dict[str, Any]]()

    def __call__(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        assert action == "DescribeTrainingTasks" and params["Limit"] == 50
        self.calls.append(params)
        offset = 0 if self.ignore_offset else params["Offset"]
        return {"TrainingTaskSet": self.tasks[offset : offset + 50], "TotalCount": 50, "RequestId": "r"}


def _find(service: FakeList, **filters: Any) -> list[TrainingTask]:
    return drive(
        tione._find(**{"ids": None, "name": None, "statuses": None, "tags": None, **filters}), service
    )


def test_every_page_is_read_whatever_total_count_says() -> None:
    service = FakeList(_tasks(120))
    assert [t.id for t in _find(service)] == [f"train-{n}" for n in range(120)]
    assert [p["Offset"] for p in service.calls] == [0, 50, 100]


def test_a_service_ignoring_offset_ends_the_listing() -> None:
    service = FakeList(_tasks(60), ignore_offset=True)
    assert len(_find(service)) == 50 and len(service.calls) == 2


def test_filters_are_sent_and_checked_again() -> None:
    tasks = _tasks(3, Tags=[{"TagKey": "airflow-key", "TagValue": "k1"}])
    tasks[1]["Tags"] = [{"TagKey": "airflow-key", "TagValue": "other"}]
    tasks.append({"Id": "train-9", "Name": "t0-copy", "Status": "RUNNING", "Tags": None})  # fuzzy name match
    service = FakeList(tasks)
    found = _find(
        service, name="t0", tags={"airflow-key": "k1"}, statuses=["running"], ids=["train-0", "train-9"]
    )
    assert [t.id for t in found] == ["train-0"]
    assert service.calls[0]["Filters"] == [
        {"Name": "Id", "Values": ["train-0", "train-9"]},
        {"Name": "Name", "Values": ["t0"]},
        {"Name": "Status", "Values": ["RUNNING"]},
    ]
    assert service.calls[0]["TagFilters"] == [{"TagKey": "airflow-key", "TagValues": ["k1"]}]
    # List items may carry no Tags: the service's TagFilters are trusted for them.
    assert [t.id for t in _find(FakeList(_tasks(2)), tags={"airflow-key": "k1"})] == ["train-0", "train-1"]


# --------------------------------------------------------------------------- create, reconciled
SPEC = TrainingTaskSpec(
    name="t0",
    charge_type="POSTPAID_BY_HOUR",
    resource_config_infos=[{"Role": "WORKER", "InstanceNum": 1}],
    tags={"airflow-key": "k1"},
)


def _hook_with(replies: dict[str, Any]) -> TIONEHook:
    """A hook whose ``call`` (the wire) answers from ``replies``: a reply, an error to raise, or a list."""
    hook = TIONEHook("unused")

    def call(action: str, params: dict[str, Any], **_options: Any) -> dict[str, Any]:
        reply = replies[action]
        if isinstance(reply, Exception):
            raise reply
        return reply(params) if callable(reply) else reply

    hook.call = call  # type: ignore[method-assign]
    return hook


def _lost_reply(code: str, attempts: int) -> Exception:
    error = TIONE_ERRORS.error_for(code, "CreateTrainingTask: x", "r")
    error.attempts = attempts
    return error


@pytest.mark.parametrize(
    ("code", "attempts"),
    [("InternalError", 1), ("ClientNetworkError", 3), ("FailedOperation.DuplicateName", 2)],
)
def test_a_lost_create_reply_is_reconciled_by_tag(code: str, attempts: int) -> None:
    existing = {
        "TrainingTaskSet": [
            {
                "Id": "train-0",
                "Name": "t0",
                "Status": "SUBMITTING",
                "Tags": [{"TagKey": "airflow-key", "TagValue": "k1"}],
            }
        ]
    }
    hook = _hook_with({"CreateTrainingTask": _lost_reply(code, attempts), "DescribeTrainingTasks": existing})
    assert hook.create_training_task(SPEC) == "train-0"


def test_no_or_two_matches_keep_the_original_error() -> None:
    for found in ([], _tasks(2, Name="t0")):
        hook = _hook_with(
            {
                "CreateTrainingTask": _lost_reply("InternalError", 3),
                "DescribeTrainingTasks": {"TrainingTaskSet": found},
            }
        )
        with pytest.raises(TransientError, match="CreateTrainingTask: x") as info:
            hook.create_training_task(SPEC)
        assert info.value.code == "InternalError"  # type: ignore[attr-defined]


def test_a_first_attempt_refusal_is_not_reconciled() -> None:
    hook = _hook_with(
        {
            "CreateTrainingTask": _lost_reply("InvalidParameterValue.ImageNotFound", 1),
            "DescribeTrainingTasks": AssertionError("no lookup"),
        }
    )
    with pytest.raises(InvalidParameter):
        hook.create_training_task(SPEC)
    taken = _hook_with(
        {
            "CreateTrainingTask": _lost_reply("FailedOperation.DuplicateName", 1),
            "DescribeTrainingTasks": AssertionError("no lookup"),
        }
    )
    with pytest.raises(JobAlreadyExists, match="DuplicateName"):
        taken.create_training_task(SPEC)


def test_create_returns_the_id_and_stop_delete_tolerate_a_missing_task() -> None:
    gone = TIONE_ERRORS.error_for("ResourceNotFound", "gone")
    hook = _hook_with(
        {
            "CreateTrainingTask": {"Id": "train-5", "RequestId": "r"},
            "StopTrainingTask": gone,
            "DeleteTrainingTask": gone,
        }
    )
    assert hook.create_training_task(SPEC) == "train-5"
    assert hook.stop_training_task("train-5") is False and hook.delete_training_task("train-5") is False
    with pytest.raises(Exception, match="gone"):
        hook.delete_training_task("train-5", missing_ok=False)


# ------------------------------------------------------------------------- the async client's twins
class FakeSDKClient:
    """Stands in for the SDK's async CommonClient: canned ``{"Response": ...}`` payloads or SDK errors."""

    def __init__(self, replies: dict[str, Any]) -> None:
        self.replies, self.calls = replies, list[tuple[str, dict[str, Any]]]()

    async def call_and_deserialize(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        from tencentcloud.common.exception import TencentCloudSDKException

        self.calls.append((action, params))
        reply = self.replies[action]
        if isinstance(reply, str):
            raise TencentCloudSDKException(reply, f"{reply} happened", "req")
        return {"Response": {**reply, "RequestId": "req"}}


def _async_client(replies: dict[str, Any]) -> tione.AsyncTIONEClient:
    from airflow_provider_tia.hooks.sdk import Settings

    settings = Settings("c", "ap-guangzhou", None, "https", "AKID", "k", max_attempts=2, retry_backoff=0.0)
    return tione.AsyncTIONEClient(FakeSDKClient(replies), settings, TIONE_ERRORS)


def test_the_async_client_twins() -> None:
    detail = {"Id": "train-1", "Name": "t", "Status": "RUNNING", "LatestInstanceId": INSTANCE}
    client = _async_client(
        {
            "DescribeTrainingTask": {"TrainingTaskDetail": detail},
            "DescribeTrainingTasks": {"TrainingTaskSet": _tasks(3), "TotalCount": 3},
            "StopTrainingTask": "ResourceNotFound",
            "DeleteTrainingTask": {},
        }
    )

    async def run() -> None:
        task = await client.describe_training_task("train-1")
        assert (task.latest_instance_id, task.state_name) == (INSTANCE, "RUNNING")
        assert [t.id for t in await client.find_training_tasks(statuses=["RUNNING"])] == [
            "train-0",
            "train-1",
            "train-2",
        ]
        assert await client.stop_training_task("train-1") is False  # gone
        assert await client.delete_training_task("train-1") is True
        assert client.log_reader(task).instance_id == INSTANCE

    asyncio.run(run())


def test_the_async_client_retries_by_the_tione_table() -> None:
    """InternalError.NotAllow starts like a transient code but is a state error: one attempt, WrongState."""
    from airflow_provider_tia.exceptions import WrongState

    client = _async_client({"DeleteTrainingTask": "InternalError.NotAllow"})
    with pytest.raises(WrongState):
        asyncio.run(client.delete_training_task("train-1"))
    assert len(client._client.calls) == 1
    busy = _async_client({"DeleteTrainingTask": "InternalError.QueryBindingTagsFailed"})
    with pytest.raises(Exception, match="QueryBindingTagsFailed") as info:
        asyncio.run(busy.delete_training_task("train-1"))
    assert len(busy._client.calls) == 2 and info.value.attempts == 2  # type: ignore[attr-defined]
