"""Shared set-up of the benchmarks: a private AIRFLOW_HOME and an emulator in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

SECRET_ID, SECRET_KEY = "AKIDbenchmark", "benchmark-secret-key"

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="tia-bench-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def emulator_process(*args: str, conn_id: str = "tia_bench"):
    """Run `python -m airflow_provider_tia.emulator` in its own process (so its CPU is not ours)."""
    port = free_port()
    state = tempfile.mkdtemp(prefix="tia-bench-emulator-")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_tia.emulator",
            "--port",
            str(port),
            "--secret-id",
            SECRET_ID,
            "--secret-key",
            SECRET_KEY,
            "--state-dir",
            state,
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("the emulator did not start: " + (proc.stdout.read() if proc.stdout else ""))
    conn = {
        "conn_type": "tencentcloud",
        "login": SECRET_ID,
        "password": SECRET_KEY,
        "extra": {"region": "ap-beijing", "endpoint": f"http://127.0.0.1:{port}"},
    }
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    try:
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"
