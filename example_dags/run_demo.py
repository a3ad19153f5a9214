"""`make demo` / `make demo-tione`: run an example DAG against the embedded emulator, offline.

- ``tia`` (``make demo``): the distributed TI-A DAG; the emulator's local runner really runs the
  job's master, parameter server and two workers as processes and the model lands on disk.
- ``tione`` (``make demo-tione``): the TI-ONE DAG; moto's S3 server stands in for COS, the emulator
  fetches the code package from it, runs two DDP workers and uploads their output to it, and the
  last task reads the model's accuracy back from the output bucket.

    python example_dags/run_demo.py [tia|tione]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".airflow-demo"


def prepare_airflow() -> None:
    HOME.mkdir(exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
        }
    )
    print("==> preparing Airflow's metadata DB in", HOME, flush=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


def run_dag(dag_id: str, conf: dict) -> str:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "example_dags" / f"{dag_id}.py")).get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"could not load {dag_id}")
    print(f"==> running DAG {dag_id} with dag.test()", flush=True)
    state = str(getattr(dag.test(run_conf=conf), "state", None))
    print(f"==> DAG run state: {state}")
    return state


def demo_tia() -> bool:
    from airflow_provider_tia.emulator import TIAEmulator

    model = HOME / "model" / "digits_sgd.pkl"
    with TIAEmulator(runner="local", state_dir=HOME / "emulator") as emulator:
        print(f"==> TI-A emulator listening on {emulator.url}", flush=True)
        os.environ["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"] = emulator.connection_uri_json()
        state = run_dag("example_tia_distributed", {"model_dir": str(model.parent)})
        for job in emulator.store.list("ap-beijing"):
            print(f"==> TI-A job {job.get('Name')}: {job.get('State')} ({job.get('Message')})")
    print(f"==> model saved to {model}" if model.exists() else "==> no model was saved")
    return state in ("success", "DagRunState.SUCCESS") and model.exists()


def demo_tione() -> bool:
    import boto3

    from airflow_provider_tia.emulator import TIAEmulator, local_cos_server

    bucket = "tione-demo-1250000000"
    with (
        local_cos_server() as cos,
        TIAEmulator(runner="local", state_dir=HOME / "emulator-tione", cos_endpoint=cos) as emulator,
    ):
        print(f"==> emulator (TI-A and TI-ONE) on {emulator.url}, COS (moto) on {cos}", flush=True)
        connection = json.loads(emulator.connection_uri_json())
        connection["extra"]["cos_endpoint"] = cos
        os.environ["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"] = json.dumps(connection)
        s3 = boto3.client(
            "s3",
            endpoint_url=cos,
            region_name="ap-beijing",
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        )
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"})
        state = run_dag("example_tione_training", {"bucket": bucket})
        models = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
            if o["Key"].endswith(".pkl")
        ]
        metrics = [k.replace("model.pkl", "metrics.json") for k in models]
        for model, metric in zip(models, metrics, strict=True):
            accuracy = json.loads(s3.get_object(Bucket=bucket, Key=metric)["Body"].read())["accuracy"]
            print(f"==> model cos://{bucket}/{model}: accuracy {accuracy:.4f}")
    return state in ("success", "DagRunState.SUCCESS") and bool(models)


def main() -> int:
    platform = sys.argv[1] if len(sys.argv) > 1 else "tia"
    if platform not in ("tia", "tione"):
        print("usage: run_demo.py [tia|tione]", file=sys.stderr)
        return 2
    prepare_airflow()
    return 0 if (demo_tia() if platform == "tia" else demo_tione()) else 1


if __name__ == "__main__":
    sys.exit(main())
