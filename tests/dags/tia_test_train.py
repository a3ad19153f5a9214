"""Test DAG: a polling CreateJobOperator whose every CreateJob field is templated from params/macros."""

from __future__ import annotations

from pathlib import Path

import pendulum

from airflow_provider_tia.compat import DAG, Param
from airflow_provider_tia.operators.tia import CreateJobOperator

SCRIPTS = str(Path(__file__).resolve().parent / "scripts")

with DAG(
    dag_id="tia_test_train",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "prefix": Param("t", type="string"),
        "workers": Param(1),
        "lines": Param(3, type="integer"),
        "fail": Param(False, type="boolean"),
        "debug": Param("false", type="string"),
        "if_exists": Param("attach", type="string"),
        "deferrable": Param(False, type="boolean"),
    },
) as dag:
    CreateJobOperator(
        task_id="train",
        name="{{ params.prefix }}-{{ ds_nodash }}",
        cluster="ap-beijing",
        runtime_version="tia-1.7.0",
        package_dir=[SCRIPTS],
        command=["python"],
        args=[
            "train.py",
            "--lines",
            "{{ params.lines }}",
            "--fail",
            "{{ params.fail }}",
            "--token",
            "{{ params.prefix }}",
        ],
        scale_tier="Custom",
        master_type="1U1G0P",
        worker_type="1U1G0P",
        worker_count="{{ params.workers }}",
        debug="{{ params.debug }}",
        runtime_conf=["env={{ params.prefix }}"],
        if_exists="attach",  # fresh names per test: the exact name on every Airflow version
        poll_interval=0.5,
        max_wait=120,
    )
