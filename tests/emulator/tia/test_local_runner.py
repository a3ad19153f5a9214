"""The local runner really runs replicas: TF_CONFIG, env, logs, failures, PackageDir forms, killing."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.emulator.tia.runners import TiaLocalRunner

from ..helpers.tia import CLUSTER, alive, client, req, unique, wait_until, write_script

DUMP_TF_CONFIG = textwrap.dedent("""
    import json, os, sys, time
    out = os.path.join(sys.argv[1], os.environ["TIA_REPLICA_TYPE"] + os.environ["TIA_REPLICA_INDEX"] + ".json")
    info = {k: os.environ[k] for k in os.environ if k.startswith("TIA_") or k == "TF_CONFIG"}
    info["executable"] = sys.executable
    with open(out, "w") as fh:
        json.dump(info, fh)
    print("replica", os.environ["TIA_REPLICA_TYPE"], os.environ["TIA_REPLICA_INDEX"], "cwd", os.getcwd())
    if os.environ["TIA_REPLICA_TYPE"] == "ps":
        time.sleep(60)  # parameter servers never finish on their own
    if os.environ["TIA_REPLICA_TYPE"] == "master":
        open(os.path.join(os.environ["TIA_OUTPUT_DIR"], "model.txt"), "w").write("weights")
        time.sleep(0.2)
""")


def _custom(name: str, pkg: str, args: list[str], workers: int = 2, ps: int = 1, **extra) -> object:
    return req(
        "CreateJob",
        Name=name,
        Cluster=CLUSTER,
        RuntimeVersion="tia-1.7.0",
        ScaleTier="Custom",
        MasterType="1U1G0P",
        WorkerType="1U1G0P",
        ParameterServerType="1U1G0P",
        WorkerCount=workers,
        ParameterServerCount=ps,
        PackageDir=[pkg],
        Command=["python"],
        Args=args,
        **extra,
    )


def test_distributed_job_gets_consistent_tf_config(emu, tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", DUMP_TF_CONFIG)
    out = tmp_path / "out"
    out.mkdir()
    name = unique("dist")
    client(emu).CreateJob(_custom(name, f"{pkg}:/opt/ml/code", ["train.py", str(out)]))
    job = emu.wait_for_state(name, CLUSTER, timeout=20)
    assert job["State"] == "Succeeded", job["Message"]
    assert "replica master-0 exited with code 0" in job["Message"]
    infos = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(infos) == {"master0", "ps0", "worker0", "worker1"}
    configs = [json.loads(i["TF_CONFIG"]) for i in infos.values()]
    cluster = configs[0]["cluster"]
    assert all(c["cluster"] == cluster for c in configs)
    assert [len(cluster["master"]), len(cluster["ps"]), len(cluster["worker"])] == [1, 1, 2]
    addresses = cluster["master"] + cluster["ps"] + cluster["worker"]
    assert len(set(addresses)) == 4 and all(a.startswith("127.0.0.1:") for a in addresses)
    tasks = {(c["task"]["type"], c["task"]["index"]) for c in configs}
    assert tasks == {("master", 0), ("ps", 0), ("worker", 0), ("worker", 1)}
    for key, info in infos.items():
        assert info["TIA_JOB_NAME"] == name and info["TIA_CLUSTER"] == CLUSTER
        assert info["TIA_REPLICA_TYPE"] + info["TIA_REPLICA_INDEX"] == key
        assert info["executable"] == sys.executable  # "python" runs with the emulator's interpreter
    output_dir = Path(infos["master0"]["TIA_OUTPUT_DIR"])
    assert (output_dir / "model.txt").read_text() == "weights"
    logs = (
        client(emu)
        .QueryLogs(
            req(
                "QueryLogs",
                JobName=name,
                Cluster=CLUSTER,
                StartTime="2000-01-01 00:00:00",
                EndTime="2100-01-01 00:00:00",
                Limit=100,
            )
        )
        .Logs
    )
    pods = {log.PodName for log in logs}
    assert pods == {f"{name}-master-0", f"{name}-ps-0", f"{name}-worker-0", f"{name}-worker-1"}
    assert any(log.Log == f"replica worker 1 cwd {pkg}" for log in logs)


FAIL_WORKER_1 = textwrap.dedent("""
    import os, sys, time
    open(os.path.join(sys.argv[1], "pid-%s-%s" % (os.environ["TIA_REPLICA_TYPE"], os.environ["TIA_REPLICA_INDEX"])),
         "w").write(str(os.getpid()))
    if os.environ["TIA_REPLICA_TYPE"] == "worker" and os.environ["TIA_REPLICA_INDEX"] == "1":
        time.sleep(0.3)
        print("worker 1 giving up", file=sys.stderr)
        sys.exit(3)
    time.sleep(60)
""")


def test_failing_worker_fails_the_job_and_stops_the_rest(emu, tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", FAIL_WORKER_1)
    name = unique("failing")
    client(emu).CreateJob(_custom(name, str(pkg), ["train.py", str(tmp_path)]))
    job = emu.wait_for_state(name, CLUSTER, timeout=20)
    assert job["State"] == "Failed"
    assert "replica worker-1 exited with code 3" in job["Message"]
    pids = [int(p.read_text()) for p in tmp_path.glob("pid-*")]
    assert len(pids) == 4
    wait_until(lambda: not any(alive(p) for p in pids), timeout=5)
    assert emu.store.query_logs(CLUSTER, name, 0, 2**62, 100)[0][-1]["Log"] == "worker 1 giving up"


def test_job_setup_failures_have_clear_messages(emu, tmp_path: Path) -> None:
    c = client(emu)
    pkg = write_script(tmp_path / "pkg", "print('hi')\n")
    cases = {
        "cos://bucket-1250000000.cos.ap-beijing.myqcloud.com/code:/opt/ml/code": "cos:// is not supported",
        "nfs://10.0.0.1/exports/code": "nfs:// is not supported",
        str(tmp_path / "absent"): "does not exist",
        "relative/dir": "neither an absolute local path nor a URL",
    }
    for entry, fragment in cases.items():
        name = unique("setup")
        c.CreateJob(
            req(
                "CreateJob",
                Name=name,
                Cluster=CLUSTER,
                RuntimeVersion="tia-1.7.0",
                PackageDir=[entry],
                Command=["python"],
                Args=["train.py"],
            )
        )
        job = emu.wait_for_state(name, CLUSTER, timeout=10)
        assert job["State"] == "Failed" and fragment in job["Message"] and entry in job["Message"]
    name = unique("nocmd")
    c.CreateJob(
        req("CreateJob", Name=name, Cluster=CLUSTER, RuntimeVersion="tia-1.7.0", PackageDir=[str(pkg)])
    )
    assert "Command is empty" in emu.wait_for_state(name, CLUSTER, timeout=10)["Message"]
    name = unique("fileurl")
    c.CreateJob(
        req(
            "CreateJob",
            Name=name,
            Cluster=CLUSTER,
            RuntimeVersion="tia-1.7.0",
            PackageDir=[f"file://{pkg}:/mnt/code"],
            Command=["python3", "train.py"],
        )
    )
    assert emu.wait_for_state(name, CLUSTER, timeout=10)["State"] == "Succeeded"


def test_a_package_resolver_fetches_entries_of_its_scheme(tmp_path: Path) -> None:
    seen = []

    def fetch(entry: str, dest: Path) -> str:
        seen.append(entry)
        write_script(dest, "import os; print('fetched', os.getcwd())\n")
        return str(dest)

    with TIAEmulator(runner=TiaLocalRunner(package_resolvers={"cos": fetch})) as e:
        name = unique("cos")
        entry = "cos://bucket-1250000000.cos.ap-beijing.myqcloud.com/code:/opt/ml/code"
        client(e).CreateJob(
            req(
                "CreateJob",
                Name=name,
                Cluster=CLUSTER,
                RuntimeVersion="tia-1.7.0",
                PackageDir=[entry],
                Command=["python", "train.py"],
            )
        )
        job = e.wait_for_state(name, CLUSTER, timeout=10)
        assert job["State"] == "Succeeded" and seen == [entry]


GATED = textwrap.dedent("""
    import os, sys, time
    print("first line", flush=True)
    open(os.path.join(sys.argv[1], "pid"), "w").write(str(os.getpid()))
    while not os.path.exists(os.path.join(sys.argv[1], "go")):
        time.sleep(0.02)
    print("second line")
""")


def test_logs_are_live_and_running_message(emu, tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", GATED)
    name = unique("live")
    client(emu).CreateJob(
        req(
            "CreateJob",
            Name=name,
            Cluster=CLUSTER,
            RuntimeVersion="tia-1.7.0",
            PackageDir=[str(pkg)],
            Command=["python", "train.py", str(tmp_path)],
        )
    )

    def lines():
        return [x["Log"] for x in emu.store.query_logs(CLUSTER, name, 0, 2**62, 100)[0]]

    wait_until(lambda: lines() == ["first line"], timeout=10)
    job = emu.store.get(CLUSTER, name)
    assert job["State"] == "Running" and job["Message"] == "[MASTER/Running : Running/1]"
    (tmp_path / "go").write_text("")
    assert emu.wait_for_state(name, CLUSTER, timeout=10)["State"] == "Succeeded"
    assert lines() == ["first line", "second line"]


KEEP_RUNNING = textwrap.dedent("""
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    tag = os.environ["TIA_REPLICA_TYPE"] + os.environ["TIA_REPLICA_INDEX"]
    open(os.path.join(sys.argv[1], "pids-" + tag), "w").write("%d %d" % (os.getpid(), child.pid))
    time.sleep(60)
""")


def _pids(directory: Path, count: int) -> list[int]:
    files = wait_until(
        lambda: (
            (f := list(directory.glob("pids-*"))) and len(f) == count and all(p.read_text() for p in f) and f
        ),
        timeout=10,
    )
    return [int(x) for p in files for x in p.read_text().split()]


def test_delete_job_kills_replicas_and_their_children(emu, tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", KEEP_RUNNING)
    name = unique("delete")
    c = client(emu)
    c.CreateJob(_custom(name, str(pkg), ["train.py", str(tmp_path)], workers=1, ps=1))
    pids = _pids(tmp_path, 3)
    assert all(alive(p) for p in pids)
    c.DeleteJob(req("DeleteJob", Name=name, Cluster=CLUSTER))
    wait_until(lambda: not any(alive(p) for p in pids), timeout=5)
    assert emu.store.get(CLUSTER, name) is None
    assert name not in [j.Name for j in c.ListJobs(req("ListJobs", Cluster=CLUSTER, Limit=100)).Jobs]


def test_emulator_stop_kills_the_replicas(tmp_path: Path) -> None:
    pkg = write_script(tmp_path / "pkg", KEEP_RUNNING)
    e = TIAEmulator(runner="local").start()
    try:
        client(e).CreateJob(_custom(unique("stop"), str(pkg), ["train.py", str(tmp_path)], workers=1, ps=0))
        pids = _pids(tmp_path, 2)
    finally:
        e.stop()
    wait_until(lambda: not any(alive(p) for p in pids), timeout=5)
