"""The seed's distributed TI-A job as a DAG: `test-job` on ap-beijing, 1 master, 1 parameter server and
2 workers (1U1G0P), runtime tia-1.7.0, `python mnist_saved_model.py`.

Against Tencent Cloud, set the connection `tencentcloud_default` and `package_dir` to your NFS/CFS/COS
address. Against the local emulator (`make demo`), `package_dir` is the local folder beside this file.
"""

from __future__ import annotations

from pathlib import Path

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_tia.operators.tia import CreateJobOperator

CODE_DIR = str(Path(__file__).resolve().parent / "mnist")

with DAG(
    dag_id="example_tia_distributed",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"package_dir": CODE_DIR, "model_dir": "/tmp/tia-models/test-job"},
    tags=["example", "tia"],
) as dag:
    train = CreateJobOperator(
        task_id="train",
        name="test-job",
        cluster="ap-beijing",
        runtime_version="tia-1.7.0",
        package_dir=["{{ params.package_dir }}"],
        command=["python"],
        args=["mnist_saved_model.py", "--model-dir", "{{ params.model_dir }}"],
        scale_tier="Custom",
        master_type="1U1G0P",
        worker_type="1U1G0P",
        parameter_server_type="1U1G0P",
        worker_count=2,
        parameter_server_count=1,
        poll_interval=2,
        max_wait=3600,
    )

    @task
    def report(job: dict, params: dict | None = None) -> str:
        """Print the final state and where the master saved the model."""
        model = f"{params['model_dir']}/digits_sgd.pkl" if params else "?"
        print(f"TI-A job {job['Name']} finished {job['State']}; model saved to {model}")
        return model

    report(train.output)
