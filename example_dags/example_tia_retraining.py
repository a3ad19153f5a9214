"""Scheduled retraining: prepare data -> train on TI-A (deferrable) -> use the job's result.

Each run trains a job named after the time the run was due (`dag_run.run_after`): the scheduled run for
2024-01-01 makes `retrain-20240102-000000`, a manual run its trigger time. So runs never collide and a
retried task re-attaches to its own job. Not `ds_nodash`: in Airflow 3 a manual run has no logical date,
and a template using `ds`, `ds_nodash` or `logical_date` fails there. The training task waits in the
triggerer, not in a worker slot.
"""

from __future__ import annotations

from pathlib import Path

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_tia.operators.tia import CreateJobOperator

CODE_DIR = str(Path(__file__).resolve().parent / "mnist")
# Defined for scheduled and manual runs alike, and valid inside a TI-A job name (a DNS-1123 label).
RUN_STAMP = "{{ (dag_run.run_after | default(dag_run.logical_date)).strftime('%Y%m%d-%H%M%S') }}"  # 2.11: logical_date

with DAG(
    dag_id="example_tia_retraining",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"package_dir": CODE_DIR, "data_dir": "/tmp/tia-data", "cluster": "ap-beijing", "epochs": 5},
    tags=["example", "tia"],
) as dag:

    @task
    def prepare_data(stamp: str, params: dict | None = None) -> str:
        """Export this run's training snapshot as CSV (here: scikit-learn's bundled digits)."""
        import numpy as np
        from sklearn.datasets import load_digits

        digits = load_digits()
        path = Path(params["data_dir"]) / f"digits-{stamp}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savetxt(path, np.column_stack([digits.data, digits.target]), delimiter=",", fmt="%d")
        print(f"wrote {len(digits.target)} samples to {path}")
        return str(path)

    data = prepare_data(stamp=RUN_STAMP)

    train = CreateJobOperator(
        task_id="train",
        name=f"retrain-{RUN_STAMP}",
        cluster="{{ params.cluster }}",
        runtime_version="tia-1.7.0",
        package_dir=["{{ params.package_dir }}"],
        command=["python"],
        args=[
            "mnist_saved_model.py",
            "--data",
            "{{ ti.xcom_pull(task_ids='prepare_data') }}",
            "--epochs",
            "{{ params.epochs }}",
            "--model-dir",
            "{{ params.data_dir }}/model-" + RUN_STAMP,
        ],
        deferrable=True,
        poll_interval=2,
        max_wait=2 * 3600,
    )

    @task
    def publish(job: dict) -> dict:
        """A downstream step reading the job's XCom (state and timings)."""
        print(f"job {job['Name']} {job['State']}: started {job.get('StartTime')}, ended {job.get('EndTime')}")
        if job["State"] != "Succeeded":
            raise RuntimeError(f"not publishing: job {job['Name']} is {job['State']}")
        return {"job": job["Name"], "state": job["State"]}

    data >> train
    publish(train.output)
