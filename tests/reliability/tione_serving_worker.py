"""One try of a TI-ONE serving task (model registration or service rollout) in its own process, as a
worker runs it: the crash tests SIGKILL it mid-way and run the next try in the test process.

Usage: python -m tests.reliability.tione_serving_worker <register|deploy> <state-store file or "-"> <kwargs JSON>
(the task instance: dag ``DAG_ID``, the operator's task_id, run ``RUN_ID``, try 1)

``kwargs`` are the operator's keywords (``task_id`` and ``tencentcloud_conn_id`` included); the connection
comes from the environment. Operator messages go to stdout as ``TASK: <message>``. The task state store is
a JSON file replaced atomically on every ``set``, so the test can read it at any moment to see how far the
try got (the record a killed worker leaves is what the next try gets).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.helpers.reliability import FakeTI, context_for, wait_until
from tests.helpers.support import ROOT
from tests.helpers.task_state import TaskStateStore

if TYPE_CHECKING:
    from collections.abc import Callable

DAG_ID = "tione_serving_crash"
RUN_ID = "crash"
MODULE = "tests.reliability.tione_serving_worker"  # run from the repository (ROOT)


class FileStore(TaskStateStore):
    """A task state store kept in a JSON file, rewritten whole (write, then rename) on every set."""

    def __init__(self, path: Path) -> None:
        super().__init__(json.loads(path.read_text()) if path.exists() else {})
        self.path = path

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        super().set(key, value)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.data))
        os.replace(partial, self.path)


def read_store(path: Path) -> dict[str, Any]:
    """What the worker recorded so far ({} before its first ``set``)."""
    return json.loads(path.read_text()) if path.exists() else {}


def run_until_killed(
    kind: str, store_file: Path | None, kwargs: dict[str, Any], reached: Callable[[], Any]
) -> list[str]:
    """Run one try in a worker process until ``reached()``, then SIGKILL it; what it printed."""
    args = [kind, str(store_file) if store_file else "-", json.dumps(kwargs)]
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, *args], cwd=ROOT, env=os.environ.copy(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        got_there = wait_until(lambda: proc.poll() is not None or reached(), 90)
        alive = proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        reader.join(10)
    assert got_there and alive, f"the worker never got there (exit {proc.returncode}): {''.join(printed)}"
    assert proc.returncode == -signal.SIGKILL
    return printed


def make_op(kind: str, kwargs: dict[str, Any]) -> Any:
    if kind == "register":
        from airflow_provider_tia.operators.tione.repository import RegisterModelVersionOperator

        return RegisterModelVersionOperator(**kwargs)
    if kind == "deploy":
        from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator

        return DeployModelServiceOperator(**kwargs)
    raise SystemExit(f"unknown kind {kind!r}: register or deploy")


def main() -> None:
    kind, store_arg, kwargs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    op = make_op(kind, kwargs)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("TASK: %(message)s"))
    logger = logging.getLogger("tione.serving.worker")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    object.__setattr__(op, "_cached_logger", logger)
    store = None if store_arg == "-" else FileStore(Path(store_arg))
    ti = FakeTI(DAG_ID, op.task_id, run_id=RUN_ID, try_number=1)
    op.execute(context_for(ti, store, below_3_3=store is None))  # no store: as below Airflow 3.3
    print("TASK-ENDED", flush=True)


if __name__ == "__main__":
    main()
