"""Test DAG: TrainingTaskSensor on a task given by params, poking or deferred."""

from __future__ import annotations

import pendulum

from airflow_provider_tia.compat import DAG, Param
from airflow_provider_tia.sensors.tione import TrainingTaskSensor

with DAG(
    dag_id="tione_test_sensor",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"task_id": Param("train-0", type="string")},
) as dag:
    TrainingTaskSensor(task_id="poke", training_task_id="{{ params.task_id }}", poke_interval=0.5, timeout=60)
    TrainingTaskSensor(
        task_id="deferred",
        training_task_id="{{ params.task_id }}",
        poke_interval=0.5,
        timeout=60,
        deferrable=True,
    )
