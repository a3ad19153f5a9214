"""Test DAG: max_wait with on_timeout="delete" (polling and deferrable), and a job deleted while watched."""

from __future__ import annotations

from pathlib import Path

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator

SCRIPTS = str(Path(__file__).resolve().parent / "scripts")
JOB = dict(cluster="ap-beijing", runtime_version="tia-1.7.0", package_dir=[SCRIPTS], command=["python"])
JOB["if_exists"] = "attach"  # fresh names per test: the exact name on every Airflow version

SLOW = ["train.py", "--lines", "200", "--sleep", "0.1"]

with DAG(
    dag_id="tia_test_timeout",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    params={"prefix": "w"},
) as dag:
    CreateJobOperator(
        task_id="timeout", name="{{ params.prefix }}-timeout", args=SLOW, max_wait=2, poll_interval=0.5, **JOB
    )
    CreateJobOperator(
        task_id="timeout_deferred",
        name="{{ params.prefix }}-timeout-d",
        args=SLOW,
        max_wait=2,
        deferrable=True,
        poll_interval=0.5,
        **JOB,
    )
    CreateJobOperator(
        task_id="vanish", name="{{ params.prefix }}-vanish", args=SLOW, max_wait=60, poll_interval=0.5, **JOB
    )
