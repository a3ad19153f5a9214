"""Test DAG: JobSensor on jobs created by the test (succeeded, failed, failed + soft_fail, missing)."""

from __future__ import annotations

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.sensors.tia import JobSensor

with DAG(
    dag_id="tia_test_sensor",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    params={"prefix": "n"},
) as dag:
    common = dict(cluster="ap-beijing", poke_interval=0.5, timeout=60)
    JobSensor(task_id="ok", job_name="{{ params.prefix }}-ok", **common)
    JobSensor(task_id="ok_deferred", job_name="{{ params.prefix }}-later", deferrable=True, **common)
    JobSensor(task_id="bad", job_name="{{ params.prefix }}-bad", **common)
    JobSensor(task_id="bad_soft", job_name="{{ params.prefix }}-bad", soft_fail=True, **common)
    JobSensor(task_id="missing", job_name="{{ params.prefix }}-missing", **common)
