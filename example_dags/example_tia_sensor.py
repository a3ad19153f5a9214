"""Wait for a TI-A job created elsewhere (another team's pipeline, the console), then go on.

The sensor is deferrable: while the job runs, no worker slot is held. So that the example runs on its
own (``make ui``, the emulator), ``start_elsewhere`` stands in for the other pipeline: it starts the
job when it does not exist yet and adopts it when it does (``if_exists="attach"``), without waiting.
In a real DAG, leave it out: the sensor fails at once when the job does not exist.
"""

from __future__ import annotations

from pathlib import Path

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.sensors.tia import JobSensor

CODE = str(Path(__file__).resolve().parent / "mnist")

with DAG(
    dag_id="example_tia_sensor",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"job_name": "test-job", "cluster": "ap-beijing"},
    tags=["example", "tia"],
) as dag:
    start_elsewhere = CreateJobOperator(
        task_id="start_elsewhere",
        name="{{ params.job_name }}",
        cluster="{{ params.cluster }}",
        runtime_version="tia-1.7.0",
        package_dir=[CODE],
        command=["python"],
        args=["mnist_saved_model.py", "--epochs", "2"],
        if_exists="attach",  # the other pipeline's job: adopt it, never start a second one
        wait_for_completion=False,
    )

    wait = JobSensor(
        task_id="wait_for_job",
        job_name="{{ params.job_name }}",
        cluster="{{ params.cluster }}",
        poke_interval=2,
        timeout=3600,
        deferrable=True,
    )

    @task
    def after_training(job: dict | None = None) -> None:
        print(f"job {job['Name'] if job else '?'} succeeded; downstream work starts")

    start_elsewhere >> wait
    after_training(wait.output)
