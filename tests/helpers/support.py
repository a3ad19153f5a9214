"""What the provider tests share: the repository's root, the cluster, the training scripts, a job spec, a
fake task instance, a task's context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_tia.models.tia.job_spec import MAX_NAME_LENGTH as TIA_MAX_NAME
from airflow_provider_tia.models.tia.job_spec import JobSpec
from tests.helpers.task_state import TaskStateStore

CLUSTER = "ap-beijing"
# The repository, or the copy of it `make test-wheel` runs the tests from.
ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = str(ROOT / "tests" / "dags" / "scripts")


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


try:  # Airflow 3.3+: every task has a task_state_store, where CreateJobOperator records its job
    from airflow.sdk import ResumableJobMixin  # noqa: F401

    HAS_STATE_STORE = True
except ImportError:
    HAS_STATE_STORE = False


def context(ti: FakeTI | None) -> dict[str, Any]:
    """A task's context as Airflow 3.3 gives it (with its task state store)."""
    return {"ti": ti, "task_state_store": TaskStateStore()}


def own_name(base: str, dag_id: str, run_id: str, task_id: str = "train") -> str:
    """The TI-A job name of a task instance with the default ``if_exists="new"``: ``base`` where the
    task state store records the job (Airflow 3.3+), ``<base>-<hash of the task instance>`` below."""
    from airflow_provider_tia.operators.base import run_suffix, suffixed

    return base if HAS_STATE_STORE else suffixed(base, run_suffix(dag_id, task_id, run_id, -1), TIA_MAX_NAME)
