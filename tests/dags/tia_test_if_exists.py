"""Test DAG: jobs of other runs that already exist (created by the test): attach to one (opt-in), refuse the other."""

from __future__ import annotations

from pathlib import Path

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator

SCRIPTS = str(Path(__file__).resolve().parent / "scripts")
JOB = dict(cluster="ap-beijing", runtime_version="tia-1.7.0", package_dir=[SCRIPTS], command=["python"])

with DAG(
    dag_id="tia_test_if_exists",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    params={"prefix": "e"},
) as dag:
    CreateJobOperator(
        task_id="attach",
        name="{{ params.prefix }}-attach",
        args=["train.py"],
        if_exists="attach",
        poll_interval=0.5,
        **JOB,
    )
    CreateJobOperator(
        task_id="refuse",
        name="{{ params.prefix }}-refuse",
        args=["train.py"],
        if_exists="fail",
        poll_interval=0.5,
        **JOB,
    )
