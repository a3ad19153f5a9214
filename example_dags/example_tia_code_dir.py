"""Ship the training code with the DAG: `code_dir` is packed, uploaded to COS and mounted as PackageDir.

The archive's key carries a digest of the directory's content, so a run with unchanged code uploads
nothing, and two DAGs with different code never overwrite each other. Needs `airflow-provider-tia[cos]`
and a bucket (`<name>-<appid>`) in the connection's region.
"""

from __future__ import annotations

from pathlib import Path

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow.models.dag import DAG

from airflow_provider_tia.operators.tia import CreateJobOperator

CODE_DIR = str(Path(__file__).resolve().parent / "mnist")

with DAG(
    dag_id="example_tia_code_dir",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"code_bucket": "tia-code-1250000000", "model_dir": "/tmp/tia-models/code-dir"},
    tags=["example", "tia"],
) as dag:
    CreateJobOperator(
        task_id="train",
        name="code-dir",
        cluster="ap-beijing",
        runtime_version="tia-1.7.0",
        code_dir=CODE_DIR,  # mounted first: Command/Args run inside it
        code_bucket="{{ params.code_bucket }}",
        command=["python"],
        args=["mnist_saved_model.py", "--epochs", "3", "--model-dir", "{{ params.model_dir }}"],
        if_exists="suffix",  # code-dir-<hash of dag, task, run>: a job per run, a retry re-attaches
        poll_interval=1,
        max_wait=1800,
    )
