"""Test DAG (production truth): envs and tags are rendered exactly once. A value escaped with
``{% raw %}`` arrives as its literal text, and a param whose value looks like a template arrives as
that text (not rendered a second time)."""

from __future__ import annotations

import pendulum

from airflow_provider_tia.compat import DAG, Param
from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator

with DAG(
    dag_id="pt_render_once",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"p": Param("logs/{{ ds }}", type="string")},
) as dag:
    CreateTrainingTaskOperator(
        task_id="tione",
        name="pt-render-once",
        resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
        start_cmd="python train.py",
        envs={"RAW": "{% raw %}{{x}}{% endraw %}", "P": "{{ params.p }}", "PLAIN": "{{ dag.dag_id }}"},
        tags={"sim.duration": "0.2", "raw-tag": "{% raw %}{{y}}{% endraw %}", "p-tag": "{{ params.p }}"},
        poll_interval=0.2,
        max_wait=60,
    )
