"""Test DAG: deferrable CreateJobOperator, one job that succeeds and one that fails."""

from __future__ import annotations

from pathlib import Path

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator

SCRIPTS = str(Path(__file__).resolve().parent / "scripts")
JOB = dict(cluster="ap-beijing", runtime_version="tia-1.7.0", package_dir=[SCRIPTS], command=["python"])
JOB["if_exists"] = "attach"  # fresh names per test: the exact name on every Airflow version

with DAG(
    dag_id="tia_test_deferrable",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    params={"prefix": "d"},
) as dag:
    for outcome in ("ok", "bad"):
        CreateJobOperator(
            task_id=f"train_{outcome}",
            name=f"{{{{ params.prefix }}}}-{outcome}",
            args=[
                "train.py",
                "--lines",
                "8",
                "--sleep",
                "0.3",
                "--token",
                f"{{{{ params.prefix }}}}{outcome}",
                "--fail",
                str(outcome == "bad"),
            ],
            deferrable=True,
            poll_interval=0.5,
            max_wait=120,
            **JOB,
        )
