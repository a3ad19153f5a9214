"""Dynamic task mapping over a CreateJob field: one TI-A job per mapped instance."""

from __future__ import annotations

import pendulum
from _deploy_common import tia_kwargs

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator

TOKENS = ["mapped-tia-0", "mapped-tia-1", "mapped-tia-2"]

with DAG(
    dag_id="deploy_tia_mapped",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["deployment"],
):
    base = tia_kwargs(3, 1, "x")
    CreateJobOperator.partial(
        task_id="train",
        name="mapped-tia",
        if_exists="suffix",
        deferrable=True,
        poll_interval=1,
        max_wait=600,
        **{k: v for k, v in base.items() if k != "args"},
    ).expand(args=[["counted.py", "--lines", "3", "--sleep", "1", "--token", t] for t in TOKENS])
