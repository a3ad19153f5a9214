"""`make demo-retraining`: three days of ``example_tione_retraining``, offline, against the embedded emulator.

moto's S3 server stands in for COS; the emulator runs the training task's two DDP workers, imports their
output into its model repository and serves model versions for real (``tiinfer`` runs the version's
``model_service.py``, as TI-ONE's inference images do). The emulator starts from an empty state, so:

1. day 1 trains on 100 digits: no service yet, the model is registered (v1) and the service created;
2. day 2 trains on 400 digits: better on the held-out set, so v2 is registered and rolled in in place;
3. day 3 trains on all digits (better again) but ships a ``model_service.py`` that fails to load: the
   deploy task fails, the service is rolled back, and it still answers from v2.

After each run the script calls the service itself and prints the prediction and the version serving it.
It exits 0 when the three runs behave as described (the third run's failure is the expected outcome).

    python example_dags/run_retraining.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "example_tione_retraining"
BUCKET = "tione-retraining-1250000000"
GROUP = "digits-classifier"
SUCCESS = ("success", "DagRunState.SUCCESS")
DAYS = (
    ("day 1: first deployment", {"samples": 100}),
    ("day 2: a better model is rolled in", {"samples": 400}),
    ("day 3: a broken model_service.py is rolled back", {"samples": 0, "break_model_service": True}),
)


def demo_module() -> Any:
    """``run_demo.py`` next to this file: the demos share its Airflow home and its setup."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_demo", ROOT / "example_dags" / "run_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "example_dags" / f"{DAG_ID}.py")).get_dag(DAG_ID)
    if dag is None:
        raise SystemExit(f"could not load {DAG_ID}")
    return dag


def task_states(run: Any) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
            )
        )
        return {task_id: str(state) for task_id, state in rows}


def xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, key="return_value", task_ids=task_id, dag_ids=run.dag_id)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def serving_now(group_id: str) -> tuple[str, dict]:
    """(the ModelVersionId the service's version runs, the service's answer to three held-out digits)."""
    from sklearn.datasets import load_digits

    from airflow_provider_tia.hooks.tione import TIONEHook

    hook = TIONEHook()
    group = hook.describe_model_service_group(group_id)
    versions = [str(s.model_version_id) for s in group.services if s.weight > 0 and s.status == "Normal"]
    features, labels = load_digits(return_X_y=True)
    reply = hook.call_model_service(group_id, {"instances": features[:3].tolist()})
    reply["digits"] = labels[:3].tolist()
    return ",".join(versions), reply


def run_day(title: str, conf: dict) -> tuple[Any, dict[str, str], dict]:
    """Run the DAG once: the run, its task states and the registered version (empty if none)."""
    print(f"\n==> {title}", flush=True)
    run = load_dag().test(run_conf={"bucket": BUCKET, **conf})
    states = task_states(run)
    print(f"==> run {run.run_id}: {run.state}; tasks {json.dumps(states, sort_keys=True)}", flush=True)
    return run, states, xcom(run, "register") or {}


def answers(reply: dict) -> str:
    return f"{reply['predictions']} for digits {reply['digits']}"


def rolled_in(title: str, conf: dict, previous: dict | None) -> dict | None:
    """A day whose model goes into service; what the next day checks against (None: it did not)."""
    run, _, registered = run_day(title, conf)
    deployed = xcom(run, "deploy") or {}
    if str(run.state) not in SUCCESS or not deployed:
        print(f"==> FAILED: {title} did not succeed")
        return None
    version, reply = serving_now(deployed["ServiceGroupId"])
    label = registered.get("TrainingModelVersion")
    print(f"==> the service answers {answers(reply)} from model version {label} ({version}), "
          f"trained by {reply['model']['tag']}")  # fmt: skip
    if version != registered.get("TrainingModelVersionId") or reply["model"]["tag"] != run.run_id:
        print("==> FAILED: the service does not answer from this run's model version")
        return None
    if previous is not None and version == previous["version"]:
        print("==> FAILED: no new version was rolled in")
        return None
    return {"version": version, "label": label, "tag": run.run_id, "group": deployed["ServiceGroupId"]}


def rolled_back(title: str, conf: dict, previous: dict) -> dict | None:
    """The broken model's day: the deploy task fails and the previous version still answers."""
    run, states, registered = run_day(title, conf)
    if str(run.state) in SUCCESS or states.get("deploy") != "failed":
        print("==> FAILED: the broken model's deploy task should have failed")
        return None
    if registered.get("TrainingModelVersionId") in (None, previous["version"]):
        print("==> FAILED: the broken model was not registered, so no roll was tried")
        return None
    version, reply = serving_now(previous["group"])
    print(f"==> the deploy task failed as expected; the service was rolled back and still answers "
          f"{answers(reply)} from model version {previous['label']} ({version}), "
          f"trained by {reply['model']['tag']}")  # fmt: skip
    if version != previous["version"] or reply["model"]["tag"] != previous["tag"]:
        print("==> FAILED: the service does not answer from the previous version")
        return None
    return previous


def main() -> int:
    import boto3

    from airflow_provider_tia.emulator import TIAEmulator, local_cos_server

    demo = demo_module()
    demo.prepare_airflow()
    state = demo.HOME / "emulator-retraining"
    shutil.rmtree(state, ignore_errors=True)  # day 1 is a first deployment
    with (
        local_cos_server() as cos,
        TIAEmulator(runner="local", state_dir=state, cos_endpoint=cos) as emulator,
    ):
        print(f"==> emulator (TI-ONE, real serving) on {emulator.url}, COS (moto) on {cos}", flush=True)
        connection = json.loads(emulator.connection_uri_json())
        connection["extra"]["cos_endpoint"] = cos
        os.environ["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"] = json.dumps(connection)
        # dag.test() runs triggers in line, with no scheduler to race: no need to hold their events back
        os.environ["AIRFLOW__TENCENTCLOUD__MIN_TRIGGER_EVENT_DELAY"] = "0"
        s3 = boto3.client("s3", endpoint_url=cos, region_name="ap-beijing",
                          aws_access_key_id="demo", aws_secret_access_key="demo")  # fmt: skip
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"})
        (title1, conf1), (title2, conf2), (title3, conf3) = DAYS
        first = rolled_in(title1, conf1, None)
        second = first and rolled_in(title2, conf2, first)
        if not second or not rolled_back(title3, conf3, second):
            return 1
    print("\n==> the retraining loop behaved as expected on all three days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
