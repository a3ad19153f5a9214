"""CallModelServiceOperator through Airflow (dag.test()) against the emulator over real HTTP: the reply is
the XCom, a failed call names the service, bad input names the field with 0 calls, and the group's token
reaches no log line, XCom or rendered field."""

from __future__ import annotations

import pytest

from airflow_provider_tia.hooks.tione import TIONEHook
from tests.helpers.dag_runs import run_written_dag, xcom
from tests.helpers.serving import served_group


@pytest.fixture
def hook(simulated_emulator, connect, airflow_db) -> TIONEHook:
    connect("tencentcloud_default", simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    return TIONEHook()


@pytest.fixture
def group(hook, simulated_emulator):
    """A group serving a model version, authentication on (its token is what must never leak)."""
    with served_group(hook, simulated_emulator, "call") as (service, _):
        yield service


DAG_FILE = """
import pendulum
from airflow_provider_tia.compat import DAG
from airflow_provider_tia.operators.tione.call import CallModelServiceOperator

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), params={{"x": 1}}) as dag:
    CallModelServiceOperator(task_id="call", **{kwargs!r})
"""


def _run(task_kwargs: dict):
    return run_written_dag("tione_call", DAG_FILE, kwargs=task_kwargs)


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
    reply = xcom(run, "call")
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
