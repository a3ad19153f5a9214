"""What the dag.test() tests read back from a run (its XComs), and a run of a DAG a test writes itself."""

from __future__ import annotations

import uuid
from typing import Any


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    """The XCom ``key`` the task pushed in this DAG run, as the UI and the REST API read it; None if none."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, key=key, task_ids=task_id, dag_ids=run.dag_id)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def run_written_dag(prefix: str, source: str, **fields: Any) -> Any:
    """dag.test() of a DAG file written for one run: ``source`` formatted with a new ``dag_id``
    (``<prefix>_<hex>``) and ``fields``. dag.test() runs the DAGs of the DAGs folder, serialised from their
    file, so the file goes there and is removed after the run. The DagRun."""
    from tests.conftest import _DAGS, load_dag

    dag_id = f"{prefix}_{uuid.uuid4().hex[:8]}"
    path = _DAGS / f"{dag_id}.py"
    path.write_text(source.format(dag_id=dag_id, **fields))
    try:
        return load_dag(dag_id).test()
    finally:
        path.unlink()
