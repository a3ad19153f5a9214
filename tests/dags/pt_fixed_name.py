"""Test DAG (production truth): a scheduled DAG whose jobs have FIXED names (no templating), on TI-A and
TI-ONE. With the default ``if_exists="new"`` every run trains: the first under the plain name, later
runs under ``<name>-<hash of dag, task, run, map index>``. Jobs run on the simulated runner."""

from __future__ import annotations

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

WORKER = [{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}]

with DAG(
    dag_id="pt_fixed_name",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    CreateJobOperator(
        task_id="tia",
        name="pt-fixed-job",
        cluster="ap-beijing",
        runtime_version="tia-1.7.0",
        runtime_conf=["sim.duration=0.3"],
        poll_interval=0.2,
        max_wait=60,
    )
    CreateTrainingTaskOperator(
        task_id="tione",
        name="pt-fixed-task",
        resource_config_infos=WORKER,
        start_cmd="python train.py",
        tags={"sim.duration": "0.3"},
        poll_interval=0.2,
        max_wait=60,
    )
