"""The example DAGs parse cleanly and run end to end against the emulator (the job really trains)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "example_dags").glob("example_*.py"))


def test_example_dags_parse_without_errors(airflow_db) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == EXAMPLES
    for dag_id in EXAMPLES:
        assert set(bag.get_dag(dag_id).tags) == {"example", "tia"}


def xcom(dag_run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id, key="return_value", task_ids=task_id, dag_ids=dag_run.dag_id
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def test_seed_distributed_example_trains_and_saves_a_model(
    dag_loader, tia_connection, tmp_path, capfd
) -> None:
    run = dag_loader("example_tia_distributed").test(run_conf={"model_dir": str(tmp_path)})
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    job = xcom(run, "train")
    assert job["State"] == "Succeeded" and job["WorkerCount"] == 2 and job["ParameterServerCount"] == 1
    for pod in ("master-0", "worker-0", "worker-1", "ps-0"):
        assert f"[test-job-{pod}] replica {pod} starting" in out
    assert out.count("[test-job-master-0] master-0 epoch 8/8") == 1
    model = pickle.loads((tmp_path / "digits_sgd.pkl").read_bytes())
    assert model.predict([[0.0] * 64]).shape == (1,)
    assert xcom(run, "report") == f"{tmp_path}/digits_sgd.pkl"


def test_scheduled_retraining_example_defers_and_hands_the_job_downstream(
    dag_loader, tia_connection, tia_emulator, tmp_path, capfd
) -> None:
    run = dag_loader("example_tia_retraining").test(run_conf={"data_dir": str(tmp_path), "epochs": 2})
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    name = f"retrain-{run.logical_date:%Y%m%d}"
    assert xcom(run, "publish") == {"job": name, "state": "Succeeded"}
    assert f"[{name}-master-0] master-0 read 1797 samples from {tmp_path}" in out
    assert "epoch 2/2" in out
    assert "TI-A job " + name + " is Succeeded" in out  # the trigger ran
    tia_emulator.store.delete("ap-beijing", name)


@pytest.mark.parametrize("outcome", ["success", "failed"])
def test_sensor_example_waits_for_a_job_created_elsewhere(
    dag_loader, tia_connection, tia_emulator, tmp_path, outcome
) -> None:
    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.job import JobSpec

    name = f"elsewhere-{outcome}"
    code = "import time; time.sleep(1)" + ("" if outcome == "success" else "; raise SystemExit(2)")
    TIAHook(tia_connection).create_job(
        JobSpec(
            name=name,
            cluster="ap-beijing",
            runtime_version="r",
            package_dir=[str(tmp_path)],
            command=["python", "-c", code],
        )
    )
    run = dag_loader("example_tia_sensor").test(run_conf={"job_name": name})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    if outcome == "success":
        assert states == {"wait_for_job": "success", "after_training": "success"}
    else:
        assert states["wait_for_job"] == "failed" and states["after_training"] == "upstream_failed"
