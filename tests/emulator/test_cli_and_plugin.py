"""``python -m airflow_provider_tia.emulator`` and the pytest plugin's fixtures."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tia.v20180226.tia_client import TiaClient

from .helpers.tia import CLUSTER, req

if TYPE_CHECKING:
    from pathlib import Path


def test_cli_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "airflow_provider_tia.emulator",
        "--port",
        "0",
        "--secret-id",
        "AKIDcli",
        "--secret-key",
        "cli-key",
        "--token",
        "cli-token",
        "--runner",
        "simulated",
        "--sim-duration",
        "0.05",
        "--state-dir",
        str(tmp_path),
        "--faults",
        "DeleteJob:InternalError=0.5",
        "--seed",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(
            r"TI-A and TI-ONE emulator listening on http://(127\.0\.0\.1:\d+) \(runner=simulated\)\n", line
        )
        assert m, line
        http = HttpProfile(endpoint=m.group(1), protocol="http", reqTimeout=10)
        c = TiaClient(Credential("AKIDcli", "cli-key", "cli-token"), CLUSTER, ClientProfile(httpProfile=http))
        job = c.CreateJob(req("CreateJob", Name="cli-job", Cluster=CLUSTER, RuntimeVersion="tia-1.7.0")).Job
        assert job.Message == "creating"
        assert c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs[0].Name == "cli-job"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert (tmp_path / "jobs" / f"100000000001@{CLUSTER}@cli-job.json").exists()


def test_cli_rejects_bad_fault_spec() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow_provider_tia.emulator", "--port", "0", "--faults", "ListJobs:oops=1"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2 and "oops" in proc.stderr


def test_plugin_fixtures_give_an_emulator_and_its_connection(tia_emulator, tia_connection) -> None:
    assert tia_connection == "tencentcloud_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"])
    assert conn == {
        "conn_type": "tencentcloud",
        "login": tia_emulator.secret_id,
        "password": tia_emulator.secret_key,
        "extra": {"region": "ap-beijing", "endpoint": tia_emulator.url},
    }
    http = HttpProfile(endpoint=tia_emulator.endpoint, protocol="http")
    c = TiaClient(
        Credential(conn["login"], conn["password"]), conn["extra"]["region"], ClientProfile(httpProfile=http)
    )
    assert isinstance(c.ListJobs(req("ListJobs", Cluster=CLUSTER)).Jobs, list)
    assert tia_emulator.runner.name == "local" and tia_emulator.state_dir is not None


def test_package_import_is_light() -> None:
    code = (
        "import sys, airflow_provider_tia.emulator, airflow_provider_tia.emulator.pytest_plugin;"
        "print(sorted(m for m in ('starlette', 'uvicorn', 'airflow', 'tencentcloud') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20).stdout
    assert out.strip() == "[]"
