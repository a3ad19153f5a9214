"""The model-repository calls of TIONEHook and AsyncTIONEClient over real HTTP against the emulator
(simulated runner: an import copies nothing and takes ``sim.import_seconds``): create, read, find by
training task, delete, missing -> JobNotFound, and a lost CreateTrainingModel reply found again."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from airflow_provider_tia.exceptions import InvalidParameter, JobNotFound, TencentCloudError
from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.models.tione.repository import TrainingModelSpec

CONN = "tione_repo_hook_test"
FOLDER = {"Bucket": "out-1250000000", "Region": "ap-beijing", "Paths": ["runs/train-1/"]}


@pytest.fixture
def hook(simulated_emulator, connect) -> TIONEHook:
    connect(CONN, simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    return TIONEHook(CONN)


def spec(task_id: str = "train-1", seconds: str = "0", **fields) -> TrainingModelSpec:
    values = {"import_method": "MODEL", "training_model_name": f"m-{uuid.uuid4().hex[:6]}", **fields}
    return TrainingModelSpec.from_kwargs(
        reasoning_environment_source="SYSTEM", training_model_source="JOB", training_job_id=task_id,
        training_model_cos_path=FOLDER, tags={"sim.import_seconds": seconds}, **values,
    )  # fmt: skip


def wait_done(hook: TIONEHook, version_id: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while (version := hook.describe_training_model_version(version_id)).state_name == "STATUS_RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return version


def test_a_model_then_a_version_read_back_and_are_found_by_task(hook) -> None:
    model_id, first = hook.create_training_model(spec("train-a", training_model_version="v1"))
    assert model_id.startswith("m-") and first.startswith("mv-v1-")
    version = wait_done(hook, first)
    assert version.succeeded and version.model_id == model_id and version.training_job_id == "train-a"
    again, second = hook.create_training_model(
        spec("train-b", import_method="VERSION", training_model_id=model_id, training_model_version="v2")
    )
    assert again == model_id and second.startswith("mv-v2-")
    listed = hook.describe_training_model_versions(model_id)
    assert [v.version_label for v in listed] == ["v1", "v2"]
    assert [v.id for v in hook.describe_training_model_versions(model_id, [second])] == [second]
    found = hook.find_version_of_task(model_id, "train-b")
    assert found is not None and found.id == second
    assert hook.find_version_of_task(model_id, "train-z") is None
    assert hook.delete_training_model_version(second) is True
    assert hook.delete_training_model_version(second) is False  # already gone: fine
    with pytest.raises(JobNotFound):
        hook.describe_training_model_version(second)
    assert hook.delete_training_model(model_id) is True


def test_missing_models_and_versions_are_not_found(hook) -> None:
    with pytest.raises(JobNotFound):
        hook.describe_training_model_version("mv-v1-1000000000000000000")
    with pytest.raises(JobNotFound):
        hook.describe_training_model_versions("m-1000000000000000000")
    assert hook.find_version_of_task("m-1000000000000000000", "train-1") is None
    assert hook.delete_training_model("m-1000000000000000000") is False
    with pytest.raises(JobNotFound):
        hook.delete_training_model_version("mv-v1-1", missing_ok=False)


def test_a_refused_request_is_a_bad_parameter(hook) -> None:
    with pytest.raises(InvalidParameter, match="TrainingModelId"):
        hook.create_training_model(spec(import_method="VERSION", training_model_id="m-1000000000000000000"))


def test_a_lost_reply_of_a_version_import_is_found_again_not_sent_twice(hook, simulated_emulator) -> None:
    model_id, _ = hook.create_training_model(spec("train-c", training_model_version="v1"))
    simulated_emulator.set_faults("CreateTrainingModel:drop_after=1")
    try:
        again, version_id = hook.create_training_model(
            spec("train-d", import_method="VERSION", training_model_id=model_id, training_model_version="v2")
        )
    finally:
        simulated_emulator.set_faults(None)
    assert again == model_id
    assert [(v.version_label, v.id) for v in hook.describe_training_model_versions(model_id)][1] == (
        "v2",
        version_id,
    )
    assert len(hook.describe_training_model_versions(model_id)) == 2


def test_the_async_client_reads_and_deletes(hook) -> None:
    model_id, version_id = hook.create_training_model(spec("train-e", seconds="0.3"))

    async def run():
        async with await hook.async_client() as client:
            one = await client.describe_training_model_version(version_id)
            many = await client.describe_training_model_versions(model_id, [version_id])
            deleted = await client.delete_training_model_version(version_id)
            with pytest.raises(JobNotFound):
                await client.describe_training_model_version(version_id)
            return one, many, deleted

    one, many, deleted = asyncio.run(run())
    assert one.id == version_id and [v.id for v in many] == [version_id] and deleted


@pytest.fixture
def no_model_list(simulated_emulator):
    """The emulator answers DescribeTrainingModels ``InvalidAction``, as a service without it would."""
    simulated_emulator.tione.repo_actions.list_models = False
    yield
    simulated_emulator.tione.repo_actions.list_models = True


def test_models_are_found_by_their_exact_name_newest_first(hook) -> None:
    name = f"named-{uuid.uuid4().hex[:6]}"
    older, _ = hook.create_training_model(spec("train-f", training_model_name=name))
    newer, _ = hook.create_training_model(spec("train-g", training_model_name=name))
    hook.create_training_model(spec("train-h", training_model_name=f"{name}-x"))  # a fuzzy match only
    assert hook.find_models_named(name) == [newer, older]
    assert hook.newest_model_named(name) == newer
    assert hook.find_models_named(f"none-{uuid.uuid4().hex[:6]}") == []


def test_without_the_action_models_are_not_listed(hook, simulated_emulator, no_model_list) -> None:
    name = f"unlisted-{uuid.uuid4().hex[:6]}"
    hook.create_training_model(spec("train-i", training_model_name=name))
    simulated_emulator.reset_counters()
    assert hook.find_models_named(name) is None and hook.newest_model_named(name) is None
    assert simulated_emulator.calls["DescribeTrainingModels"] == 2  # one each: InvalidAction is not retried


@pytest.mark.parametrize("fault", ["drop_after", "InternalError_after"])
def test_a_lost_reply_of_a_first_import_is_found_by_name(hook, simulated_emulator, fault) -> None:
    """With DescribeTrainingModels, the model the lost reply made is found (by name, then by training
    task) before the retry: one CreateTrainingModel, one model."""
    name = f"first-{uuid.uuid4().hex[:6]}"
    simulated_emulator.reset_counters()
    simulated_emulator.set_faults(f"CreateTrainingModel:{fault}=1")
    try:
        model_id, version_id = hook.create_training_model(spec("train-j", training_model_name=name))
    finally:
        simulated_emulator.set_faults(None)
    assert simulated_emulator.calls["CreateTrainingModel"] == 1
    assert hook.find_models_named(name) == [model_id]
    assert [v.id for v in hook.describe_training_model_versions(model_id)] == [version_id]


def test_without_the_action_a_lost_first_import_is_sent_again(
    hook, simulated_emulator, connect, no_model_list
) -> None:
    """Without DescribeTrainingModels nothing can find the model a lost reply made: as before this
    lookup existed, every attempt creates a model (here 2 attempts, every reply lost: 2 models and an
    error). Callers that must never duplicate a model pass its Id."""
    connect("tione_repo_hook_two", simulated_emulator, extra={"retry_backoff": 0.01, "max_attempts": 2})
    name = f"dup-{uuid.uuid4().hex[:6]}"
    simulated_emulator.reset_counters()
    simulated_emulator.set_faults("CreateTrainingModel:drop_after=1")
    try:
        with pytest.raises(TencentCloudError):
            TIONEHook("tione_repo_hook_two").create_training_model(spec("train-k", training_model_name=name))
    finally:
        simulated_emulator.set_faults(None)
    assert simulated_emulator.calls["CreateTrainingModel"] == 2
    simulated_emulator.tione.repo_actions.list_models = True
    assert len(hook.find_models_named(name) or []) == 2
