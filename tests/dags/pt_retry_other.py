"""Test DAG (production truth): fixed-name jobs that always fail, each task with one retry. Day 1's
failed job must never be run again by day 2's run: with ``if_exists="attach"`` day 2 only reports it,
with the default ``"new"`` day 2 creates (and on its retry restarts) its own."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

WORKER = [{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}]
RETRY = {"retries": 1, "retry_delay": timedelta(seconds=0), "poll_interval": 0.2, "max_wait": 60}

with DAG(
    dag_id="pt_retry_other",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    for if_exists in ("attach", "new"):
        CreateTrainingTaskOperator(
            task_id=f"tione_{if_exists}",
            name=f"pt-failing-task-{if_exists}",
            if_exists=if_exists,
            resource_config_infos=WORKER,
            start_cmd="python train.py",
            tags={"sim.duration": "0.2", "sim.outcome": "Failed"},
            **RETRY,
        )
        CreateJobOperator(
            task_id=f"tia_{if_exists}",
            name=f"pt-failing-job-{if_exists}",
            if_exists=if_exists,
            cluster="ap-beijing",
            runtime_version="tia-1.7.0",
            runtime_conf=["sim.duration=0.2", "sim.outcome=Failed"],
            **RETRY,
        )
