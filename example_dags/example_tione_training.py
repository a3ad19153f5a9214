"""Train on TI-ONE: prepare data in COS, train a 2-worker DDP-style task, read the model back.

1. ``prepare_data`` writes the dataset to the data bucket (the ETL step of a real pipeline).
2. ``train`` packs ``tione_ddp/`` (next to this file) into COS as the code package and runs it
   on two workers (``TrainingMode=DDP``: each worker sees RANK, WORLD_SIZE, MASTER_ADDR and
   MASTER_PORT); the task's logs stream into the Airflow task log, and the result is the task's dict.
3. ``read_model`` reads ``metrics.json`` from the task's folder in its ``Output``: the outputs of a task
   go under ``<Output path><task Id>/`` (``output_prefix``).

Needs ``airflow-provider-tia[cos]``, a ``tencentcloud`` connection and buckets (``<name>-<appid>``)
in the connection's region. ``make demo-tione`` runs it offline against the emulator and moto.
"""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_tia.models.tione import output_prefix
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

CODE_DIR = str(Path(__file__).resolve().parent / "tione_ddp")
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
        import tempfile

        import numpy as np
        from sklearn.datasets import load_digits

        from airflow_provider_tia.hooks.cos import COSHook

        features, labels = load_digits(return_X_y=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "digits.npz"
            np.savez_compressed(path, X=features, y=labels)
            COSHook().upload_file(path, params["bucket"], f"{DATA_PREFIX}digits.npz")
        return f"{DATA_PREFIX}digits.npz"

    train = CreateTrainingTaskOperator(
        task_id="train",
        name="digits-ddp",  # held by an earlier run's task: this run's is digits-ddp-<hash> (if_exists="new")
        charge_type="POSTPAID_BY_HOUR",
        framework_name="PYTORCH",
        framework_environment="torch1.9-py3.8-cuda11.1-gpu",
        training_mode="DDP",
        resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 2}],
        code_dir=CODE_DIR,
        code_bucket="{{ params.bucket }}",
        start_cmd="python train_ddp.py",
        envs={"EPOCHS": "{{ params.epochs }}"},
        data_source="COS",
        data_configs=[
            {
                "DataSourceType": "COS",
                "MappingPath": "/opt/ml/input/data/",
                "COSSource": {
                    "Bucket": "{{ params.bucket }}",
                    "Region": "{{ params.cos_region }}",
                    "Paths": [DATA_PREFIX],
                },
            }
        ],
        output_path={
            "Bucket": "{{ params.bucket }}",
            "Region": "{{ params.cos_region }}",
            "Paths": ["models/{{ dag_run.run_id | replace(':', '-') | replace('+', '-') }}/"],
        },
        tags={"team": "ml"},
        poll_interval=1,
        max_wait=1800,
        deferrable=True,  # waits in the triggerer; the logs still stream into the task log
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
