"""Non-deferrable jobs of ~30 s (scenario: the extra link while the task runs)."""

from __future__ import annotations

import pendulum
from _deploy_common import tia_kwargs, tione_kwargs

from airflow_provider_tia.compat import DAG, Param
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

PARAMS = {
    "lines": Param(15, type="integer"),
    "sleep": Param(2.0, type="number"),
    "token": Param("blocking", type="string"),
}
LINES, SLEEP, TOKEN = "{{ params.lines }}", "{{ params.sleep }}", "{{ params.token }}"
WAIT = {"deferrable": False, "print_logs": True, "poll_interval": 2, "max_wait": 600, "if_exists": "suffix"}

with DAG(
    dag_id="deploy_tione_blocking",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params=PARAMS,
    tags=["deployment"],
):
    CreateTrainingTaskOperator(task_id="train", name=TOKEN, **WAIT, **tione_kwargs(LINES, SLEEP, TOKEN))

with DAG(
    dag_id="deploy_tia_blocking",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params=PARAMS,
    tags=["deployment"],
):
    CreateJobOperator(task_id="train", name=TOKEN, **WAIT, **tia_kwargs(LINES, SLEEP, TOKEN))
