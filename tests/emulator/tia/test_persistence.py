"""state_dir: jobs and logs survive a restart; simulated jobs resume, local jobs are marked Failed."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

from airflow_provider_tia.emulator import TIAEmulator

from ..helpers.tia import CLUSTER, alive, client, req, wait_until, write_script

if TYPE_CHECKING:
    from pathlib import Path

WIDE = {"StartTime": "2000-01-01 00:00:00", "EndTime": "2100-01-01 00:00:00", "Limit": 100}


def test_simulated_jobs_survive_and_resume(tmp_path: Path) -> None:
    with TIAEmulator(runner="simulated", state_dir=tmp_path) as first:
        c = client(first)
        for name, conf in [
            ("done", ["sim.duration=0.05", "sim.log_lines=5"]),
            ("long", ["sim.duration=1.0"]),
            ("gone", ["sim.duration=0.05"]),
        ]:
            c.CreateJob(
                req("CreateJob", Name=name, Cluster=CLUSTER, RuntimeVersion="tia-1.7.0", RuntimeConf=conf)
            )
        first.wait_for_state("done", CLUSTER, "Succeeded", timeout=5)
        first.wait_for_state("long", CLUSTER, "Running", timeout=5)
        c.DeleteJob(req("DeleteJob", Name="gone", Cluster=CLUSTER))
        before = first.store.get(CLUSTER, "done")
        logs_before = c.QueryLogs(req("QueryLogs", JobName="done", Cluster=CLUSTER, **WIDE)).to_json_string()
    saved = json.loads((tmp_path / "jobs" / f"100000000001@{CLUSTER}@done.json").read_text())
    assert saved["job"]["State"] == "Succeeded"
    with TIAEmulator(runner="simulated", state_dir=tmp_path) as second:
        c = client(second)
        assert second.store.get(CLUSTER, "done") == before
        assert (
            c.QueryLogs(req("QueryLogs", JobName="done", Cluster=CLUSTER, **WIDE)).to_json_string()[:-60]
            == logs_before[:-60]
        )  # same lines; only RequestId differs
        assert [j.Name for j in c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs] == ["done", "long"]
        assert second.store.get(CLUSTER, "long")["State"] == "Running"
        assert second.wait_for_state("long", CLUSTER, "Succeeded", timeout=5)
        c.CreateJob(req("CreateJob", Name="new", Cluster=CLUSTER, RuntimeVersion="tia-1.7.0"))
        assert [j.Name for j in c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs] == ["done", "long", "new"]


SLEEPER = textwrap.dedent("""
    import os, sys, time
    open(os.path.join(sys.argv[1], "pid"), "w").write(str(os.getpid()))
    print("started", flush=True)
    time.sleep(60)
""")


def test_local_jobs_running_at_shutdown_are_failed_on_reload(tmp_path: Path) -> None:
    state, work = tmp_path / "state", tmp_path / "work"
    pkg = write_script(work / "pkg", SLEEPER)
    with TIAEmulator(runner="local", state_dir=state) as first:
        client(first).CreateJob(
            req(
                "CreateJob",
                Name="sleepy",
                Cluster=CLUSTER,
                RuntimeVersion="tia-1.7.0",
                PackageDir=[str(pkg)],
                Command=["python", "train.py", str(work)],
            )
        )
        first.wait_for_state("sleepy", CLUSTER, "Running", timeout=10)
        pid = int(wait_until(lambda: (work / "pid").exists() and (work / "pid").read_text(), timeout=10))
        wait_until(lambda: first.store.log_count(CLUSTER, "sleepy") == 1, timeout=10)
    wait_until(lambda: not alive(pid), timeout=5)
    with TIAEmulator(runner="local", state_dir=state) as second:
        job = second.store.get(CLUSTER, "sleepy")
        assert job["State"] == "Failed" and "emulator restarted" in job["Message"] and job["EndTime"]
        assert second.store.query_logs(CLUSTER, "sleepy", 0, 2**62, 10)[0][0]["Log"] == "started"
