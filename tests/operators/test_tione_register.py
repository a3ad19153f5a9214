"""RegisterModelVersionOperator end to end: dag.test() against the emulator over real HTTP, polling and
deferred. First run creates the model, the second adds v2, a lost CreateTrainingModel reply reuses the
version, a failed import fails with its message, bad input fails naming the field before any call."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from airflow_provider_tia.hooks.tione import TIONEHook
from tests.helpers.dag_runs import xcom

DAG_ID = "tione_test_register"
# dag.test() needs the DAG as a file of the DAGs folder: written there (a temporary folder) by a fixture.
DAG_SOURCE = """
import pendulum
from airflow_provider_tia.compat import DAG, Param
from airflow_provider_tia.operators.tione.repository import RegisterModelVersionOperator

PARAMS = {"model": Param("m"), "task": Param({}), "model_id": Param(None), "max_reserved_models": Param(3)}
for dag_id, deferrable in (("tione_test_register", False), ("tione_test_register_deferred", True)):
    with DAG(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
             catchup=False, params=PARAMS) as dag:
        RegisterModelVersionOperator(
            task_id="register", training_task="{{ params.task }}", model_name="{{ params.model }}",
            model_id="{{ params.model_id or '' }}", model_format="PYTORCH",
            max_reserved_models="{{ params.max_reserved_models }}", tags={"sim.import_seconds": "0.3"},
            poll_interval=0.2, timeout=60, deferrable=deferrable,
        )
    globals()[dag_id] = dag
"""


@pytest.fixture(scope="module")
def register_dags(airflow_db) -> None:
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{DAG_ID}.py"
    path.write_text(DAG_SOURCE)
    yield
    path.unlink(missing_ok=True)


@pytest.fixture
def emu(simulated_emulator, connect, register_dags):
    connect("tencentcloud_default", simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    simulated_emulator.reset_counters()
    yield simulated_emulator
    simulated_emulator.set_faults(None)


def task_dict(task_id: str | None = None) -> dict:
    """What CreateTrainingTaskOperator returns (its XCom), as much as the import needs."""
    task_id = task_id or f"train-{uuid.uuid4().int % 10**18}"
    return {"Id": task_id, "Name": "nightly", "FrameworkName": "PYTORCH", "Status": "SUCCEED",
            "Output": {"Bucket": "out-1250000000", "Region": "ap-beijing", "Paths": ["runs/"]}}  # fmt: skip


def run(dag_loader, dag_id: str, **conf):
    dag_run = dag_loader(dag_id).test(run_conf=conf)
    return dag_run, xcom(dag_run, "register")


@pytest.mark.parametrize("dag_id", [DAG_ID, f"{DAG_ID}_deferred"])
def test_first_run_creates_the_model_the_second_adds_v2(dag_loader, emu, capfd, dag_id) -> None:
    name = f"resnet-{uuid.uuid4().hex[:6]}"
    first_run, first = run(dag_loader, dag_id, model=name, task=task_dict())
    assert first_run.state == "success", capfd.readouterr().out[-3000:]
    assert first["TrainingModelStatus"] == "STATUS_SUCCESS" and first["TrainingModelVersion"] == "v1"
    assert first["TrainingModelName"] == name and first["TrainingModelCosPath"]["Paths"][0].startswith(
        "runs/train-"
    )
    assert first["MaxReservedModels"] == 3 and first["TrainingModelFormat"] == "PYTORCH"
    second_run, second = run(
        dag_loader, dag_id, model=name, task=task_dict(), model_id=first["TrainingModelId"]
    )
    assert second_run.state == "success", capfd.readouterr().out[-3000:]
    assert second["TrainingModelId"] == first["TrainingModelId"] and second["TrainingModelVersion"] == "v2"
    assert emu.calls["CreateTrainingModel"] == 2
    from airflow_provider_tia.links.tione import ModelVersionLink

    page = xcom(second_run, "register", ModelVersionLink().xcom_key)
    assert page.endswith(f"/console/tione/task?id={second['TrainingModelVersionId']}")


def test_a_second_run_finds_the_model_of_its_name_in_the_earlier_result(dag_loader, emu, capfd) -> None:
    name = f"remembered-{uuid.uuid4().hex[:6]}"
    _, first = run(dag_loader, DAG_ID, model=name, task=task_dict())
    second_run, second = run(dag_loader, DAG_ID, model=name, task=task_dict())
    assert second_run.state == "success", capfd.readouterr().out[-3000:]
    assert (second["TrainingModelId"], second["TrainingModelVersion"]) == (first["TrainingModelId"], "v2")


def test_a_lost_reply_and_a_rerun_reuse_the_version(dag_loader, emu, capfd) -> None:
    name, task = f"lost-{uuid.uuid4().hex[:6]}", task_dict()
    _, first = run(dag_loader, DAG_ID, model=name, task=task_dict())
    model_id = first["TrainingModelId"]
    emu.set_faults("CreateTrainingModel:drop_after=1")
    lost_run, lost = run(dag_loader, DAG_ID, model=name, task=task, model_id=model_id)
    emu.set_faults(None)
    assert lost_run.state == "success", capfd.readouterr().out[-3000:]
    again_run, again = run(
        dag_loader, DAG_ID, model=name, task=task, model_id=model_id
    )  # the same training task
    assert again_run.state == "success" and again["TrainingModelVersionId"] == lost["TrainingModelVersionId"]
    versions = TIONEHook().describe_training_model_versions(model_id)
    assert [v.version_label for v in versions] == ["v1", "v2"]


def test_bad_input_fails_naming_the_field_before_any_call(dag_loader, emu, capfd) -> None:
    for conf, text in (
        ({"model": "-bad name", "task": task_dict()}, "Invalid parameter model_name (TrainingModelName)"),
        ({"model": "ok", "task": {"Name": "no id"}}, "Invalid parameter training_task"),
        (
            {"model": "ok", "task": task_dict(), "max_reserved_models": 99},
            "Invalid parameter max_reserved_models",
        ),
    ):
        dag_run, _ = run(dag_loader, DAG_ID, **conf)
        out = capfd.readouterr().out
        assert dag_run.state == "failed" and text in out, out[-2000:]
    assert sum(emu.calls.values()) == 0


def test_a_failed_import_fails_the_task_with_its_message(
    dag_loader, cos_connection, register_dags, capfd
) -> None:
    task = {
        **task_dict(),
        "Output": {"Bucket": "tione-test-1250000000", "Region": "ap-beijing", "Paths": ["none/"]},
    }
    dag_run, _ = run(dag_loader, DAG_ID, model=f"broken-{uuid.uuid4().hex[:6]}", task=task)
    out = capfd.readouterr().out
    assert dag_run.state == "failed"
    assert "failed: import failed" in out or "failed: no model file" in out, out[-3000:]
