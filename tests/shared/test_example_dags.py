"""The example DAGs parse cleanly and run end to end against the emulator (the job really trains).

Runs start as an Airflow 3 manual run does (UI button, `airflow dags trigger`): without a logical date, so
`ds`, `ds_nodash` and `logical_date` are undefined in templates.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest

from airflow_provider_tia.models.tione.training_task import output_prefix
from tests.helpers import airflow_compat
from tests.helpers.dag_runs import xcom
from tests.helpers.support import ROOT, own_name

if TYPE_CHECKING:
    from pathlib import Path

EXAMPLES = sorted(p.stem for p in (ROOT / "example_dags").glob("example_*.py"))
MANUAL = {"logical_date": None}
TRIGGER_RAN = "[DAG TEST] running trigger in line"  # dag.test() logs this when a task defers
SHORT_SECRET_WARNING = "Skipping masking for a secret as it's too short"


def test_example_dags_parse_without_errors(airflow_db) -> None:
    DagBag = airflow_compat.first("DagBag")
    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == EXAMPLES
    for dag_id in EXAMPLES:
        platform = dag_id.split("_")[1]  # example_<platform>_...
        assert set(bag.get_dag(dag_id).tags) == {"example", platform} and platform in ("tia", "tione")


def test_tione_example_trains_ddp_from_cos_and_reads_the_model_back(
    dag_loader, cos_connection, capfd
) -> None:
    from airflow_provider_tia.hooks.cos import COSHook

    bucket = "tione-example-1250000000"
    COSHook().client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"}
    )
    run = airflow_compat.dag_test(
        dag_loader("example_tione_training"), run_conf={"bucket": bucket, "epochs": 3}, **MANUAL
    )
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    task = xcom(run, "train")
    assert task["Status"] == "SUCCEED" and task["TrainingMode"] == "DDP"
    for rank in (0, 1):
        assert f"worker {rank} epoch 3: shard accuracy" in out  # both workers trained, logs streamed
    model = xcom(run, "read_model")
    assert model["workers"] == 2 and model["epochs"] == 3 and model["accuracy"] > 0.8
    assert model["model"] == f"cos://{bucket}/{output_prefix(task)}model.pkl"
    assert output_prefix(task) == f"{task['Output']['Paths'][0]}{task['Id']}/"


def test_seed_distributed_example_trains_and_saves_a_model(
    dag_loader, tia_connection, tmp_path, capfd
) -> None:
    run = airflow_compat.dag_test(
        dag_loader("example_tia_distributed"), run_conf={"model_dir": str(tmp_path)}, **MANUAL
    )
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    assert run.logical_date is None or not hasattr(run, "run_after")  # Airflow 2: every run has a date
    job = xcom(run, "train")
    assert job["State"] == "Succeeded" and job["WorkerCount"] == 2 and job["ParameterServerCount"] == 1
    name = job["Name"]  # test-job, or test-job-<hash> where it is another run's job's or no store records it
    assert name.startswith("test-job")
    for pod in ("master-0", "worker-0", "worker-1", "ps-0"):
        assert f"[{name}-{pod}] replica {pod} starting" in out
    assert out.count(f"[{name}-master-0] master-0 epoch 8/8") == 1
    model = pickle.loads((tmp_path / "digits_sgd.pkl").read_bytes())
    assert model.predict([[0.0] * 64]).shape == (1,)
    assert xcom(run, "report") == f"{tmp_path}/digits_sgd.pkl"


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(MANUAL, id="manual"),
        pytest.param(  # the @daily run for 2024-01-01, due at the end of its interval
            {
                "logical_date": datetime(2024, 1, 1, tzinfo=timezone.utc),
                "run_after": datetime(2024, 1, 2, tzinfo=timezone.utc),
            },
            id="scheduled",
        ),
    ],
)
def test_retraining_example_defers_and_hands_the_job_downstream(
    dag_loader, tia_connection, tia_emulator, tmp_path, capfd, caplog, when
) -> None:
    run = airflow_compat.dag_test(
        dag_loader("example_tia_retraining"), run_conf={"data_dir": str(tmp_path), "epochs": 2}, **when
    )
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    # When the run was due; Airflow 2 has no run_after, and the example names the run by its logical date.
    stamp = f"{getattr(run, 'run_after', run.logical_date):%Y%m%d-%H%M%S}"
    if when is not MANUAL:
        assert stamp == ("20240102-000000" if hasattr(run, "run_after") else "20240101-000000")
    name = own_name(f"retrain-{stamp}", run.dag_id, run.run_id)
    assert xcom(run, "publish") == {"job": name, "state": "Succeeded"}
    data = tmp_path / f"digits-{stamp}.csv"
    assert xcom(run, "prepare_data") == str(data) and data.is_file()
    assert not list(tmp_path.glob("digits-None*"))
    assert f"[{name}-master-0] master-0 read 1797 samples from {data}" in out
    assert "epoch 2/2" in out
    assert TRIGGER_RAN in out + caplog.text  # stdout or logging, as Airflow's logging is set up by then
    assert (tmp_path / f"model-{stamp}" / "digits_sgd.pkl").is_file()
    tia_emulator.store.delete("ap-beijing", name)


@pytest.mark.parametrize("outcome", ["success", "failed"])
def test_sensor_example_waits_for_a_job_created_elsewhere(
    dag_loader, tia_connection, tia_emulator, tmp_path, outcome
) -> None:
    name = f"elsewhere-{outcome}"
    create_job(tia_connection, name, tmp_path, fail=outcome == "failed")
    calls_before = tia_emulator.calls["CreateJob"]
    run = airflow_compat.dag_test(dag_loader("example_tia_sensor"), run_conf={"job_name": name}, **MANUAL)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["start_elsewhere"] == "success"  # adopted the other pipeline's job, started none
    assert tia_emulator.calls["CreateJob"] == calls_before
    if outcome == "success":
        assert states == {
            "start_elsewhere": "success",
            "wait_for_job": "success",
            "after_training": "success",
        }
    else:
        assert states["wait_for_job"] == "failed" and states["after_training"] == "upstream_failed"


def test_sensor_example_runs_on_its_own(dag_loader, tia_connection, tia_emulator) -> None:
    """A newcomer's first run: no such job yet, the stand-in starts it, the sensor waits for it."""
    name = "sensor-own"
    run = airflow_compat.dag_test(dag_loader("example_tia_sensor"), run_conf={"job_name": name}, **MANUAL)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"start_elsewhere": "success", "wait_for_job": "success", "after_training": "success"}
    assert tia_emulator.store.get("ap-beijing", name)["State"] == "Succeeded"
    tia_emulator.store.delete("ap-beijing", name)


def create_job(conn_id: str, name: str, package_dir: Path, *, fail: bool = False, seconds: int = 1) -> None:
    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.models.tia.job_spec import JobSpec

    code = f"import time; time.sleep({seconds})" + ("; raise SystemExit(2)" if fail else "")
    TIAHook(conn_id).create_job(
        JobSpec(
            name=name,
            cluster="ap-beijing",
            runtime_version="r",
            package_dir=[str(package_dir)],
            command=["python", "-c", code],
        )
    )


def documented_emulator_connection(emulator) -> dict:
    """The emulator connection as the README documents it: the endpoint URL carries the scheme."""
    return {
        "conn_type": "tencentcloud",
        "login": emulator.secret_id,
        "password": emulator.secret_key,
        "extra": {"region": "ap-beijing", "endpoint": emulator.url},
    }


def dag_file(dag_id: str) -> str:
    """The DAG's file in the test DAGs folder (dag.test() needs the DAG in the folder it syncs)."""
    return os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], f"{dag_id}.py")


# A fresh interpreter per run: Airflow's masker warns about a short secret only once per process.
FRESH_RUN = textwrap.dedent(
    """
    import importlib.util, json, sys
    from tests.helpers import airflow_compat
    spec = importlib.util.spec_from_file_location("example", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = airflow_compat.dag_test(module.dag, logical_date=None, run_conf=json.loads(sys.argv[2]))
    print("RUN STATE", getattr(run.state, "value", run.state))
    """
)


@pytest.mark.parametrize("scheme_key", [False, True], ids=["documented", "old-scheme-key"])
def test_task_log_has_no_short_secret_warning_with_the_documented_connection(
    airflow_db, tia_connection, tia_emulator, tmp_path, scheme_key
) -> None:
    """Airflow masks every string value of a connection's extra and warns (once per process) about any
    shorter than 5 characters, sensitive or not: an extra `"scheme": "http"` made every task log warn."""
    if scheme_key and airflow_compat.AIRFLOW_VERSION.major < 3:
        pytest.skip("Airflow 2.11's secret masker has no short-secret warning to see")
    conn = documented_emulator_connection(tia_emulator)
    if scheme_key:  # the form the emulator connection had before: proves this test sees the warning
        conn["extra"] = {"region": "ap-beijing", "endpoint": tia_emulator.endpoint, "scheme": "http"}
    name = f"masking-{'old' if scheme_key else 'documented'}"
    create_job(tia_connection, name, tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", FRESH_RUN, dag_file("example_tia_sensor"), json.dumps({"job_name": name})],
        env={**os.environ, "AIRFLOW_CONN_TENCENTCLOUD_DEFAULT": json.dumps(conn)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    log = result.stdout + result.stderr
    assert "RUN STATE success" in log, log[-3000:]
    assert (SHORT_SECRET_WARNING in log) is scheme_key, log[-3000:]
