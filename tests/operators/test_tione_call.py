"""CallModelServiceOperator through Airflow (dag.test()) against the emulator over real HTTP: the reply is
the XCom, a failed call names the service, bad input names the field with 0 calls, and the group's token
reaches no log line, XCom or rendered field."""

from __future__ import annotations

import time
import uuid

import pytest

from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.models.tione.service_spec import ModelServiceSpec
from airflow_provider_tia.models.tione.services import rollout_state
from tests.emulator.helpers.tione import call, cos, import_request, wait_version


@pytest.fixture
def hook(simulated_emulator, connect, airflow_db) -> TIONEHook:
    connect("tencentcloud_default", simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    return TIONEHook()


@pytest.fixture
def group(hook, simulated_emulator):
    """A serving group with authentication on (its token is what must never leak)."""
    reply = call(simulated_emulator, "CreateTrainingModel", **import_request(cos("b-1250000000", "m/")))
    version_id = reply["TrainingModelVersionId"]
    assert wait_version(simulated_emulator, version_id)["TrainingModelStatus"] == "STATUS_SUCCESS"
    service = hook.create_model_service(ModelServiceSpec(
        service_group_name=f"call-{uuid.uuid4().hex[:8]}", charge_type="POSTPAID_BY_HOUR",
        instance_type="TI.S.MEDIUM.POST", authorization_enable=True, model_info={"ModelVersionId": version_id},
    ))  # fmt: skip
    deadline = time.monotonic() + 20
    while rollout_state(hook.describe_model_service(service.id), version_id) != "serving":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield service
    call(simulated_emulator, "DeleteModelServiceGroup", ServiceGroupId=service.group_id)


# dag.test() runs DAGs of the DAGs folder (serialised from their file): the test writes its own there.
DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_tia.operators.tione.call import CallModelServiceOperator

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), params={{"x": 1}}) as dag:
    CallModelServiceOperator(task_id="call", **{kwargs!r})
"""


def _run(task_kwargs: dict):
    from tests.conftest import _DAGS, load_dag

    dag_id = f"tione_call_{uuid.uuid4().hex[:8]}"
    (_DAGS / f"{dag_id}.py").write_text(DAG_FILE.format(dag_id=dag_id, kwargs=task_kwargs))
    try:
        return load_dag(dag_id).test()
    finally:
        (_DAGS / f"{dag_id}.py").unlink()


def _xcom(run):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, key="return_value", task_ids="call", dag_ids=run.dag_id)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def _rendered(run) -> str:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RTIF).filter(RTIF.dag_id == run.dag_id, RTIF.run_id == run.run_id).all()
        return " ".join(str(row.rendered_fields) for row in rows)


def test_the_reply_is_the_xcom_and_the_token_never_leaks(hook, group, capfd) -> None:
    token = hook.describe_service_call_info(group.group_id).token
    run = _run({"service_group_id": group.group_id, "payload": {"x": ["{{ params.x }}"]}})
    out = capfd.readouterr()
    assert run.state == "success", out.out[-3000:]
    reply = _xcom(run)
    assert reply["simulated"] is True and reply["ServiceId"] == group.id
    assert (
        token and token not in out.out + out.err and token not in str(reply) and token not in _rendered(run)
    )
    assert f"Calling TI-ONE service group {group.group_id}" in out.out


def test_a_failed_call_names_the_service(hook, group, capfd) -> None:
    token = hook.describe_service_call_info(group.group_id).token
    hook.modify_model_service({"ServiceId": group.id, "ServiceAction": "STOP"})
    run = _run({"service_group_id": group.group_id, "payload": {"x": [1]}})
    out = capfd.readouterr()
    assert run.state == "failed"
    assert f"ModelServiceCallError: Calling TI-ONE service group {group.group_id} failed: HTTP 503" in out.out
    assert token not in out.out + out.err


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"service_group_id": "", "payload": {"x": [1]}}, "service_group_id"),
        ({"service_group_id": "ms-abc12345", "payload": {"x": {1, 2}}}, "payload"),
        ({"service_group_id": "ms-abc12345", "payload": {}, "timeout": "soon"}, "timeout"),
    ],
)
def test_bad_input_names_the_field_and_makes_no_call(hook, simulated_emulator, capfd, kwargs, field) -> None:
    simulated_emulator.reset_counters()
    run = _run(kwargs)
    out = capfd.readouterr().out
    assert run.state == "failed"
    assert f"Invalid parameter {field}:" in out, out[-2000:]
    assert sum(simulated_emulator.calls.values()) == 0
