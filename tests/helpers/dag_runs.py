"""What the dag.test() tests read back from a run (its XComs), and a run of a DAG a test writes itself."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers.airflow_compat import dag_test, xcom

__all__ = ["run_written_dag", "xcom"]


def run_written_dag(prefix: str, source: str, **fields: Any) -> Any:
    """dag.test() of a DAG file written for one run: ``source`` formatted with a new ``dag_id``
    (``<prefix>_<hex>``) and ``fields``. dag.test() runs the DAGs of the DAGs folder, serialised from their
    file, so the file goes there and is removed after the run. The DagRun."""
    from tests.conftest import _DAGS, load_dag

    dag_id = f"{prefix}_{uuid.uuid4().hex[:8]}"
    path = _DAGS / f"{dag_id}.py"
    path.write_text(source.format(dag_id=dag_id, **fields))
    try:
        return dag_test(load_dag(dag_id))
    finally:
        path.unlink()
