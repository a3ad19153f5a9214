"""Test DAG: replace an existing job; a retry that finds its own Failed job recreates it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator

SCRIPTS = str(Path(__file__).resolve().parent / "scripts")
JOB = dict(cluster="ap-beijing", runtime_version="tia-1.7.0", package_dir=[SCRIPTS], command=["python"])

with DAG(
    dag_id="tia_test_replace",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    params={"prefix": "r", "marker": "/nonexistent"},
) as dag:
    CreateJobOperator(
        task_id="replace",
        name="{{ params.prefix }}-replace",
        args=["train.py", "--token", "new"],
        if_exists="replace",
        poll_interval=0.5,
        **JOB,
    )
    CreateJobOperator(
        task_id="retry",
        name="{{ params.prefix }}-retry",
        args=["train.py", "--fail-once", "{{ params.marker }}"],
        retries=1,
        retry_delay=timedelta(seconds=0),
        poll_interval=0.5,
        **JOB,
    )
