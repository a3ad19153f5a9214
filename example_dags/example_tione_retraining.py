"""Retrain every day on TI-ONE and keep the better model in service, never leaving the service down.

1. ``prepare_data`` splits the digits into a training pool and a fixed held-out set, and writes today's
   training data (the first ``samples`` of the pool; 0 = all of it) and the held-out set to COS.
2. ``train`` runs the DDP example (``tione_ddp/``) on two workers, as ``example_tione_training`` does
   (``ddp_training`` in ``_tione_digits.py``); its output folder holds ``model.pkl``, ``metrics.json`` and
   ``model_service.py``, the serving code TI-ONE's inference images load.
3. ``evaluate`` scores the new model and the one in service on the held-out set: the new one from its
   ``model.pkl``, the serving one by calling the service. With no service yet (the first run) the new
   model wins; when it is not better, the rest of the run is skipped (short-circuit).
4. ``register`` imports the training output into the model repository as the next version of the model.
5. ``deploy`` rolls the service to that version in place (creates it on the first run) and waits,
   deferred, until the new version serves; if it does not, the service is rolled back to the version it
   served before and the task fails with the service's events.
6. ``smoke_test`` sends three held-out digits to the service; ``show_prediction`` prints the reply.

The param ``break_model_service`` ships a ``model_service.py`` that fails to load, to see the rollback.
Needs ``airflow-provider-tia[cos]``, a ``tencentcloud`` connection and a bucket (``<name>-<appid>``) in the
connection's region. ``make demo-retraining`` runs it three times offline against the emulator, which
serves the model with ``tiinfer`` as TI-ONE does.
"""

from __future__ import annotations

import io

import pendulum
from _tione_digits import ddp_training, upload_npz

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_tia.models.tione import output_prefix
from airflow_provider_tia.operators.tione import (
    CallModelServiceOperator,
    CreateTrainingTaskOperator,
    DeployModelServiceOperator,
    RegisterModelVersionOperator,
)

RUN = "{{ dag_run.run_id | replace(':', '-') | replace('+', '-') }}"
DATA_PREFIX = f"datasets/digits-daily/{RUN}/"
HOLDOUT_KEY = "datasets/digits-holdout/holdout.npz"
SMOKE_DIGITS = 3

with DAG(
    dag_id="example_tione_retraining",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one roll of the service at a time
    params={
        "bucket": "tione-demo-1250000000",
        "cos_region": "ap-guangzhou",
        "epochs": 5,
        "samples": 0,
        "model_name": "digits-ddp",
        "service_group_name": "digits-classifier",
        "break_model_service": False,
    },
    tags=["example", "tione"],
) as dag:

    @task(multiple_outputs=True)  # prepared["payload"] is the smoke test's request
    def prepare_data(data_prefix: str, params: dict) -> dict:  # params last: Airflow 2 defaults it
        """Today's training data and the held-out set in COS; three held-out digits for the smoke test."""
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        features, labels = load_digits(return_X_y=True)
        x_pool, x_held, y_pool, y_held = train_test_split(
            features, labels, test_size=0.25, random_state=1, stratify=labels
        )
        samples = int(params["samples"]) or len(y_pool)
        upload_npz(params["bucket"], f"{data_prefix}digits.npz", X=x_pool[:samples], y=y_pool[:samples])
        upload_npz(params["bucket"], HOLDOUT_KEY, X=x_held, y=y_held)
        print(f"training data: {min(samples, len(y_pool))} digits; held-out set: {len(y_held)} digits")
        smoke = x_held[:SMOKE_DIGITS]
        return {
            "payload": {"instances": smoke.tolist()},
            "labels": [int(y) for y in y_held[:SMOKE_DIGITS]],
        }

    prepared = prepare_data(data_prefix=DATA_PREFIX)

    train = CreateTrainingTaskOperator(
        task_id="train",
        name="digits-daily",
        envs={
            "EPOCHS": "{{ params.epochs }}",
            "MODEL_TAG": "{{ run_id }}",  # metrics.json, returned by the service with each prediction
            "BREAK_MODEL_SERVICE": "{{ params.break_model_service }}",
        },
        **ddp_training(DATA_PREFIX, f"models-daily/{RUN}/"),  # tione_ddp/ on two DDP workers
    )

    @task.short_circuit
    def evaluate(trained: dict, params: dict) -> bool:
        """Whether the new model beats the serving one on the held-out set (no service: it does)."""
        import pickle

        import numpy as np

        from airflow_provider_tia.exceptions import ModelServiceCallError
        from airflow_provider_tia.hooks.cos import COSHook
        from airflow_provider_tia.hooks.tione import TIONEHook

        cos = COSHook()
        with np.load(io.BytesIO(cos.read_object(params["bucket"], HOLDOUT_KEY))) as held:
            features, labels = held["X"], held["y"]
        blob = cos.read_object(trained["Output"]["Bucket"], f"{output_prefix(trained)}model.pkl")
        model = pickle.loads(blob)  # noqa: S301 - the model this run's training task wrote
        new = float(np.mean(model.predict(features) == labels))
        print(f"new model: held-out accuracy {new:.4f} on {len(labels)} digits")

        hook = TIONEHook()
        groups = hook.find_model_service_groups(name=params["service_group_name"])
        if not groups:
            print(f"no service {params['service_group_name']!r} yet: the new model goes into service")
            return True
        try:
            reply = hook.call_model_service(groups[0].id, {"instances": features.tolist()})
        except ModelServiceCallError as error:  # nothing answers: a new model can only help
            print(f"the service does not answer ({error}): the new model goes into service")
            return True
        serving = float(np.mean(np.asarray(reply["predictions"]) == labels))
        print(
            f"serving model (trained by {reply.get('model', {}).get('tag')}): held-out accuracy {serving:.4f}"
        )
        if new > serving:
            print("the new model is better: register it and roll the service")
            return True
        print("the new model is not better: the service keeps its model")
        return False

    register = RegisterModelVersionOperator(
        task_id="register",
        training_task=train.output,
        model_name="{{ params.model_name }}",
        deferrable=True,
        poll_interval=1,
    )

    deploy = DeployModelServiceOperator(
        task_id="deploy",
        service_group_name="{{ params.service_group_name }}",
        model_version=register.output,
        strategy="in_place",  # or "blue_green": a new version in the group, then the traffic moved to it
        rollback_on_failure=True,
        charge_type="POSTPAID_BY_HOUR",  # the first deployment's configuration; later ones copy the live one
        instance_type="TI.S.MEDIUM.POST",
        replicas=1,
        authorization_enable=True,
        healthy_timeout=600,
        abnormal_grace=15,  # a model_service.py that fails to load does not recover by waiting
        deferrable=True,
        poll_interval=1,
    )

    smoke_test = CallModelServiceOperator(
        task_id="smoke_test",
        service_group_id="{{ ti.xcom_pull(task_ids='deploy')['ServiceGroupId'] }}",
        payload=prepared["payload"],
    )

    @task
    def show_prediction(reply: dict, deployed: dict, labels: list) -> None:
        """Print what the service answered, and which model version and training run answered."""
        model = reply.get("model", {})
        print(
            f"service {deployed['ServiceGroupId']} serves model version {deployed.get('ModelVersionId')} "
            f"(trained by {model.get('tag')}, test accuracy in training {model.get('accuracy', 0):.4f}): "
            f"predicted {reply.get('predictions')} for digits {labels}"
        )

    prepared >> train
    evaluate(train.output) >> register >> deploy >> smoke_test
    show_prediction(smoke_test.output, deploy.output, prepared["labels"])
