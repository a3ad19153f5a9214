"""Jobs that end seconds after the task defers: five in a row per platform (the scheduler race)."""

from __future__ import annotations

import pendulum
from _deploy_common import tia_kwargs, tione_kwargs

from airflow_provider_tia.compat import DAG, chain
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

RUNS = 5
WAIT = {"deferrable": True, "print_logs": True, "poll_interval": 1, "max_wait": 600, "if_exists": "suffix"}

with DAG(
    dag_id="deploy_quick",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["deployment"],
):
    chain(
        *(
            CreateTrainingTaskOperator(
                task_id=f"tione_{n}",
                name=f"quick-tione-{n}",
                **WAIT,
                **tione_kwargs(3, 1, f"quick-tione-{n}"),
            )
            for n in range(1, RUNS + 1)
        )
    )
    chain(
        *(
            CreateJobOperator(
                task_id=f"tia_{n}", name=f"quick-tia-{n}", **WAIT, **tia_kwargs(3, 1, f"quick-tia-{n}")
            )
            for n in range(1, RUNS + 1)
        )
    )
