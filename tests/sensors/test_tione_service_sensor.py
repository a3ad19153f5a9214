"""ModelServiceSensor through Airflow (dag.test()) against the emulator (simulated runner): poking and
deferred, success with the served service as XCom (no secret), a stopped service fails it, and the link
opens the emulator's page of the group."""

from __future__ import annotations

import time
import uuid

import pytest

from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.links.tione import ModelServiceLink
from airflow_provider_tia.models.tione.service_spec import ModelServiceSpec
from airflow_provider_tia.models.tione.services import rollout_state
from tests.emulator.helpers.tione import call, cos, import_request, wait_version

DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_tia.sensors.tione import ModelServiceSensor

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    ModelServiceSensor(task_id="wait", poke_interval=0.2, timeout=30, **{kwargs!r})
"""


@pytest.fixture
def hook(simulated_emulator, connect, airflow_db) -> TIONEHook:
    connect("tencentcloud_default", simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    return TIONEHook()


@pytest.fixture
def deployed(hook, simulated_emulator):
    """(service, version Id) of a new group with authentication on, not waited for."""
    reply = call(simulated_emulator, "CreateTrainingModel", **import_request(cos("b-1250000000", "m/")))
    version_id = reply["TrainingModelVersionId"]
    assert wait_version(simulated_emulator, version_id)["TrainingModelStatus"] == "STATUS_SUCCESS"
    service = hook.create_model_service(ModelServiceSpec(
        service_group_name=f"sen-{uuid.uuid4().hex[:8]}", charge_type="POSTPAID_BY_HOUR", instance_type="TI.S.MEDIUM.POST",
        authorization_enable=True, env={"SECRET_KEY": "sensor-env-secret"}, model_info={"ModelVersionId": version_id},
    ))  # fmt: skip
    yield service, version_id
    call(simulated_emulator, "DeleteModelServiceGroup", ServiceGroupId=service.group_id)


def _run(kwargs: dict):
    from tests.conftest import _DAGS, load_dag

    dag_id = f"tione_service_sensor_{uuid.uuid4().hex[:8]}"
    path = _DAGS / f"{dag_id}.py"
    path.write_text(DAG_FILE.format(dag_id=dag_id, kwargs=kwargs))
    try:
        return load_dag(dag_id).test()
    finally:
        path.unlink()


def _xcom(run, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, key=key, task_ids="wait", dag_ids=run.dag_id)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


@pytest.mark.parametrize("deferrable", [False, True])
def test_succeeds_once_the_version_is_served(hook, deployed, capfd, deferrable) -> None:
    service, version_id = deployed
    token = hook.describe_service_call_info(service.group_id).token
    run = _run(
        {"service_group_id": service.group_id, "model_version_id": version_id, "deferrable": deferrable}
    )
    out = capfd.readouterr()
    assert run.state == "success", out.out[-3000:]
    served = _xcom(run)
    assert served["ServiceId"] == service.id and served["Status"] == "Normal"
    assert served["ServiceInfo"]["ModelInfo"]["ModelVersionId"] == version_id
    text = out.out + out.err + str(served)
    assert token and token not in text and "sensor-env-secret" not in text
    assert _xcom(run, ModelServiceLink().xcom_key).endswith(f"/console/tione/task?id={service.group_id}")


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_stopped_service_fails_it(hook, deployed, capfd, deferrable) -> None:
    service, version_id = deployed
    hook.modify_model_service({"ServiceId": service.id, "ServiceAction": "STOP"})
    deadline = time.monotonic() + 20
    while rollout_state(hook.describe_model_service(service.id), None) != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    run = _run(
        {"service_group_id": service.group_id, "model_version_id": version_id, "deferrable": deferrable}
    )
    out = capfd.readouterr().out
    assert run.state == "failed"
    assert f"{service.id}) is Stopped and will not serve on its own" in out, out[-3000:]
