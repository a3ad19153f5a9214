"""ModelVersionTrigger: serialize() round trip, and the batched sweep (N waits on one model's versions ->
one DescribeTrainingModelVersions per sweep; a version the listing lacks is read on its own)."""

from __future__ import annotations

import asyncio
import importlib
import time

import pytest

from airflow_provider_tia.exceptions import JobNotFound
from airflow_provider_tia.models.tione.repository import ModelVersion, ModelVersionKey
from airflow_provider_tia.triggers.tione.repository import ModelVersionPoller, ModelVersionTrigger, watch_name
from tests.helpers import airflow_compat


def test_serialize_round_trips() -> None:
    key = {"name": "resnet", "model_id": "m-1", "version_id": "mv-v2-1", "version_label": "v2"}
    trigger = ModelVersionTrigger(
        ModelVersionKey.from_json(key), region="ap-beijing", poll_interval=5, deadline=123.0,
        kill_action="delete",
    )  # fmt: skip
    path, kwargs = trigger.serialize()
    module, name = path.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert (kwargs["key"], kwargs["resume"], kwargs["kill_action"]) == (key, {}, "delete")
    assert again.watch_name == watch_name("m-1", "mv-v2-1")
    assert again.label == "TI-ONE model resnet version v2 (mv-v2-1)"


def test_a_version_trigger_without_both_ids_names_the_parameter() -> None:
    with pytest.raises(
        ValueError, match="ModelVersionTrigger: key must be a ModelVersionKey .* model_id and version_id"
    ):
        ModelVersionTrigger(
            {"name": "resnet", "task": "train-1"}
        )  # a version not found yet: nothing to watch


class FakeClient:
    """Counts calls; model m-1 lists its versions, except the one deleted meanwhile."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def describe_training_model_versions(self, model_id, version_ids=None):
        self.calls.append("DescribeTrainingModelVersions")
        if model_id != "m-1":
            raise JobNotFound("no model", code="ResourceNotFound.NoModel")
        return [
            ModelVersion.from_api({"TrainingModelId": model_id, "TrainingModelVersionId": v,
                                   "TrainingModelStatus": "STATUS_RUNNING"})
            for v in version_ids or [] if v != "mv-gone"
        ]  # fmt: skip

    async def describe_training_model_version(self, version_id):
        self.calls.append("DescribeTrainingModelVersion")
        raise JobNotFound("no version", code="ResourceNotFound")


def test_one_sweep_reads_many_versions_of_a_model_with_one_call() -> None:
    names = {watch_name("m-1", f"mv-v{i}-1") for i in range(50)}
    client = FakeClient()
    poller = ModelVersionPoller(("k",), "ap-beijing", 1.0, None)  # type: ignore[arg-type]
    found = asyncio.run(poller._read(client, names))
    assert found is not None and set(found) == names
    assert client.calls == ["DescribeTrainingModelVersions"]
    assert all(v.state_name == "STATUS_RUNNING" for v in found.values())


def test_a_missing_version_and_a_missing_model_reach_their_own_watchers() -> None:
    client = FakeClient()
    names = {watch_name("m-1", "mv-v1-1"), watch_name("m-1", "mv-gone"), watch_name("m-2", "mv-v1-2")}
    found = asyncio.run(ModelVersionPoller(("k",), "r", 1.0, None)._read(client, names))  # type: ignore[arg-type]
    assert found is not None
    assert isinstance(found[watch_name("m-1", "mv-v1-1")], ModelVersion)
    assert isinstance(found[watch_name("m-1", "mv-gone")], JobNotFound)
    assert isinstance(found[watch_name("m-2", "mv-v1-2")], JobNotFound)
    assert sorted(client.calls) == ["DescribeTrainingModelVersion", *["DescribeTrainingModelVersions"] * 2]


def test_many_deferred_waits_share_one_poller_and_one_call_per_sweep(simulated_emulator, connect) -> None:
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.repository import TrainingModelSpec

    conn = connect("tione_repo_trigger", simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    hook = TIONEHook(conn)
    folder = {"Bucket": "b-1250000000", "Region": "ap-beijing", "Paths": ["m/"]}
    base = {"reasoning_environment_source": "SYSTEM", "training_model_cos_path": folder,
            "tags": {"sim.import_seconds": "1.5"}}  # fmt: skip
    model_id, first = hook.create_training_model(
        TrainingModelSpec.from_kwargs(import_method="MODEL", training_model_name="batched", **base)
    )
    ids = [first] + [
        hook.create_training_model(
            TrainingModelSpec.from_kwargs(import_method="VERSION", training_model_id=model_id, **base)
        )[1]
        for _ in range(9)
    ]
    simulated_emulator.reset_counters()

    async def wait_all():
        triggers = [
            ModelVersionTrigger(
                ModelVersionKey("batched", model_id, version_id),
                tencentcloud_conn_id=conn,
                poll_interval=0.5,
                not_before=0,
            )
            for version_id in ids
        ]
        return await asyncio.gather(*(anext(t.run()) for t in triggers))

    events = asyncio.run(wait_all())
    assert {e.payload["status"] for e in events} == {"success"}
    sweeps = simulated_emulator.calls["DescribeTrainingModelVersions"]
    assert 1 <= sweeps <= 6 and simulated_emulator.calls["DescribeTrainingModelVersion"] == 0, dict(
        simulated_emulator.calls
    )


def test_a_version_trigger_stored_by_the_previous_release_watches_the_same_version(
    simulated_emulator, connect
) -> None:
    """``training_model_id``, ``training_model_version_id`` and ``resume["key"]`` (what the previous
    release stored) -> the same key, the same version watched, the key handed back in the event."""
    serialize, deserialize = airflow_compat.first("serialize"), airflow_compat.first("deserialize")

    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.repository import TrainingModelSpec

    conn = connect("tione_repo_stored", simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    folder = {"Bucket": "b-1250000000", "Region": "ap-beijing", "Paths": ["m/"]}
    model_id, version_id = TIONEHook(conn).create_training_model(
        TrainingModelSpec.from_kwargs(
            import_method="MODEL", training_model_name="stored", reasoning_environment_source="SYSTEM",
            training_model_cos_path=folder, tags={"sim.import_seconds": "0.5"},
        )
    )  # fmt: skip
    key = {"name": "stored", "model_id": model_id, "version_id": version_id, "version_label": "v1"}
    stored = {
        "training_model_id": model_id, "training_model_version_id": version_id, "tencentcloud_conn_id": conn,
        "kill_action": "leave", "region": None, "poll_interval": 0.2, "deadline": time.time() + 60,
        "batched": True, "budget": 60.0, "resume": {"key": key, "logs": None}, "not_before": 0.0,
    }  # fmt: skip
    trigger = ModelVersionTrigger(**deserialize(serialize(stored)))
    assert trigger.key == ModelVersionKey.from_json(key)
    assert (trigger.training_model_id, trigger.training_model_version_id) == (model_id, version_id)
    assert trigger.label == f"TI-ONE model stored version v1 ({version_id})"
    kwargs = trigger.serialize()[1]
    assert (kwargs["key"], kwargs["resume"]) == (key, {"logs": None})
    event = asyncio.run(anext(trigger.run())).payload
    assert event["status"] == "success" and event["job"]["TrainingModelVersionId"] == version_id
    assert event["resume"] == {"key": key, "logs": None}
