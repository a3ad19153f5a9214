"""Wait for a TI-A job created elsewhere (another team's pipeline, the console), then go on.

The sensor is deferrable: while the job runs, no worker slot is held.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_tia.sensors.tia import JobSensor

with DAG(
    dag_id="example_tia_sensor",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"job_name": "test-job", "cluster": "ap-beijing"},
    tags=["example", "tia"],
) as dag:
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

    after_training(wait.output)
