"""A DAG file pays only for building its tasks (both platforms' and the retraining loop's): the engines that act on a job (``lifecycle``, ``ending``,
``staging``, the hooks, the SDK, the triggers, the job controllers and reply models) load when a task
runs, not on every parse of the DAG file (``make bench`` measures what is left: docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.support import ROOT

# What building both platforms' operator and sensor must not load.
EXECUTE_TIME = (
    "airflow_provider_tia.lifecycle",
    "airflow_provider_tia.ending",
    "airflow_provider_tia.staging",
    "airflow_provider_tia.logs",
    "airflow_provider_tia.dialogue",
    "airflow_provider_tia.lineage",
    "airflow_provider_tia.hooks",
    "airflow_provider_tia.triggers",
    "airflow_provider_tia.operators.control",
    "airflow_provider_tia.operators.tia.job_control",
    "airflow_provider_tia.operators.tione.training_control",
    "airflow_provider_tia.models.tia.job",
    "airflow_provider_tia.models.tione.training_task",
    "tencentcloud",
)

DAG_FILE = """
import sys
import pendulum
try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow.models.dag import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione import (
    CallModelServiceOperator, CreateTrainingTaskOperator, DeployModelServiceOperator, RegisterModelVersionOperator,
)
from airflow_provider_tia.sensors.tia import JobSensor
from airflow_provider_tia.sensors.tione import ModelServiceSensor, TrainingTaskSensor

with DAG("parse_cost", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
    CreateJobOperator(task_id="tia", name="job", cluster="ap-beijing", runtime_version="tia-1.7.0",
                      code_dir="/code", code_bucket="code-1250000000", deferrable=True)
    JobSensor(task_id="tia_wait", job_name="other", cluster="ap-beijing")
    CreateTrainingTaskOperator(task_id="tione", name="task", start_cmd="python train.py",
                               code_dir="/code", code_bucket="code-1250000000", deferrable=True)
    TrainingTaskSensor(task_id="tione_wait", training_task_id="train-1")
    # The retraining loop's tasks (example_tione_retraining).
    RegisterModelVersionOperator(task_id="register", training_task="train-1", model_name="m", deferrable=True)
    DeployModelServiceOperator(task_id="deploy", service_group_name="g", model_version="mv-1", deferrable=True,
                               charge_type="POSTPAID_BY_HOUR", instance_type="TI.S.MEDIUM.POST", replicas=1)
    CallModelServiceOperator(task_id="call", service_group_id="ms-1", payload={"x": 1})
    ModelServiceSensor(task_id="serving", service_group_id="ms-1")

for module in sorted(sys.modules):
    print(module)
"""


def test_building_the_tasks_of_a_dag_file_loads_no_execute_time_module() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", DAG_FILE], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert "airflow_provider_tia.operators.tione.training" in loaded  # the probe saw our modules
    early = [m for m in loaded if any(m == name or m.startswith(name + ".") for name in EXECUTE_TIME)]
    assert not early, f"loaded while parsing a DAG file: {early}"
