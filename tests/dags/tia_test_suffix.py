"""Test DAG: if_exists="suffix" gives each run its own job name, the same for every try of a run."""

from __future__ import annotations

from pathlib import Path

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator

SCRIPTS = str(Path(__file__).resolve().parent / "scripts")
JOB = dict(cluster="ap-beijing", runtime_version="tia-1.7.0", package_dir=[SCRIPTS], command=["python"])

with DAG(
    dag_id="tia_test_suffix",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    params={"prefix": "s"},
) as dag:
    CreateJobOperator(
        task_id="train",
        name="{{ params.prefix }}",
        args=["train.py", "--lines", "1"],
        if_exists="suffix",
        poll_interval=0.5,
        **JOB,
    )
