"""``example_tione_retraining`` end to end with dag.test() against the emulator, which trains for real (two
DDP workers), imports the output into its model repository and serves it with tiinfer: the first run
deploys, a model that is no better is not registered, and a broken ``model_service.py`` fails the deploy
task while the service keeps answering from the version it served before (the rollback)."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers.dag_runs import xcom

pytest.importorskip("tiinfer")
pytest.importorskip("mosec")
pytestmark = pytest.mark.timeout(900)  # three trainings, an import each, two rollouts

BUCKET = "tione-retraining-1250000000"


def states(dag_run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
            )
        )
        return {task_id: str(state) for task_id, state in rows}


@pytest.fixture
def bucket(cos_connection, airflow_db) -> str:
    from airflow_provider_tia.hooks.cos import COSHook

    client = COSHook(cos_connection).client
    if BUCKET not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"})
    return BUCKET


def serving(group_id: str) -> tuple[list[str], dict]:
    """The model versions the group's running services serve, and its answer to one held-out digit."""
    from airflow_provider_tia.hooks.tione import TIONEHook

    hook = TIONEHook()
    group = hook.describe_model_service_group(group_id)
    versions = [str(s.model_version_id) for s in group.services if s.weight > 0 and s.status == "Normal"]
    return versions, hook.call_model_service(group_id, {"instances": [[0.0] * 64]})


def test_the_example_deploys_skips_a_model_no_better_and_rolls_back_a_broken_one(
    dag_loader, bucket, capfd
) -> None:
    dag = dag_loader("example_tione_retraining")
    suffix = uuid.uuid4().hex[:6]
    conf = {"bucket": bucket, "service_group_name": f"digits-{suffix}", "model_name": f"digits-{suffix}"}

    first = dag.test(run_conf={**conf, "samples": 100})
    out = capfd.readouterr().out
    assert first.state == "success", out[-3000:]
    registered, deployed, reply = xcom(first, "register"), xcom(first, "deploy"), xcom(first, "smoke_test")
    version = registered["TrainingModelVersionId"]
    assert registered["TrainingModelVersion"] == "v1" and deployed["ModelVersionId"] == version
    assert "no service" in out and "yet: the new model goes into service" in out
    assert reply["model"]["tag"] == first.run_id and reply["model"]["train_size"] == 75
    assert len(reply["predictions"]) == 3 and all(0 <= p <= 9 for p in reply["predictions"])
    assert f"serves model version {version} (trained by {first.run_id}" in out
    group_id = deployed["ServiceGroupId"]
    versions, answer = serving(group_id)
    assert versions == [version] and answer["model"]["tag"] == first.run_id

    same = dag.test(run_conf={**conf, "samples": 100})  # the same data trains the same model
    out = capfd.readouterr().out
    assert same.state == "success", out[-3000:]
    assert states(same)["register"] == "skipped" and states(same)["deploy"] == "skipped"
    assert "the new model is not better" in out

    broken = dag.test(run_conf={**conf, "samples": 400, "break_model_service": True})
    out = capfd.readouterr().out
    assert broken.state == "failed", out[-3000:]
    ran = states(broken)
    assert (
        ran["register"] == "success" and ran["deploy"] == "failed" and ran["smoke_test"] == "upstream_failed"
    )
    assert xcom(broken, "register")["TrainingModelVersion"] == "v2"  # better, so registered, but broken
    assert "BREAK_MODEL_SERVICE: wrote a model_service.py that fails to load" in out
    assert f"rolled back: {version} serves again" in out and "Warning events:" in out  # the task's error
    versions, answer = serving(group_id)
    assert versions == [version] and answer["model"]["tag"] == first.run_id  # rolled back: v1 answers
