"""Hostile input cannot hurt the emulator: bounds on what one request allocates or starts, a free event loop,
a bounded local runner, and a SIGTERM that always ends the process."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.emulator.core.limits import MAX_BODY_BYTES, SIM_LOG_PODS
from airflow_provider_tia.emulator.tia.runners import TiaSimulatedRunner

from ..helpers.tia import CLUSTER, alive, client, common, req, unique, wait_until, write_script

if TYPE_CHECKING:
    from pathlib import Path

BASE = {"Cluster": CLUSTER, "RuntimeVersion": "tia-1.7.0"}
CUSTOM = {**BASE, "ScaleTier": "Custom", "MasterType": "1U1G0P", "WorkerType": "1U1G0P"}


def _error(fn) -> tuple[str, str]:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return info.value.code, info.value.message


@pytest.mark.parametrize("runner", ["local", "simulated"])
def test_huge_counts_are_refused_at_once(runner: str) -> None:
    with TIAEmulator(runner=runner) as e:
        c = common(e)
        for count in (2**64, 2**40, 1001):
            started = time.monotonic()
            code, message = _error(
                lambda n=count: c.call_json("CreateJob", {**CUSTOM, "Name": unique(), "WorkerCount": n})
            )
            assert (code, message) == (
                "InvalidParameterValue",
                "The parameter `WorkerCount` must be within [0, 1000].",
            )
            assert time.monotonic() - started < 2
        code, message = _error(
            lambda: c.call_json(
                "CreateJob",
                {
                    **CUSTOM,
                    "Name": unique(),
                    "ParameterServerType": "1U1G0P",
                    "ParameterServerCount": -(2**70),
                },
            )
        )
        assert (
            code == "InvalidParameterValue" and "`ParameterServerCount`" in message and "[0, 1000]" in message
        )
        assert len(e.store) == 0
        assert c.call_json("ListJobs", {"Cluster": CLUSTER})["Response"]["Jobs"] == []  # still serving


def test_strings_lists_and_integers_are_bounded(sim_emu) -> None:
    c = common(sim_emu)
    cases = [
        ({"Name": "n" * 64}, "`Name` is longer than 63 characters"),
        ({"Name": unique(), "Cluster": "c" * 64}, "`Cluster` is longer than 63 characters"),
        ({"Name": unique(), "RuntimeVersion": "r" * 4097}, "`RuntimeVersion` is longer than 4096 characters"),
        ({"Name": unique(), "Args": ["a"] * 257}, "`Args` has more than 256 items"),
        (
            {"Name": unique(), "PackageDir": ["/" + "p" * 4096]},
            "item of the parameter `PackageDir` is longer than 4096",
        ),
    ]
    for extra, fragment in cases:
        code, message = _error(lambda x=extra: c.call_json("CreateJob", {**BASE, **x}))
        assert code == "InvalidParameterValue" and fragment in message, message
    code, message = _error(lambda: c.call_json("ListJobs", {"Cluster": CLUSTER, "Offset": 2**63}))
    assert code == "InvalidParameterValue" and "`Offset` must be within [0, 9223372036854775807]" in message
    code, message = _error(
        lambda: c.call_json(
            "QueryLogs",
            {
                "JobName": "j",
                "Cluster": CLUSTER,
                "Limit": 2**64,
                "StartTime": "2020-01-01 00:00:00",
                "EndTime": "2020-01-01 00:00:01",
            },
        )
    )
    assert code == "InvalidParameterValue" and "`Limit`" in message
    get = common(sim_emu, method="GET")
    code, _ = _error(lambda: get.call_json("ListJobs", {"Cluster": CLUSTER, "Limit": "9" * 5000}))
    assert code == "InvalidParameter"  # not a 4300-digit int conversion error, not a crash


def test_sim_log_lines_are_bounded(sim_emu) -> None:
    code, message = _error(
        lambda: client(sim_emu).CreateJob(
            req("CreateJob", Name=unique(), **BASE, RuntimeConf=["sim.log_lines=10000000000"])
        )
    )
    assert code == "InvalidParameterValue" and "sim.log_lines" in message and "1000000" in message


def test_simulated_runner_does_not_allocate_per_declared_replica(sim_emu) -> None:
    name = unique("wide")
    client(sim_emu).CreateJob(
        req(
            "CreateJob",
            Name=name,
            **CUSTOM,
            ParameterServerType="1U1G0P",
            WorkerCount=1000,
            ParameterServerCount=1000,
            RuntimeConf=["sim.log_lines=500", "sim.duration=0.05"],
        )
    )
    job = sim_emu.wait_for_state(name, CLUSTER, timeout=10)
    assert job["Message"] == (
        "[MASTER/Succeeded : Succeeded/1] ;[PS/Succeeded : Succeeded/1000] ;"
        "[WORKER/Succeeded : Succeeded/1000]"
    )
    logs, _, _ = sim_emu.store.query_logs(CLUSTER, name, 0, 2**62, 1000)
    assert len(logs) == 500 and len({log["PodName"] for log in logs}) == SIM_LOG_PODS


def test_request_body_is_bounded(sim_emu) -> None:
    big = json.dumps({"Name": "x", "Args": ["a" * 1000] * 300}).encode()
    assert len(big) > MAX_BODY_BYTES
    r = requests.post(sim_emu.url, data=big, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    error = r.json()["Response"]["Error"]
    assert error["Code"] == "InvalidParameterValue" and str(MAX_BODY_BYTES) in error["Message"]
    deep = b"[" * 200_000
    r = requests.post(sim_emu.url, data=deep, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.json()["Response"]["Error"]["Code"] == "InvalidParameter"  # not a RecursionError and a 500


class _GatedRunner(TiaSimulatedRunner):
    """A runner whose validate blocks until released: stands for any slow request."""

    def __init__(self) -> None:
        super().__init__(duration=0.05)
        self.entered, self.release = threading.Event(), threading.Event()

    def validate(self, spec: dict) -> str | None:
        self.entered.set()
        self.release.wait(30)
        return super().validate(spec)


def test_a_slow_request_does_not_block_the_others() -> None:
    runner = _GatedRunner()
    with TIAEmulator(runner=runner) as e:
        slow = threading.Thread(target=lambda: client(e).CreateJob(req("CreateJob", Name="slow", **BASE)))
        slow.start()
        try:
            assert runner.entered.wait(10)
            assert (
                client(e).ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs == []
            )  # served while CreateJob waits
        finally:
            runner.release.set()
            slow.join(10)
        assert e.wait_for_state("slow", CLUSTER, timeout=10)["State"] == "Succeeded"


GATED = textwrap.dedent("""
    import os, sys, time
    print("started", os.environ["TIA_JOB_NAME"], flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.02)
""")


def test_local_runner_caps_replicas_and_running_jobs(tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", GATED)
    with TIAEmulator(runner="local", max_replicas=3, max_running=1) as e:
        c = client(e)
        code, message = _error(lambda: c.CreateJob(req("CreateJob", Name=unique(), **CUSTOM, WorkerCount=3)))
        assert code == "InvalidParameterValue" and "at most 3" in message and "`WorkerCount`" in message
        go = tmp_path / "go"
        names = [unique("first"), unique("second")]
        for name in names:
            c.CreateJob(
                req(
                    "CreateJob",
                    Name=name,
                    **CUSTOM,
                    WorkerCount=2,
                    PackageDir=[str(pkg)],
                    Command=["python", "train.py", str(go)],
                )
            )
        e.wait_for_state(names[0], CLUSTER, "Running", timeout=10)
        second = c.DescribeJob(req("DescribeJob", Name=names[1], Cluster=CLUSTER)).Job
        assert second.State == "Created" and "at most 1 jobs at once" in second.Message
        go.write_text("")
        for name in names:
            assert e.wait_for_state(name, CLUSTER, timeout=20)["State"] == "Succeeded"


STUBBORN = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
                             start_new_session=True)
    with open(os.path.join(sys.argv[1], "pids-%d" % os.getpid()), "w") as fh:
        fh.write("%d %d" % (os.getpid(), child.pid))
    time.sleep(600)
""")


def test_cli_sigterm_ends_the_process_and_every_job_process(tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", STUBBORN)
    cmd = [sys.executable, "-m", "airflow_provider_tia.emulator", "--port", "0", "--runner", "local"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        m = re.search(r"http://(127\.0\.0\.1:\d+)", proc.stdout.readline())
        assert m

        class _At:
            endpoint, secret_id, secret_key = m.group(1), "AKIDemulator", "emulator-secret"

        c = client(_At)  # type: ignore[arg-type]
        c.CreateJob(
            req(
                "CreateJob",
                Name="stubborn",
                **CUSTOM,
                WorkerCount=1,
                PackageDir=[str(pkg)],
                Command=["python", "train.py", str(tmp_path)],
            )
        )
        files = wait_until(
            lambda: len(f := list(tmp_path.glob("pids-*"))) == 2 and all(p.read_text() for p in f) and f,
            timeout=20,
        )
        pids = [int(x) for p in files for x in p.read_text().split()]
        assert all(alive(p) for p in pids)
        with pytest.raises(TencentCloudSDKException):
            common(_At).call_json("CreateJob", {**CUSTOM, "Name": "huge", "WorkerCount": 2**64})  # type: ignore[arg-type]
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert time.monotonic() - started < 10, "SIGTERM took too long"
    assert proc.returncode == 0, err
    assert "stopped" in out
    wait_until(lambda: not any(alive(p) for p in pids), timeout=5)
