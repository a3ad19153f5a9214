"""The simulated runner: RuntimeConf overrides and 1,000 concurrent jobs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.emulator.runners.simulated import parse_sim_conf

from ..helpers.tia import CLUSTER, client, req, unique


def _create(emu, name: str, conf: list[str], cluster: str = CLUSTER) -> None:
    client(emu).CreateJob(
        req("CreateJob", Name=name, Cluster=cluster, RuntimeVersion="tia-1.7.0", RuntimeConf=conf)
    )


def test_sim_conf_reads_runtime_conf_and_refuses_bad_entries() -> None:
    defaults = {"duration": 1.0, "outcome": "Succeeded", "log_lines": 2, "start_delay": 0.0}
    conf = parse_sim_conf(["sim.duration=0.5", "other=1", "sim.outcome=Failed", "sim.log_lines=7"], defaults)
    assert conf == {"duration": 0.5, "outcome": "Failed", "log_lines": 7, "start_delay": 0.0}
    for bad in (["sim.duration=-1"], ["sim.outcome=Maybe"], ["sim.colour=red"], ["sim.log_lines=x"]):
        with pytest.raises(ValueError, match="RuntimeConf entry"):
            parse_sim_conf(bad, defaults)


def test_runtime_conf_overrides_outcome_delay_and_log_lines(sim_emu) -> None:
    failing, delayed, chatty = unique("fail"), unique("delay"), unique("chatty")
    _create(sim_emu, failing, ["sim.outcome=Failed"])
    _create(sim_emu, delayed, ["sim.start_delay=0.4", "sim.duration=0.3"])
    _create(sim_emu, chatty, ["sim.log_lines=100000", "sim.duration=0.2"])
    assert sim_emu.store.get(CLUSTER, delayed)["State"] == "Created"
    time.sleep(0.2)
    assert sim_emu.store.get(CLUSTER, delayed)["State"] == "Created"
    assert sim_emu.wait_for_state(delayed, CLUSTER, "Running", timeout=5)
    job = sim_emu.wait_for_state(failing, CLUSTER, timeout=5)
    assert job["State"] == "Failed" and "replica master-0 exited with code 1" in job["Message"]
    assert sim_emu.wait_for_state(delayed, CLUSTER, timeout=5)["State"] == "Succeeded"
    assert sim_emu.wait_for_state(chatty, CLUSTER, timeout=10)["State"] == "Succeeded"
    assert sim_emu.store.log_count(CLUSTER, chatty) == 100_000
    with pytest.raises(TencentCloudSDKException) as info:
        _create(sim_emu, unique("bad"), ["sim.duration=soon"])
    assert info.value.code == "InvalidParameterValue" and "sim.duration=soon" in info.value.message


def test_a_thousand_concurrent_simulated_jobs_all_end() -> None:
    # Jobs last 2 s, so even a loaded machine creates them faster than they end: they must overlap.
    with TIAEmulator(runner="simulated", sim_duration=2.0) as e:
        names = [f"bulk-{i}" for i in range(1000)]
        threads_before = threading.active_count()
        started = time.monotonic()

        def submit(chunk: list[str]) -> None:
            c = client(e)
            for name in chunk:
                c.CreateJob(req("CreateJob", Name=name, Cluster="cls-bulk0001", RuntimeVersion="tia-1.7.0"))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(submit, [names[i::4] for i in range(4)]))
        running = sum(1 for j in e.store.list("cls-bulk0001") if j["State"] in ("Created", "Running"))
        assert running > 100  # they really overlap
        assert threading.active_count() < threads_before + 10  # one timer thread, not one per job
        assert e.store.wait_for(
            lambda: all(e.store.state("cls-bulk0001", n) == "Succeeded" for n in names), timeout=20
        )
        assert time.monotonic() - started < 20
        assert e.calls["CreateJob"] == 1000
