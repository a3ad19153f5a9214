"""One try of a CreateJobOperator (or CreateTrainingTaskOperator) task in its own process, as a worker runs
it (killed by the tests).

Usage: python -m tests.reliability.tia_rel_worker <job name> <state-store file or "-"> <sim duration> <log lines> [tia|tione [run id]]
The connection ``tia_rel_crash`` comes from the environment. Job lines and operator messages are printed
to stdout as ``TASK: <message>``; the task state store (if any) is a JSON file rewritten on every set.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_tia.operators.tia import CreateJobOperator
from tests.helpers.reliability import CLUSTER, FakeTI, TaskStateStore, context_for, sim_conf

if TYPE_CHECKING:
    from airflow_provider_tia.operators.base import CreateAndWaitOperator


class FileStore(TaskStateStore):
    def __init__(self, path: Path) -> None:
        super().__init__(json.loads(path.read_text()) if path.exists() else {})
        self.path = path

    def set(self, key, value, **kwargs) -> None:
        super().set(key, value)
        self.path.write_text(json.dumps(self.data))


def make_op(platform: str, name: str, duration: float, lines: int) -> CreateAndWaitOperator:
    if platform == "tione":
        from tests.helpers.reliability_tione import training_op

        return training_op(name, "tia_rel_crash", duration, lines)
    return CreateJobOperator(
        task_id="train",
        name=name,
        cluster=CLUSTER,
        runtime_version="tia-1.7.0",
        command=["python"],
        runtime_conf=sim_conf(duration, lines=lines),
        tencentcloud_conn_id="tia_rel_crash",
        poll_interval=0.2,
    )


def main() -> None:
    name, store_arg, duration, lines = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    op = make_op(sys.argv[5] if len(sys.argv) > 5 else "tia", name, duration, lines)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("TASK: %(message)s"))
    logger = logging.getLogger("tia.reliability.worker")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    object.__setattr__(op, "_cached_logger", logger)
    store = None if store_arg == "-" else FileStore(Path(store_arg))
    run_id = sys.argv[6] if len(sys.argv) > 6 else "manual__crash"
    ti = FakeTI("tia_rel_crash", "train", run_id=run_id, try_number=1)
    op.execute(context_for(ti, store, below_3_3=store is None))  # no store: as below Airflow 3.3
    print("TASK-ENDED", flush=True)


if __name__ == "__main__":
    main()
