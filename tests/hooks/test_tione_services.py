"""TIONEHook's online-service calls over real HTTP against the emulator: create, describe, find, weights,
call info, events and logs, a lost Create reply, errors by class, the async twins, and a real prediction
through ``call_model_service`` (local runner: tiinfer behind the emulator's gateway)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

from airflow_provider_tia.exceptions import (
    InvalidParameter,
    JobAlreadyExists,
    JobNotFound,
    JobSpecError,
    ModelServiceCallError,
)
from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.models.tione.service_spec import ModelServiceSpec
from airflow_provider_tia.models.tione.service_state import rollout_state
from tests.emulator.helpers.tione import call, cos, import_request, imported, wait_version

CONN = "tione_services_hook_test"


@pytest.fixture
def hook(simulated_emulator, connect) -> TIONEHook:
    connect(CONN, simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    return TIONEHook(CONN)


@pytest.fixture
def version(simulated_emulator) -> dict:
    """An imported model version (the simulated runner imports an empty folder)."""
    reply = call(simulated_emulator, "CreateTrainingModel", **import_request(cos("b-1250000000", "m/")))
    assert (
        wait_version(simulated_emulator, reply["TrainingModelVersionId"])["TrainingModelStatus"]
        == "STATUS_SUCCESS"
    )
    return reply


def spec(version: dict, **overrides) -> ModelServiceSpec:
    base = {
        "service_group_name": f"svc-{uuid.uuid4().hex[:8]}",
        "charge_type": "POSTPAID_BY_HOUR",
        "instance_type": "TI.S.MEDIUM.POST",
        "replicas": 1,
        "authorization_enable": True,
        "model_info": {"ModelVersionId": version["TrainingModelVersionId"], "ModelId": version["Id"]},
    }
    return ModelServiceSpec(**{**base, **overrides})


def wait_serving(hook: TIONEHook, service_id: str, version_id: str | None, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        service = hook.describe_model_service(service_id)
        if rollout_state(service, version_id) == "serving":
            return service
        assert time.monotonic() < deadline, service
        time.sleep(0.1)


def test_create_describe_find_weights_and_delete(hook, version, simulated_emulator) -> None:
    created = hook.create_model_service(spec(version, env={"API_KEY": "s3cr3t-env-value"}))
    assert created.status == "" and created.state_name == "CREATING" and created.id == f"{created.group_id}-1"
    served = wait_serving(hook, created.id, version["TrainingModelVersionId"])
    assert (served.model_version_id, served.available_replicas, served.weight) == (
        version["TrainingModelVersionId"], 1, 100,
    )  # fmt: skip
    assert "s3cr3t-env-value" not in str(served.to_dict())
    group = hook.describe_model_service_group(created.group_id)
    assert [s.id for s in group.services] == [created.id] and group.name == created.name
    assert "AuthTokens" in group.raw and "***" in str(group.to_dict()["AuthTokens"])
    assert [g.id for g in hook.find_model_service_groups(created.name)] == [created.group_id]
    # A second version of the group (blue/green): NewVersion is set by the spec.
    green = hook.create_model_service(
        spec(version, service_group_name=None, service_group_id=created.group_id)
    )
    assert green.id == f"{created.group_id}-2"
    wait_serving(hook, green.id, version["TrainingModelVersionId"])
    hook.modify_service_group_weights(created.group_id, {green.id: 100, created.id: "0"})
    group = hook.describe_model_service_group(created.group_id)
    assert {s.id: s.weight for s in group.services} == {created.id: 0, green.id: 100}
    with pytest.raises(JobSpecError, match=r"weights\['ms-"):
        hook.modify_service_group_weights(created.group_id, {green.id: -1})
    # Modify with the whole configuration; a running service refuses Delete until it is stopped.
    hook.modify_model_service({"ServiceId": green.id, "ServiceAction": "STOP"})
    deadline = time.monotonic() + 20
    while rollout_state(hook.describe_model_service(green.id), None) != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert hook.delete_model_service(green.id) is True
    assert hook.delete_model_service(green.id) is False  # already gone: fine by default
    assert hook.describe_model_service(green.id, missing_ok=True) is None
    with pytest.raises(JobNotFound):
        hook.describe_model_service(green.id)
    call(simulated_emulator, "DeleteModelServiceGroup", ServiceGroupId=created.group_id)
    assert hook.describe_model_service_group(created.group_id, missing_ok=True) is None


def test_call_info_events_logs_and_a_simulated_prediction(hook, version, caplog) -> None:
    created = hook.create_model_service(spec(version))
    wait_serving(hook, created.id, version["TrainingModelVersionId"])
    info = hook.describe_service_call_info(created.group_id)
    assert (
        info.authorization_enable
        and info.token
        and info.predict_url.endswith(f"/{created.group_id}/v1/models/m:predict")
    )
    assert info.token not in repr(info) and info.token not in str(info.to_dict())
    with caplog.at_level(logging.DEBUG):
        reply = hook.call_model_service(created.group_id, {"x": [1]})
    assert reply["simulated"] is True and reply["ServiceId"] == created.id
    assert info.token not in caplog.text
    assert hook.describe_service_events(created.id) == []  # no Warning events for a healthy service
    assert isinstance(hook.describe_service_events(created.id, warnings_only=False), list)
    assert isinstance(hook.service_log_lines(created.id, limit=5), list)
    hook.modify_model_service({"ServiceId": created.id, "ServiceAction": "STOP"})
    deadline = time.monotonic() + 20
    while rollout_state(hook.describe_model_service(created.id), None) != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with pytest.raises(ModelServiceCallError) as failed:
        hook.call_model_service(created.group_id, {"x": [1]})
    assert created.group_id in str(failed.value) and "HTTP 503" in str(failed.value)
    assert info.token not in str(failed.value)
    with pytest.raises(JobSpecError, match="payload"):
        hook.call_model_service(created.group_id, {"x": object()})


def test_errors_by_class_and_a_lost_create_reply(hook, version, simulated_emulator) -> None:
    with pytest.raises(JobNotFound):
        hook.describe_model_service_group("ms-nothere0")
    with pytest.raises(InvalidParameter, match="ModelInfo.ModelVersionId"):
        hook.create_model_service(spec({"TrainingModelVersionId": "mv-v1-1", "Id": "m-1"}))
    first = spec(version, replicas=0)
    made = hook.create_model_service(first)
    with pytest.raises(JobAlreadyExists):  # another's group of that name: not ours to take
        hook.create_model_service(first)
    # The Create ran but its reply was lost: the retry finds the one group by name.
    again = spec(version, replicas=0)
    simulated_emulator.set_faults("CreateModelService: InternalError_after=1")
    try:
        found = hook.create_model_service(again)
    finally:
        simulated_emulator.set_faults(None)
    assert [g.id for g in hook.find_model_service_groups(again.service_group_name)] == [found.group_id]
    for group_id in (made.group_id, found.group_id):
        call(simulated_emulator, "DeleteModelServiceGroup", ServiceGroupId=group_id)


def test_the_async_client_reads_many_groups_a_page_at_a_time(hook, version, simulated_emulator) -> None:
    ids = [hook.create_model_service(spec(version, replicas=0)).group_id for _ in range(3)]
    unknown = [f"ms-x{n:07d}" for n in range(250)]

    async def read() -> tuple[list, object, object]:
        async with await hook.async_client() as client:
            groups = await client.find_model_service_groups(ids=unknown + ids)
            one = await client.describe_model_service_group(ids[0])
            gone = await client.describe_model_service(f"{ids[0]}-9", missing_ok=True)
            return groups, one, gone

    simulated_emulator.reset_counters()
    groups, one, gone = asyncio.run(read())
    assert sorted(g.id for g in groups) == sorted(ids) and one.id == ids[0] and gone is None
    assert simulated_emulator.calls["DescribeModelServiceGroups"] == 3  # 253 Ids: three pages of 100
    for group_id in ids:
        call(simulated_emulator, "DeleteModelServiceGroup", ServiceGroupId=group_id)


# ----------------------------------------------------------------- a real prediction (local runner)
def test_call_model_service_gets_a_real_prediction(cos_emulator, moto_url, connect) -> None:
    connect(CONN, cos_emulator, extra={"retry_backoff": 0.01})
    hook = TIONEHook(CONN)
    version = imported(cos_emulator, moto_url, 3.0)
    created = hook.create_model_service(spec(version))
    try:
        wait_serving(hook, created.id, version["TrainingModelVersionId"], timeout=120)
        assert hook.call_model_service(created.group_id, {"x": [1, 2]}) == {"y": [3.0, 6.0], "factor": 3.0}
    finally:
        call(cos_emulator, "DeleteModelServiceGroup", ServiceGroupId=created.group_id)
