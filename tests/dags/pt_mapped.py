"""Test DAG (production truth): dynamically mapped training, one FIXED name per operator.

``.partial(...).expand(...)`` takes the CreateTrainingTask / CreateJob fields by keyword; every mapped
instance creates its own task or job (its own ``airflow-task-key`` tag: the map index is in it)."""

from __future__ import annotations

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

FRAMEWORKS = ["PYTORCH", "TENSORFLOW", "SPARK"]
ARGS = [["train.py", "--shard", "0"], ["train.py", "--shard", "1"], ["train.py", "--shard", "2"]]

with DAG(
    dag_id="pt_mapped",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    CreateTrainingTaskOperator.partial(
        task_id="tione",
        name="pt-mapped-task",
        resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
        start_cmd="python train.py",
        tags={"sim.duration": "0.3"},
        poll_interval=0.2,
        max_wait=60,
    ).expand(framework_name=FRAMEWORKS)
    CreateJobOperator.partial(
        task_id="tia",
        name="pt-mapped-job",
        cluster="ap-beijing",
        runtime_version="tia-1.7.0",
        command=["python"],
        runtime_conf=["sim.duration=0.3"],
        poll_interval=0.2,
        max_wait=60,
    ).expand(args=ARGS)
