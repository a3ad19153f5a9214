"""Reliability DAG: CreateJobOperator (polling and deferrable) against a faulty emulator (simulated runner).

The connection ``tia_rel_dag`` is set by tests/reliability/test_transient_faults.py.
"""

from __future__ import annotations

import pendulum

from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tia import CreateJobOperator

JOB = dict(
    cluster="ap-beijing",
    runtime_version="tia-1.7.0",
    command=["python"],
    args=["train.py"],
    tencentcloud_conn_id="tia_rel_dag",
    poll_interval=0.3,
    max_wait=120,
)


def sim(duration: float, outcome: str, lines: int) -> list[str]:
    return [f"sim.duration={duration}", f"sim.outcome={outcome}", f"sim.log_lines={lines}"]


with DAG(
    dag_id="tia_rel_faults",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    CreateJobOperator(
        task_id="sync_ok",
        name="rel-dag-sync-ok",
        runtime_conf=sim(1.5, "Succeeded", 12),
        scale_tier="Custom",
        master_type="1U1G0P",
        worker_type="1U1G0P",
        worker_count=1,
        **JOB,
    )
    CreateJobOperator(
        task_id="deferred_ok",
        name="rel-dag-deferred-ok",
        deferrable=True,
        runtime_conf=sim(1.5, "Succeeded", 12),
        **JOB,
    )
    CreateJobOperator(
        task_id="deferred_failed",
        name="rel-dag-deferred-failed",
        deferrable=True,
        runtime_conf=sim(1.0, "Failed", 8),
        **JOB,
    )
