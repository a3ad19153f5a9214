"""Scheduled runs of a job with a fixed name (no templating): @daily with catchup, three runs.

Airflow 3 runs a cron schedule at its ticks (``CronTriggerTimetable``: ``[scheduler]
create_cron_data_intervals`` is False), so a start two days ago at midnight makes three runs: two days
ago, yesterday and today at 00:00 UTC. Three runs must create three jobs, not attach to the first one.
"""

from __future__ import annotations

import pendulum
from _deploy_common import tia_kwargs, tione_kwargs

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

START = pendulum.today("UTC").subtract(days=2)  # ticks: two days ago, yesterday, today
WAIT = {"deferrable": False, "print_logs": True, "poll_interval": 1, "max_wait": 600}

with DAG(dag_id="deploy_tione_daily", schedule="@daily", start_date=START, catchup=True, tags=["deployment"]):
    CreateTrainingTaskOperator(
        task_id="train", name="daily-tione", **WAIT, **tione_kwargs(3, 1, "daily-tione")
    )

with DAG(dag_id="deploy_tia_daily", schedule="@daily", start_date=START, catchup=True, tags=["deployment"]):
    CreateJobOperator(task_id="train", name="daily-tia", **WAIT, **tia_kwargs(3, 1, "daily-tia"))
