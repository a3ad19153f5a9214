"""Train on TI-ONE: prepare data in COS, train a 2-worker DDP-style task, read the model back.

1. ``prepare_data`` writes the dataset to the data bucket (the ETL step of a real pipeline).
2. ``train`` packs ``tione_ddp/`` (next to this file) into COS as the code package and runs it
   on two workers (``TrainingMode=DDP``: each worker sees RANK, WORLD_SIZE, MASTER_ADDR and
   MASTER_PORT); the task's logs stream into the Airflow task log, and the result is the task's dict.
   Its arguments, shared with ``example_tione_retraining``, are ``ddp_training`` in ``_tione_digits.py``.
3. ``read_model`` reads ``metrics.json`` from the task's folder in its ``Output``: the outputs of a task
   go under ``<Output path><task Id>/`` (``output_prefix``).

Needs ``airflow-provider-tia[cos]``, a ``tencentcloud`` connection and buckets (``<name>-<appid>``)
in the connection's region. ``make demo-tione`` runs it offline against the emulator and moto.
"""

from __future__ import annotations

import json

import pendulum
from _tione_digits import ddp_training, upload_npz

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_tia.models.tione import output_prefix
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

DATA_PREFIX = "datasets/digits/"

with DAG(
    dag_id="example_tione_training",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"bucket": "tione-demo-1250000000", "cos_region": "ap-guangzhou", "epochs": 5},
    tags=["example", "tione"],
) as dag:

    @task
    def prepare_data(params: dict) -> str:
        """The digits dataset as ``digits.npz`` under ``datasets/digits/`` in the bucket."""
        from sklearn.datasets import load_digits

        features, labels = load_digits(return_X_y=True)
        return upload_npz(params["bucket"], f"{DATA_PREFIX}digits.npz", X=features, y=labels)

    train = CreateTrainingTaskOperator(
        task_id="train",
        name="digits-ddp",  # held by an earlier run's task: this run's is digits-ddp-<hash> (if_exists="new")
        envs={"EPOCHS": "{{ params.epochs }}"},
        # tione_ddp/ on two DDP workers, reading DATA_PREFIX of the bucket, writing under models/<run>/
        **ddp_training(DATA_PREFIX, "models/{{ dag_run.run_id | replace(':', '-') | replace('+', '-') }}/"),
    )

    @task
    def read_model(trained: dict) -> dict:
        """The model's metrics, read from the training task's folder in its Output bucket."""
        from airflow_provider_tia.hooks.cos import COSHook

        bucket, prefix = trained["Output"]["Bucket"], output_prefix(trained)
        metrics = json.loads(COSHook().read_object(bucket, f"{prefix}metrics.json"))
        model = f"cos://{bucket}/{prefix}model.pkl"
        print(f"model {model}: accuracy {metrics['accuracy']:.4f} on {metrics['test_size']} test digits")
        return {"model": model, **metrics}

    prepare_data() >> train
    read_model(train.output)
