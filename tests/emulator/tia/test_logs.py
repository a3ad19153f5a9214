"""QueryLogs: windows read in +0800, Limit, Context paging, Listover, the 10,000-line cap."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from ..helpers.tia import CLUSTER, client, req, unique

WIDE = {"StartTime": "2000-01-01 00:00:00", "EndTime": "2100-01-01 00:00:00"}
CST = timezone(timedelta(hours=8))


def _ns(stamp: str) -> int:
    """RFC 3339 UTC with 0-9 fraction digits (Go trims zeros) -> nanoseconds."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", stamp), stamp
    whole, _, frac = stamp[:-1].partition(".")
    seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return int(seconds) * 10**9 + int(frac.ljust(9, "0"))


def _job(emu, lines: int) -> str:
    name = unique("logs")
    client(emu).CreateJob(
        req(
            "CreateJob",
            Name=name,
            Cluster=CLUSTER,
            RuntimeVersion="tia-1.7.0",
            ScaleTier="Custom",
            MasterType="1U1G0P",
            WorkerType="1U1G0P",
            WorkerCount=2,
            RuntimeConf=[f"sim.log_lines={lines}", "sim.duration=0.05"],
        )
    )
    assert emu.wait_for_state(name, CLUSTER, "Succeeded", timeout=10)
    return name


def _query(emu, name: str, **kw):
    return client(emu).QueryLogs(req("QueryLogs", JobName=name, Cluster=CLUSTER, **{**WIDE, **kw}))


def _code(fn) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return info.value.code


def test_context_paging_and_listover(sim_emu) -> None:
    name = _job(sim_emu, 250)
    seen, context, pages = [], None, []
    while True:
        kw = {"Limit": 100, **({"Context": context} if context else {})}
        reply = _query(sim_emu, name, **kw)
        pages.append(len(reply.Logs))
        seen += reply.Logs
        if reply.Listover:
            assert reply.Context == ""
            break
        assert reply.Context
        context = reply.Context
    assert pages == [100, 100, 50]
    assert [log.Log.split()[1] for log in seen] == [f"{i}/250" for i in range(1, 251)]
    times = [_ns(log.Time) for log in seen]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert {log.PodName for log in seen} == {f"{name}-master-0", f"{name}-worker-0", f"{name}-worker-1"}
    first = seen[0]
    assert first.ContainerName and first.Namespace and first.PodId
    assert _query(sim_emu, name, Limit=250).Listover is True


def test_window_is_half_open_and_read_in_cst(sim_emu) -> None:
    name = _job(sim_emu, 3)
    logs = _query(sim_emu, name, Limit=10).Logs
    stamp = datetime.strptime(logs[0].Time[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    second = stamp.astimezone(CST)

    def fmt(dt: datetime) -> str:
        return dt.strftime("%Y-%m-%d %H:%M:%S")

    def count(start: datetime, end: datetime) -> int:
        return len(_query(sim_emu, name, Limit=10, StartTime=fmt(start), EndTime=fmt(end)).Logs)

    assert count(second, second + timedelta(seconds=5)) >= 1
    assert count(second - timedelta(hours=1), second) == 0  # EndTime is exclusive
    utc_wall = stamp.replace(tzinfo=CST)  # the same digits read as +0800 are 8 hours off
    assert count(utc_wall, utc_wall + timedelta(seconds=5)) == 0
    assert _code(lambda: _query(sim_emu, name, Limit=10, StartTime="yesterday")) == "InvalidParameterValue"
    assert (
        _code(
            lambda: _query(
                sim_emu, name, Limit=10, StartTime="2030-01-01 00:00:00", EndTime="2020-01-01 00:00:00"
            )
        )
        == "InvalidParameterValue"
    )


def test_bad_query_logs_parameters_are_refused(sim_emu) -> None:
    name = _job(sim_emu, 1)
    c = client(sim_emu)
    assert (
        _code(lambda: c.QueryLogs(req("QueryLogs", JobName=name, Cluster=CLUSTER, **WIDE)))
        == "MissingParameter"
    )
    assert _code(lambda: _query(sim_emu, "ghost", Limit=1)) == "ResourceNotFound"
    assert _code(lambda: _query(sim_emu, name, Limit=0)) == "InvalidParameterValue"
    assert _code(lambda: _query(sim_emu, name, Limit=1, Context="not-a-context")) == "InvalidParameterValue"


def test_at_most_10000_lines_per_window(sim_emu) -> None:
    name = _job(sim_emu, 12_000)
    first = _query(sim_emu, name, Limit=6000)
    second = _query(sim_emu, name, Limit=6000, Context=first.Context)
    assert (len(first.Logs), first.Listover) == (6000, False)
    assert (len(second.Logs), second.Listover, second.Context) == (4000, True, "")
    big = _query(sim_emu, name, Limit=50_000)
    assert (len(big.Logs), big.Listover) == (10_000, True)
    assert sim_emu.store.log_count(CLUSTER, name) == 12_000
