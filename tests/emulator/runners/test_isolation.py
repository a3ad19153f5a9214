"""Jobs cannot see the host (clean environment), leave nothing running (detached processes included), and
belong to the credential's account."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_tia.emulator import TIAEmulator

from ..helpers.tia import CLUSTER, alive, client, req, unique, wait_until, write_script

if TYPE_CHECKING:
    from pathlib import Path

REPLICA_VARIABLES = {
    "PATH",
    "HOME",
    "LANG",
    "PYTHONUNBUFFERED",
    "TF_CONFIG",
    "TIA_JOB_NAME",
    "TIA_JOB_ID",
    "TIA_CLUSTER",
    "TIA_REPLICA_TYPE",
    "TIA_REPLICA_INDEX",
    "TIA_OUTPUT_DIR",
}


def _code(fn) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return info.value.code


def _lines(emu: TIAEmulator, name: str) -> list[str]:
    return [x["Log"] for x in emu.store.query_logs(CLUSTER, name, 0, 2**62, 1000)[0]]


def test_replicas_get_a_clean_environment(emu, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "host-secret-do-not-leak")
    monkeypatch.setenv("AIRFLOW_CONN_SECRET", "conn-secret-do-not-leak")
    c = client(emu)
    shell = unique("env-sh")
    c.CreateJob(
        req(
            "CreateJob",
            Name=shell,
            Cluster=CLUSTER,
            RuntimeVersion="tia-1.7.0",
            Command=["sh", "-c", "echo key=$TENCENTCLOUD_SECRET_KEY; env"],
        )
    )
    py = unique("env-py")
    c.CreateJob(
        req(
            "CreateJob",
            Name=py,
            Cluster=CLUSTER,
            RuntimeVersion="tia-1.7.0",
            Command=["python", "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        )
    )
    assert emu.wait_for_state(shell, CLUSTER, timeout=20)["State"] == "Succeeded"
    assert emu.wait_for_state(py, CLUSTER, timeout=20)["State"] == "Succeeded"
    shell_lines = _lines(emu, shell)
    assert shell_lines[0] == "key="
    assert not any("do-not-leak" in line or emu.secret_key in line for line in shell_lines)
    env = json.loads(_lines(emu, py)[0])
    assert set(env) == REPLICA_VARIABLES
    assert env["LANG"] == "C.UTF-8" and env["TIA_JOB_NAME"] == py and env["HOME"] == env["TIA_OUTPUT_DIR"]
    assert json.loads(env["TF_CONFIG"])["task"] == {"type": "master", "index": 0}


DETACH = textwrap.dedent("""
    import os, subprocess, sys, time
    out = sys.argv[1]
    detached = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    if os.fork() == 0:  # a classic daemon: fork, setsid, fork again, the middle process exits
        os.setsid()
        if os.fork() == 0:
            with open(os.path.join(out, "tmp%d" % os.getpid()), "w") as fh:
                fh.write(str(os.getpid()))
            os.rename(os.path.join(out, "tmp%d" % os.getpid()), os.path.join(out, "daemon-%d" % os.getpid()))
            time.sleep(600)
        os._exit(0)
    with open(os.path.join(out, "detached-%d" % os.getpid()), "w") as fh:
        fh.write(str(detached.pid))
    deadline = time.time() + 30  # the daemon has written its pid before the job can end
    while not any(n.startswith("daemon-") for n in os.listdir(out)) and time.time() < deadline:
        time.sleep(0.01)
    if sys.argv[2] == "wait":
        time.sleep(600)
""")


def _detached_pids(directory: Path) -> list[int]:
    files = wait_until(
        lambda: len(f := [p for p in directory.glob("*-*") if p.read_text()]) == 2 and f, timeout=20
    )
    return [int(p.read_text()) for p in files]


def _detaching_job(c, name: str, pkg: Path, out: Path, mode: str) -> None:
    c.CreateJob(
        req(
            "CreateJob",
            Name=name,
            Cluster=CLUSTER,
            RuntimeVersion="tia-1.7.0",
            PackageDir=[str(pkg)],
            Command=["python", "train.py", str(out), mode],
        )
    )


def test_delete_job_stops_detached_processes(emu, tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", DETACH)
    out = tmp_path / "out"
    out.mkdir()
    name = unique("detach-del")
    _detaching_job(client(emu), name, pkg, out, "wait")
    pids = _detached_pids(out)
    assert all(alive(p) for p in pids)
    client(emu).DeleteJob(req("DeleteJob", Name=name, Cluster=CLUSTER))
    wait_until(lambda: not any(alive(p) for p in pids), timeout=30)


def test_job_end_stops_detached_processes(emu, tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", DETACH)
    out = tmp_path / "out"
    out.mkdir()
    name = unique("detach-end")
    _detaching_job(client(emu), name, pkg, out, "exit")
    pids = _detached_pids(out)
    assert emu.wait_for_state(name, CLUSTER, timeout=20)["State"] == "Succeeded"
    wait_until(lambda: not any(alive(p) for p in pids), timeout=30)


def test_emulator_stop_stops_detached_processes(tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", DETACH)
    out = tmp_path / "out"
    out.mkdir()
    with TIAEmulator(runner="local") as e:
        _detaching_job(client(e), unique("detach-stop"), pkg, out, "wait")
        pids = _detached_pids(out)
        assert all(alive(p) for p in pids)
    wait_until(lambda: not any(alive(p) for p in pids), timeout=30)


def test_jobs_belong_to_the_credential_account(sim_emu) -> None:
    account = sim_emu.add_credential("AKIDotheraccount", "other-key", uin="200000000002")
    assert account.uin == "200000000002" and account.app_id != sim_emu.account.app_id
    mine, theirs = client(sim_emu), client(sim_emu, secret_id="AKIDotheraccount", secret_key="other-key")
    cluster = unique("cls")
    name = "shared-name"
    mine.CreateJob(req("CreateJob", Name=name, Cluster=cluster, RuntimeVersion="tia-1.7.0"))
    assert theirs.ListJobs(req("ListJobs", Cluster=cluster)).Jobs == []
    assert (
        _code(lambda: theirs.DescribeJob(req("DescribeJob", Name=name, Cluster=cluster)))
        == "ResourceNotFound"
    )
    assert _code(lambda: theirs.DeleteJob(req("DeleteJob", Name=name, Cluster=cluster))) == "ResourceNotFound"
    window = {"StartTime": "2000-01-01 00:00:00", "EndTime": "2100-01-01 00:00:00", "Limit": 10}
    assert (
        _code(lambda: theirs.QueryLogs(req("QueryLogs", JobName=name, Cluster=cluster, **window)))
        == "ResourceNotFound"
    )
    created = theirs.CreateJob(req("CreateJob", Name=name, Cluster=cluster, RuntimeVersion="tia-1.7.0")).Job
    assert (created.Uin, created.AppId) == ("200000000002", account.app_id)
    [own] = mine.ListJobs(req("ListJobs", Cluster=cluster)).Jobs
    assert (own.Uin, own.AppId) == (sim_emu.account.uin, sim_emu.account.app_id) and own.Id != created.Id
    assert mine.DescribeJob(req("DescribeJob", Name=name, Cluster=cluster)).Job.Id == own.Id
    sim_emu.add_credential("AKIDsameaccount", "same-key")  # no uin: the emulator's own account
    same = client(sim_emu, secret_id="AKIDsameaccount", secret_key="same-key")
    assert same.DescribeJob(req("DescribeJob", Name=name, Cluster=cluster)).Job.Id == own.Id
