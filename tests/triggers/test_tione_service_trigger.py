"""ModelServiceTrigger against the emulator (simulated runner) over real HTTP: the serde round trip, the
events (serving, abnormal past the grace period, stopped, vanished), no secret in a payload, and many
waits of one region read by one sweep."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
import uuid

import pytest

from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.models.tione.service_spec import ModelServiceSpec
from airflow_provider_tia.triggers.tione.services import ModelServiceTrigger
from tests.emulator.helpers.tione import call, cos, import_request, serves, wait_service, wait_version
from tests.helpers import airflow_compat

CONN = "tione_service_trigger_test"


@pytest.fixture
def hook(simulated_emulator, connect) -> TIONEHook:
    connect(CONN, simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    return TIONEHook(CONN)


def _version(emulator, abnormal: bool = False) -> str:
    tags = [{"TagKey": "sim.outcome", "TagValue": "Abnormal"}] if abnormal else []
    reply = call(emulator, "CreateTrainingModel", **import_request(cos("b-1250000000", "m/"), Tags=tags))
    assert wait_version(emulator, reply["TrainingModelVersionId"])["TrainingModelStatus"] == "STATUS_SUCCESS"
    return str(reply["TrainingModelVersionId"])


def _deploy(hook: TIONEHook, version_id: str, **extra):
    return hook.create_model_service(
        ModelServiceSpec(
            service_group_name=f"trg-{uuid.uuid4().hex[:8]}", charge_type="POSTPAID_BY_HOUR",
            instance_type="TI.S.MEDIUM.POST", authorization_enable=True,
            model_info={"ModelVersionId": version_id}, **extra,
        )
    )  # fmt: skip


def _trigger(group_id: str, version_id: str | None, **kwargs) -> ModelServiceTrigger:
    return ModelServiceTrigger(group_id, version_id, tencentcloud_conn_id=CONN, poll_interval=0.1,
                               not_before=0, **kwargs)  # fmt: skip


async def _event(trigger: ModelServiceTrigger) -> dict:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


def test_round_trip_keeps_every_field() -> None:
    serialize, deserialize = airflow_compat.first("serialize"), airflow_compat.first("deserialize")

    stored = {
        "service_group_id": "ms-abc12345", "model_version_id": "mv-v2-1", "service_id": "ms-abc12345-1",
        "abnormal_grace": 42.0, "tencentcloud_conn_id": "my_conn", "kill_action": "leave",
        "region": "ap-shanghai", "poll_interval": 5.0, "deadline": 1700000000.0, "batched": False,
        "budget": 90, "resume": {"step": "roll"}, "not_before": 1699999999.0,
    }  # fmt: skip
    trigger = ModelServiceTrigger(**stored)  # the form the previous release stored, unchanged
    classpath, kwargs = trigger.serialize()
    assert kwargs == stored
    assert classpath == "airflow_provider_tia.triggers.tione.services.ModelServiceTrigger"
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**deserialize(serialize(kwargs)))
    assert again.serialize() == (classpath, kwargs)
    assert kwargs["service_group_id"] == "ms-abc12345" and kwargs["abnormal_grace"] == 42.0
    assert kwargs["resume"] == {"step": "roll"} and kwargs["batched"] is False


def test_a_served_version_succeeds_without_a_secret_in_the_payload(hook, simulated_emulator) -> None:
    version_id = _version(simulated_emulator)
    created = _deploy(hook, version_id, env={"DB_PASSWORD": "hunter2-secret"})
    token = hook.describe_service_call_info(created.group_id).token
    payload = asyncio.run(_event(_trigger(created.group_id, version_id)))
    assert payload["status"] == "success", payload
    assert payload["job"]["ServiceId"] == created.id
    assert payload["job"]["ServiceInfo"]["ModelInfo"]["ModelVersionId"] == version_id
    text = json.dumps(payload)
    assert token and token not in text and "hunter2-secret" not in text
    # The same wait, unbatched, and for a version the group does not run: a timeout.
    assert asyncio.run(_event(_trigger(created.group_id, version_id, batched=False)))["status"] == "success"
    late = asyncio.run(_event(_trigger(created.group_id, "mv-v9-0", deadline=time.time() + 0.5)))
    assert (late["status"], late["reason"]) == ("error", "timeout")


def test_abnormal_past_the_grace_period_stopped_and_vanished_fail(hook, simulated_emulator) -> None:
    broken = _version(simulated_emulator, abnormal=True)
    created = _deploy(hook, broken)
    payload = asyncio.run(_event(_trigger(created.group_id, broken, abnormal_grace=0.3)))
    assert (payload["status"], payload["reason"]) == ("failed", "finished"), payload
    assert "stayed Abnormal" in payload["message"] and created.id in payload["message"]

    good = _version(simulated_emulator)
    stopped = _deploy(hook, good)
    hook.modify_model_service({"ServiceId": stopped.id, "ServiceAction": "STOP"})
    payload = asyncio.run(_event(_trigger(stopped.group_id, None, service_id=stopped.id)))
    assert payload["status"] == "failed" and "will not serve" in payload["message"], payload

    payload = asyncio.run(_event(_trigger("ms-gone0000", good)))
    assert (payload["status"], payload["reason"]) == ("error", "vanished")


def test_many_waits_are_read_by_one_sweep(hook, simulated_emulator) -> None:
    version_id = _version(simulated_emulator)
    services = [_deploy(hook, version_id) for _ in range(12)]
    groups = [s.group_id for s in services]
    for service in services:  # all serving already: the first sweep ends every wait
        wait_service(simulated_emulator, service.id, serves(version_id), timeout=20)

    async def all_events() -> list[dict]:
        return await asyncio.gather(*(_event(_trigger(g, version_id)) for g in groups))

    simulated_emulator.reset_counters()
    events = asyncio.run(all_events())
    assert [e["status"] for e in events] == ["success"] * len(groups)
    # One DescribeModelServiceGroups for the twelve waits, not one read per wait.
    assert simulated_emulator.calls["DescribeModelServiceGroups"] == 1
    assert simulated_emulator.calls["DescribeModelServiceGroup"] == 0


def test_a_rollout_trigger_takes_the_rollout_once_and_loads_the_previous_releases_row(
    hook, simulated_emulator
) -> None:
    """The record names the group, service and version once; a row of the previous release (their Ids as
    arguments, the record in ``resume["rollout"]``) loads to the same wait, and the event hands the record
    back to the resumed task."""
    serialize, deserialize = airflow_compat.first("serialize"), airflow_compat.first("deserialize")

    from airflow_provider_tia.models.tione.rollout import RolloutRecord
    from airflow_provider_tia.triggers.tione.rollout import RolloutTrigger

    version_id = _version(simulated_emulator)
    created = _deploy(hook, version_id)
    record = RolloutRecord("in_place", "trg", version_id, group_id=created.group_id, service_id=created.id,
                           started=1.0).to_dict()  # fmt: skip
    common = {"tencentcloud_conn_id": CONN, "kill_action": "leave", "region": None, "poll_interval": 0.1,
              "deadline": time.time() + 60, "batched": True, "budget": 60.0, "not_before": 0.0}  # fmt: skip
    stored = {
        "service_group_id": created.group_id, "model_version_id": version_id, "service_id": created.id,
        "abnormal_grace": 30.0, "rollback_on_kill": True, "healthy_timeout": 60.0,
        "resume": {"rollout": record}, **common,
    }  # fmt: skip
    new = RolloutTrigger(record, abnormal_grace=30.0, healthy_timeout=60.0, **common)
    old = RolloutTrigger(**deserialize(serialize(stored)))
    assert old.serialize() == new.serialize()
    kwargs = new.serialize()[1]
    assert kwargs["rollout"] == record and kwargs["resume"] == {}
    assert not {"service_group_id", "model_version_id", "service_id"} & set(kwargs)
    watch = old.rollout_watch()
    assert (watch.group_id, watch.version_id, watch.service_id) == (created.group_id, version_id, created.id)
    payload = asyncio.run(_event(old))
    assert payload["status"] == "success" and payload["job"]["ServiceId"] == created.id, payload
    assert payload["resume"] == {"rollout": record}
    with pytest.raises(ValueError, match="RolloutTrigger: rollout must be a RolloutRecord's dict"):
        RolloutTrigger({"strategy": "in_place"}, **common)
