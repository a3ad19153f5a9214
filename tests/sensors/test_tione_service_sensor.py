"""ModelServiceSensor through Airflow (dag.test()) against the emulator (simulated runner): poking and
deferred, success with the served service as XCom (no secret), a stopped service fails it, and the link
opens the emulator's page of the group."""

from __future__ import annotations

import pytest

from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.links.tione import ModelServiceLink
from tests.helpers.dag_runs import run_written_dag, xcom
from tests.helpers.serving import served_group, wait_rollout

DAG_FILE = """
import pendulum
from airflow_provider_tia.compat import DAG
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
    """(service, version Id) of a new group with authentication on and a secret env, not waited for."""
    env = {"SECRET_KEY": "sensor-env-secret"}
    with served_group(hook, simulated_emulator, "sen", wait=False, env=env) as created:
        yield created


def _run(kwargs: dict):
    return run_written_dag("tione_service_sensor", DAG_FILE, kwargs=kwargs)


@pytest.mark.parametrize("deferrable", [False, True])
def test_succeeds_once_the_version_is_served(hook, deployed, capfd, deferrable) -> None:
    service, version_id = deployed
    token = hook.describe_service_call_info(service.group_id).token
    run = _run(
        {"service_group_id": service.group_id, "model_version_id": version_id, "deferrable": deferrable}
    )
    out = capfd.readouterr()
    assert run.state == "success", out.out[-3000:]
    served = xcom(run, "wait")
    assert served["ServiceId"] == service.id and served["Status"] == "Normal"
    assert served["ServiceInfo"]["ModelInfo"]["ModelVersionId"] == version_id
    text = out.out + out.err + str(served)
    assert token and token not in text and "sensor-env-secret" not in text
    page = xcom(run, "wait", ModelServiceLink().xcom_key)
    assert page.endswith(f"/console/tione/task?id={service.group_id}")


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_stopped_service_fails_it(hook, deployed, capfd, deferrable) -> None:
    service, version_id = deployed
    hook.modify_model_service({"ServiceId": service.id, "ServiceAction": "STOP"})
    wait_rollout(hook, service.id, None, "stopped")
    run = _run(
        {"service_group_id": service.group_id, "model_version_id": version_id, "deferrable": deferrable}
    )
    out = capfd.readouterr().out
    assert run.state == "failed"
    assert f"{service.id}) is Stopped and will not serve on its own" in out, out[-3000:]
