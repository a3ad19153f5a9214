"""The process plumbing of the local runners: where a replica's program comes from, its clean environment,
free ports, and ending a replica's whole process tree (each replica runs under ``supervise.py``, a child
subreaper on Linux, so nothing it starts outlives it)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

SUPERVISOR = str(Path(__file__).with_name("supervise.py"))
# PATH of a replica: the emulator's Python first (so ``python`` is the interpreter running the emulator), then
# the usual system directories.
REPLICA_PATH = os.pathsep.join(
    [
        os.path.dirname(sys.executable),
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
)


class JobSetupError(Exception):
    """A job cannot start (bad PackageDir, empty Command...); the message becomes the job's Message."""


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free TCP ports on ``host``."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_cluster(reps: list[tuple[str, int]]) -> dict[str, list[str]]:
    """TF_CONFIG's ``cluster``: a free 127.0.0.1 port for every (type, index) replica, grouped by type."""
    ports = iter(free_ports(len(reps)))
    cluster: dict[str, list[str]] = {}
    for rtype, _ in reps:
        cluster.setdefault(rtype, []).append(f"127.0.0.1:{next(ports)}")
    return cluster


def base_env(home: Path) -> dict[str, str]:
    """What every replica of every service gets: PATH (REPLICA_PATH), HOME, LANG=C.UTF-8, PYTHONUNBUFFERED=1."""
    return {"PATH": REPLICA_PATH, "HOME": str(home), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}


class Replica:
    """One started replica: its type and index, its pod name and its supervisor process."""

    def __init__(self, rtype: str, index: int, pod: str, proc: subprocess.Popen) -> None:
        self.rtype, self.index, self.pod, self.proc = rtype, index, pod, proc
        self.reader: threading.Thread | None = None

    @property
    def label(self) -> str:
        return f"{self.rtype}-{self.index}"


class LocalJob:
    """What the local runner holds of one running job: its replicas, their states and its thread."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.replicas: list[Replica] = []
        self.states: dict[tuple[str, int], str] = {}
        self.thread: threading.Thread | None = None


def describe_exit(code: int) -> str:
    return f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"


def terminate(proc: subprocess.Popen) -> None:
    """Ask a replica's supervisor to end the replica's whole process tree."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
