"""Dynamic task mapping over a CreateTrainingTask field: one training task per mapped instance."""

from __future__ import annotations

import pendulum
from _deploy_common import tione_kwargs

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

FRAMEWORKS = ["PYTORCH", "TENSORFLOW", "SKLEARN"]

with DAG(
    dag_id="deploy_tione_mapped",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["deployment"],
):
    CreateTrainingTaskOperator.partial(
        task_id="train",
        name="mapped-tione",
        if_exists="suffix",
        deferrable=True,
        poll_interval=1,
        max_wait=600,
        **tione_kwargs(3, 1, "mapped-tione"),
    ).expand(framework_name=FRAMEWORKS)
