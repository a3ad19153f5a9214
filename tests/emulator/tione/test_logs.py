"""DescribeLogs (Service TRAIN) over real HTTP with the official TioneClient: windows, order, pods, paging."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential

from ..helpers.tia import profile
from ..helpers.tione import REGION, call, create, detail, error_code, sim_tags

if TYPE_CHECKING:
    from airflow_provider_tia.emulator.server import TIAEmulator as Emu


def _finished(emu: Emu, lines: int, workers: int = 2) -> str:
    task_id = create(
        emu, Tags=sim_tags(log_lines=lines), ResourceConfigInfos=[{"Role": "WORKER", "InstanceNum": workers}]
    )
    emu.wait_for_task(task_id, "SUCCEED")
    return str(detail(emu, task_id)["LatestInstanceId"])


def _pages(emu: Emu, **query: object) -> list[list[dict]]:
    pages, context = [], ""
    while True:
        reply = call(emu, "DescribeLogs", Service="TRAIN", Context=context, **query)
        pages.append(reply["Content"])
        context = reply["Context"]
        if not context:
            return pages


def test_paging_returns_every_line_once_in_order(sim_emu: Emu) -> None:
    iid = _finished(sim_emu, 250)
    pages = _pages(sim_emu, ServiceId=iid, Limit=100, Order="ASC")
    assert [len(p) for p in pages] == [100, 100, 50]
    lines = [line for page in pages for line in page]
    assert len({line["Id"] for line in lines}) == 250
    stamps = [line["Timestamp"] for line in lines]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", s) for s in stamps)
    assert lines[0]["Message"].startswith("step 1/250") and lines[-1]["Message"].startswith("step 250/250")
    newest_first = call(sim_emu, "DescribeLogs", Service="TRAIN", ServiceId=iid, Limit=3)["Content"]
    assert [x["Id"] for x in newest_first] == [x["Id"] for x in lines[::-1][:3]]
    assert {x["PodName"] for x in lines} == {f"{iid}-worker-0", f"{iid}-worker-1"}


def test_pod_name_wildcard_keyword_filter_and_window(sim_emu: Emu) -> None:
    iid = _finished(sim_emu, 40)
    one = call(sim_emu, "DescribeLogs", Service="TRAIN", ServiceId=iid, PodName=f"{iid}-worker-1", Limit=1000)
    assert len(one["Content"]) == 20 and {x["PodName"] for x in one["Content"]} == {f"{iid}-worker-1"}
    star = call(sim_emu, "DescribeLogs", Service="TRAIN", ServiceId=iid, PodName=f"{iid}-work*", Limit=1000)
    assert len(star["Content"]) == 40
    keyed = call(sim_emu, "DescribeLogs", Service="TRAIN", ServiceId=iid,
                 Filters=[{"Name": "Key", "Values": ["step 7/"]}])  # fmt: skip
    assert [x["Message"][:7] for x in keyed["Content"]] == ["step 7/"]
    past = datetime.now(timezone(timedelta(hours=8))) - timedelta(hours=3)
    old = call(sim_emu, "DescribeLogs", Service="TRAIN", ServiceId=iid, StartTime=past.isoformat(),
               EndTime=(past + timedelta(hours=1)).isoformat())  # fmt: skip
    assert old["Content"] == [] and old["Context"] == ""


def test_without_service_id_pod_name_picks_the_lines(sim_emu: Emu) -> None:
    """ServiceId is optional: Tencent's own client asks for ``<task Id>*`` alone."""
    first, second = _finished(sim_emu, 6), _finished(sim_emu, 4)
    task_id = first.rsplit("-", 1)[0]
    star = _pages(sim_emu, PodName=f"{task_id}*", Limit=4, Order="ASC")
    lines = [line for page in star for line in page]
    assert len(lines) == 6 and {x["PodName"] for x in lines} == {f"{first}-worker-0", f"{first}-worker-1"}
    assert [x["Id"] for x in lines] == sorted(x["Id"] for x in lines)
    one = call(sim_emu, "DescribeLogs", Service="TRAIN", PodName=f"{second}-worker-1", Limit=1000)
    assert len(one["Content"]) == 2 and {x["PodName"] for x in one["Content"]} == {f"{second}-worker-1"}
    assert call(sim_emu, "DescribeLogs", Service="TRAIN", Limit=5)["Content"]  # every task of the account
    assert call(sim_emu, "DescribeLogs", Service="TRAIN", PodName="train-0*")["Content"] == []
    sim_emu.add_credential("AKIDlogsother", "other-key", uin="200000000003")
    other = CommonClient(
        "tione", "2021-11-11", Credential("AKIDlogsother", "other-key"), REGION, profile(sim_emu)
    )
    reply = other.call_json("DescribeLogs", {"Service": "TRAIN", "PodName": f"{task_id}*"})["Response"]
    assert reply["Content"] == []


def test_paging_past_10000_lines_is_refused(sim_emu: Emu) -> None:
    iid = _finished(sim_emu, 10_050, workers=1)
    context, served = "", 0
    for _ in range(10):
        reply = call(
            sim_emu, "DescribeLogs", Service="TRAIN", ServiceId=iid, Limit=1000, Order="ASC", Context=context
        )
        served += len(reply["Content"])
        context = reply["Context"]
    assert served == 10_000 and context
    code = error_code(
        sim_emu, "DescribeLogs", Service="TRAIN", ServiceId=iid, Limit=1000, Order="ASC", Context=context
    )
    assert code == "FailedOperation.ContextLimitError"


def test_bad_describe_logs_parameters_are_refused(sim_emu: Emu) -> None:
    iid = _finished(sim_emu, 1)
    base = {"Service": "TRAIN", "ServiceId": iid}
    assert error_code(sim_emu, "DescribeLogs", **{**base, "Service": "NOTEBOOK"}) == "InvalidParameterValue"
    assert error_code(sim_emu, "DescribeLogs", ServiceId=iid) == "MissingParameter"
    assert error_code(sim_emu, "DescribeLogs", **base, Limit=1001) == "InvalidParameterValue"
    assert error_code(sim_emu, "DescribeLogs", **base, Order="UP") == "InvalidParameterValue"
    assert error_code(sim_emu, "DescribeLogs", **base, StartTime="yesterday") == "InvalidParameterValue"
    assert error_code(sim_emu, "DescribeLogs", **base, Context="bm9wZQ==") == "InvalidParameterValue"
    assert error_code(sim_emu, "DescribeLogs", **base, Context="%%%") == "InvalidParameterValue"
