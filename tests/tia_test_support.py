"""What the provider tests share: the cluster, the training scripts, a job spec, a fake task instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_tia.job import JobSpec

CLUSTER = "ap-beijing"
SCRIPTS = str(Path(__file__).resolve().parent / "dags" / "scripts")


def script_spec(name: str, *args: str, cluster: str = CLUSTER) -> JobSpec:
    """A job running ``tests/dags/scripts/train.py`` with ``args`` (``--lines``, ``--sleep``, ``--fail``...)."""
    return JobSpec(
        name=name,
        cluster=cluster,
        runtime_version="tia-1.7.0",
        package_dir=[SCRIPTS],
        command=["python"],
        args=["train.py", *args],
    )


class FakeTI:
    """The task-instance attributes the operators read outside a DAG run; pushed XComs land in ``pushed``."""

    def __init__(self, task_id: str = "t", try_number: int = 1, dag_id: str = "d", run_id: str = "r") -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = dag_id, task_id, run_id, -1
        self.try_number = try_number
        self.stats_tags: dict[str, str] = {}
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value
