"""Fault injection: grammar, seeded repeatability, and what the official SDK sees for each fault."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from tencentcloud.common.common_client_async import CommonClient as AsyncCommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.emulator.core.faults import FaultInjector, parse_spec

from ..helpers.tia import CLUSTER, client, profile, req, unique

SPEC = (
    "DescribeJob,QueryLogs:RequestLimitExceeded=0.05,InternalError=0.05,FailedOperation.TimeOut=0.03,"
    "http5xx=0.03,drop=0.02,latency=0.2@0.05;CreateJob:drop_after=0.1"
)


@pytest.fixture
def fresh():
    with TIAEmulator(runner="simulated", sim_duration=0.05) as e:
        yield e


def _code(fn) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return info.value.code


def test_fault_spec_grammar_reads_actions_kinds_and_rates() -> None:
    sections = parse_spec(SPEC)
    assert [sorted(a) for a, _ in sections] == [["DescribeJob", "QueryLogs"], ["CreateJob"]]
    labels = [r.label for r in sections[0][1]]
    assert labels == [
        "RequestLimitExceeded",
        "InternalError",
        "FailedOperation.TimeOut",
        "http5xx",
        "drop",
        "latency",
    ]
    assert sections[0][1][5].seconds == 0.05 and sections[1][1][0].after
    assert parse_spec("*:InternalError_after=1")[0][0] is None
    assert parse_spec("") == [] and parse_spec(None) == []
    for bad, token in [
        ("DescribeJob:InternalError=2", "InternalError=2"),
        ("DescribeJob:boom=0.1", "boom"),
        ("DescribeJob:latency=0.1", "latency=0.1"),
        ("InternalError=0.1", "InternalError=0.1"),
        ("DescribeJob:drop=x", "drop=x"),
        ("bad-action:drop=0.1", "bad-action"),
        ("DescribeJob:", "DescribeJob:"),
    ]:
        with pytest.raises(ValueError, match=token.replace(".", r"\.")):
            parse_spec(bad)


def test_seeded_decisions_repeat() -> None:
    def run(seed: int) -> list:
        inj = FaultInjector(SPEC, seed=seed)
        return [
            inj.decide(a) for a in ["DescribeJob", "QueryLogs", "CreateJob", "ListJobs"] * 500
        ], inj.counts

    first, counts = run(7)
    again, counts_again = run(7)
    other, _ = run(8)
    assert first == again and counts == counts_again and first != other
    assert counts[("ListJobs", "drop")] == 0 and counts[("CreateJob", "drop_after")] > 20
    assert 10 < counts[("DescribeJob", "InternalError")] < 60


def test_each_action_draws_the_same_faults_however_requests_interleave() -> None:
    """Concurrent callers interleave actions at random; one action's faults must not depend on that."""
    alone = FaultInjector(SPEC, seed=7)
    mixed = FaultInjector(SPEC, seed=7)
    creates_alone = [alone.decide("CreateJob") for _ in range(200)]
    creates_mixed = []
    for i in range(200):
        for _ in range(i % 3):
            mixed.decide("DescribeJob")
        creates_mixed.append(mixed.decide("CreateJob"))
    assert creates_alone == creates_mixed
    assert sum(f is not None for _, f in creates_alone) > 5


def test_counts_over_http_are_repeatable(fresh) -> None:
    spec = "DescribeJob:InternalError=0.3,RequestLimitExceeded=0.2"

    def run() -> list[str]:
        fresh.set_faults(spec, seed=42)
        fresh.reset_counters()
        c = client(fresh)
        return [
            _code(lambda: c.DescribeJob(req("DescribeJob", Name="none", Cluster=CLUSTER))) for _ in range(40)
        ]

    first = run()
    counts = dict(fresh.fault_counts)
    assert run() == first and dict(fresh.fault_counts) == counts
    assert counts[("DescribeJob", "InternalError")] == first.count("InternalError") > 0
    assert counts[("DescribeJob", "RequestLimitExceeded")] == first.count("RequestLimitExceeded") > 0
    assert first.count("ResourceNotFound") == 40 - sum(counts.values())
    assert fresh.calls["DescribeJob"] == 40


def test_drop_is_a_network_error(fresh) -> None:
    fresh.set_faults("DescribeJob:drop=1")
    c = client(fresh)
    assert _code(lambda: c.DescribeJob(req("DescribeJob", Name="x", Cluster=CLUSTER))) == "ClientNetworkError"
    assert c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs == []  # same client, other action, still fine

    async def async_call() -> None:
        cred = Credential(fresh.secret_id, fresh.secret_key)
        async with AsyncCommonClient("tia", "2018-02-26", cred, CLUSTER, profile(fresh)) as ac:
            await ac.call_and_deserialize("DescribeJob", {"Name": "x", "Cluster": CLUSTER})

    with pytest.raises(httpx.TransportError):  # the SDK's async client lets httpx errors through
        asyncio.run(async_call())


def test_drop_after_creates_the_job_but_loses_the_reply(fresh) -> None:
    fresh.set_faults("CreateJob:drop_after=1")
    c = client(fresh)
    name = unique("lost")
    create = req("CreateJob", Name=name, Cluster=CLUSTER, RuntimeVersion="tia-1.7.0")
    assert _code(lambda: c.CreateJob(create)) == "ClientNetworkError"
    assert c.DescribeJob(req("DescribeJob", Name=name, Cluster=CLUSTER)).Job.Name == name
    fresh.set_faults("CreateJob:InternalError_after=1")
    name2 = unique("lost")
    assert (
        _code(lambda: c.CreateJob(req("CreateJob", Name=name2, Cluster=CLUSTER, RuntimeVersion="tia-1.7.0")))
        == "InternalError"
    )
    assert fresh.store.get(CLUSTER, name2) is not None
    assert fresh.fault_counts[("CreateJob", "drop_after")] == 1
    assert fresh.fault_counts[("CreateJob", "InternalError_after")] == 1


def test_http5xx_error_codes_and_latency_are_injected(fresh) -> None:
    c = client(fresh)
    fresh.set_faults("ListJobs:http5xx=1")
    assert _code(lambda: c.ListJobs(req("ListJobs", Cluster=CLUSTER))) == "ServerNetworkError"
    fresh.set_faults("*:FailedOperation.TimeOut=1")
    assert _code(lambda: c.ListJobs(req("ListJobs", Cluster=CLUSTER))) == "FailedOperation.TimeOut"
    fresh.set_faults("ListJobs:latency=1@0.3")
    started = time.monotonic()
    assert c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs == []
    assert time.monotonic() - started >= 0.3
    fresh.set_faults(None)
    assert c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs == []
    with pytest.raises(ValueError):
        fresh.set_faults("ListJobs:nope=1")
    assert c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs == []  # a bad spec leaves the old one


def test_throttled_calls_are_counted_and_retries_get_through() -> None:
    # Note: the SDK's retry.StandardRetryer (sync and async, common 3.1.195) never resets its last error,
    # so once one attempt fails it retries until max_attempts and raises that stale error.
    with TIAEmulator(runner="simulated", faults="ListJobs:RequestLimitExceeded=0.5", seed=3) as e:
        c = client(e)
        for _ in range(10):
            for _attempt in range(30):
                try:
                    assert c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs == []
                    break
                except TencentCloudSDKException as exc:
                    assert exc.code == "RequestLimitExceeded"
        throttled = e.fault_counts[("ListJobs", "RequestLimitExceeded")]
        assert throttled > 0 and e.calls["ListJobs"] == 10 + throttled
