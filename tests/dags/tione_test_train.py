"""Test DAG: a CreateTrainingTaskOperator running tests/dags/scripts/train.py on two DDP workers,
its code staged to COS (moto) from ``code_dir``; most fields templated from params."""

from __future__ import annotations

from pathlib import Path

import pendulum

from airflow_provider_tia.compat import DAG, Param
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

SCRIPTS = str(Path(__file__).resolve().parent / "scripts")

PARAMS = {
    "prefix": Param("t", type="string"),
    "bucket": Param("tione-test-1250000000", type="string"),
    "workers": Param(2),
    "lines": Param(3, type="integer"),
    "sleep": Param(0.0),
    "fail": Param(False, type="boolean"),
    "charge_type": Param("POSTPAID_BY_HOUR", type="string"),
}


def training_dag(dag_id: str, **options: object) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        params=PARAMS,
    ) as dag:
        CreateTrainingTaskOperator(
            task_id="train",
            name="{{ params.prefix }}",
            if_exists="suffix",
            charge_type="{{ params.charge_type }}",
            training_mode="DDP",
            resource_config_infos=[
                {"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": "{{ params.workers }}"}
            ],
            code_dir=SCRIPTS,
            code_bucket="{{ params.bucket }}",
            start_cmd=(
                "python train.py --lines {{ params.lines }} --sleep {{ params.sleep }} "
                "--fail {{ params.fail }} --token {{ params.prefix }}"
            ),
            envs={"RUN": "{{ run_id }}"},
            output_path={
                "Bucket": "{{ params.bucket }}",
                "Region": "ap-beijing",
                "Paths": ["out/{{ params.prefix }}/"],
            },
            tags={"suite": "dag-test"},
            poll_interval=0.5,
            **options,  # type: ignore[arg-type]
        )
    return dag


polling = training_dag("tione_test_train", max_wait=120)
deferred = training_dag("tione_test_deferred", max_wait=120, deferrable=True)
timeout = training_dag("tione_test_timeout", max_wait=4)
