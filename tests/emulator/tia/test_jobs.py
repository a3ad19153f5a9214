"""CreateJob validation, DescribeJob, ListJobs paging and DeleteJob through the official SDK."""

from __future__ import annotations

import re

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_tia.emulator.tia.store import JOB_FIELDS

from ..helpers.tia import CLUSTER, client, req, unique

GO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0800 CST( m=\+\d+\.\d{9})?$")


def _code(fn) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return info.value.code


def _create(c, **fields):
    base = {"Cluster": CLUSTER, "RuntimeVersion": "tia-1.7.0"}
    return c.CreateJob(req("CreateJob", **{**base, **fields}))


def test_create_reply_like_the_official_example(sim_emu) -> None:
    c = client(sim_emu)
    name = unique("seed")
    reply = _create(
        c,
        Name=name,
        ScaleTier="Custom",
        MasterType="1U1G0P",
        WorkerType="1U1G0P",
        ParameterServerType="1U1G0P",
        WorkerCount=2,
        ParameterServerCount=1,
        Command=["python"],
        Args=["mnist_saved_model.py"],
        PackageDir=["/tmp"],
    )
    job = reply.Job
    assert job.Message == "creating" and job.State is None and job.Name == name
    assert job.WorkerCount == 2 and job.ParameterServerCount == 1 and job.Args == ["mnist_saved_model.py"]
    assert GO_TIME.match(job.CreateTime) and " m=+" in job.CreateTime
    assert re.fullmatch(r"[0-9a-f-]{36}", reply.RequestId)
    described = c.DescribeJob(req("DescribeJob", Name=name, Cluster=CLUSTER)).Job
    assert described.State in ("Created", "Running", "Succeeded") and described.Id == job.Id
    raw = sim_emu.store.get(CLUSTER, name)
    assert tuple(raw) == JOB_FIELDS
    done = sim_emu.wait_for_state(name, CLUSTER, "Succeeded", timeout=5)
    assert GO_TIME.match(done["StartTime"]) and GO_TIME.match(done["EndTime"])
    assert done["Message"].startswith("[MASTER/Succeeded : Succeeded/1] ;[PS/Succeeded")


def test_duplicate_name_is_already_exists(sim_emu) -> None:
    c = client(sim_emu)
    name = unique("dup")
    _create(c, Name=name)
    assert _code(lambda: _create(c, Name=name)) == "FailedOperation.AlreadyExists"
    _create(c, Name=name, Cluster="cls-other01")  # same name, other cluster: fine


def test_custom_only_fields_need_scale_tier_custom(sim_emu) -> None:
    c = client(sim_emu)
    for field, value in [
        ("MasterType", "1U1G0P"),
        ("WorkerType", "1U1G0P"),
        ("ParameterServerType", "1U1G0P"),
        ("WorkerCount", 1),
        ("ParameterServerCount", 1),
    ]:
        assert _code(lambda f=field, v=value: _create(c, Name=unique(), **{f: v})) == "InvalidParameter"
        assert (
            _code(lambda f=field, v=value: _create(c, Name=unique(), ScaleTier="Basic", **{f: v}))
            == "InvalidParameter"
        )
    assert _code(lambda: _create(c, Name=unique(), ScaleTier="Custom", WorkerCount=1)) == "InvalidParameter"
    assert (
        _code(lambda: _create(c, Name=unique(), ScaleTier="Custom", MasterType="1U1G0P", WorkerCount=-1))
        == "InvalidParameterValue"
    )
    assert (
        _code(lambda: _create(c, Name=unique(), ScaleTier="Custom", MasterType="big"))
        == "InvalidParameterValue"
    )
    job = _create(c, Name=unique(), ScaleTier="CUSTOM", MasterType="2U4G1P").Job
    assert job.ScaleTier == "Custom"


def test_describing_or_deleting_an_unknown_job_is_resource_not_found(sim_emu) -> None:
    c = client(sim_emu)
    assert (
        _code(lambda: c.DescribeJob(req("DescribeJob", Name="ghost", Cluster=CLUSTER))) == "ResourceNotFound"
    )
    assert _code(lambda: c.DeleteJob(req("DeleteJob", Name="ghost", Cluster=CLUSTER))) == "ResourceNotFound"


def test_list_jobs_paging_is_stable(sim_emu) -> None:
    c = client(sim_emu)
    cluster = unique("cls")
    names = [f"page-{i}" for i in range(7)]
    for name in names:
        _create(c, Name=name, Cluster=cluster)

    def page(**kw):
        return [j.Name for j in c.ListJobs(req("ListJobs", Cluster=cluster, **kw)).Jobs]

    assert page(Limit=3) == names[:3]
    assert page(Limit=3, Offset=3) == names[3:6]
    assert page(Limit=3, Offset=6) == names[6:]  # shorter than Limit: the end
    assert page(Limit=3, Offset=7) == []
    assert page() == names  # no Limit: every job from Offset on
    assert page(Offset=2) == names[2:]
    assert page(Offset=2, Limit=100) == names[2:]
    assert page(Limit=1000) == names  # no cap beyond the contract
    assert _code(lambda: page(Limit=0)) == "InvalidParameterValue"
    assert _code(lambda: page(Offset=-1)) == "InvalidParameterValue"
    c.DeleteJob(req("DeleteJob", Name="page-1", Cluster=cluster))
    assert page(Limit=3) == ["page-0", "page-2", "page-3"]
    assert (
        _code(lambda: c.DescribeJob(req("DescribeJob", Name="page-1", Cluster=cluster))) == "ResourceNotFound"
    )


def test_list_jobs_needs_a_cluster_and_lists_only_it(sim_emu) -> None:
    c = client(sim_emu)
    mine, other = unique("cls"), unique("cls")
    _create(c, Name="only-here", Cluster=mine)
    _create(c, Name="elsewhere", Cluster=other)
    assert _code(lambda: c.ListJobs(req("ListJobs", Limit=100))) == "MissingParameter"
    assert [j.Name for j in c.ListJobs(req("ListJobs", Cluster=mine)).Jobs] == ["only-here"]
