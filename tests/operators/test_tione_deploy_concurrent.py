"""Rollouts of ONE service group that overlap (``.partial().expand()`` on one group, overlapping scheduled
runs), against the simulated emulator over real HTTP, with the service refusing a change while it updates
(``refuse_while_updating``) and without (the last writer wins). A rollout waits until no rollout is in
progress before it reads what it may restore, starts over when refused, and, superseded by another
rollout, fails saying so and rolls nothing back: the service always ends serving one of the versions.

The races are forced, not hoped for: a version whose replicas take seconds to start keeps a rollout in
progress, and a latency on ModifyModelService holds a rollout's Modify while the other one reads; each
test waits for the emulator to have received a call (its request log), never for a time to pass.
Also ``.expand()`` of RegisterModelVersionOperator on one model and of ModelServiceSensor."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import RolloutFailed
from airflow_provider_tia.models.tione.rollout import RolloutSuperseded
from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator
from tests.emulator.helpers.tione import call, cos, import_request, wait_version
from tests.helpers import airflow_compat
from tests.helpers.support import FakeTI
from tests.helpers.task_state import TaskStateStore

CONN = "tione_concurrent"
SETTINGS: dict[str, Any] = {
    "tencentcloud_conn_id": CONN, "charge_type": "POSTPAID_BY_HOUR", "instance_type": "TI.S.MEDIUM.POST",
    "replicas": 2, "poll_interval": 0.2, "healthy_timeout": 60, "abnormal_grace": 0.5,
}  # fmt: skip
DAGS = f'''
import pendulum

from airflow_provider_tia.compat import DAG, task
from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator
from airflow_provider_tia.operators.tione.repository import RegisterModelVersionOperator
from airflow_provider_tia.sensors.tione import ModelServiceSensor

START = pendulum.datetime(2024, 1, 1, tz="UTC")
with DAG(dag_id="tione_test_deploy_mapped", schedule=None, start_date=START, catchup=False,
         params={{"group": "g", "versions": []}}) as deploy_dag:
    @task
    def versions(**context):
        return context["params"]["versions"]

    DeployModelServiceOperator.partial(task_id="deploy", service_group_name="{{{{ params.group }}}}",
                                       **{SETTINGS!r}).expand(model_version=versions())

with DAG(dag_id="tione_test_register_mapped", schedule=None, start_date=START, catchup=False,
         params={{"model": "m", "tasks": []}}) as register_dag:
    @task
    def tasks(**context):
        return context["params"]["tasks"]

    RegisterModelVersionOperator.partial(
        task_id="register", tencentcloud_conn_id="{CONN}", model_name="{{{{ params.model }}}}",
        model_format="PYTORCH", tags={{"sim.import_seconds": "0.2"}}, poll_interval=0.2, timeout=60,
    ).expand(training_task=tasks())

with DAG(dag_id="tione_test_sensor_mapped", schedule=None, start_date=START, catchup=False,
         params={{"watch": []}}) as sensor_dag:
    @task
    def watched(**context):
        return context["params"]["watch"]

    ModelServiceSensor.partial(task_id="serving", tencentcloud_conn_id="{CONN}", poke_interval=0.2,
                               timeout=60).expand_kwargs(watched())
'''


@pytest.fixture(scope="module")
def emu():
    with TIAEmulator(runner="simulated", sim_duration=0.2) as emulator:
        emulator.tione.serving.sim_delay = 0.3  # type: ignore[union-attr]
        yield emulator


@pytest.fixture(scope="module")
def dag_file(airflow_db):
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "tione_test_deploy_mapped.py"
    path.write_text(DAGS)
    yield
    path.unlink(missing_ok=True)


@pytest.fixture(params=[True, False], ids=["refuses-while-updating", "last-writer-wins"])
def refuse(request, emu, connect) -> bool:
    """Both answers to the open question, switched on the emulator."""
    connect(CONN, emu, extra={"retry_backoff": 0.01})
    actions = emu.tione.service_actions  # type: ignore[union-attr]
    actions.refuse_while_updating, actions.refused = request.param, 0
    yield request.param
    actions.refuse_while_updating = False
    emu.set_faults(None)


def version(emu, model_id: str | None = None, broken: bool = False, start_seconds: float = 0) -> str:
    """An imported model version (simulated: no files); ``broken`` makes a service Abnormal,
    ``start_seconds`` holds its replicas' start."""
    tags = [{"TagKey": "sim.outcome", "TagValue": "Abnormal"}] if broken else []
    if start_seconds:
        tags.append({"TagKey": "sim.start_seconds", "TagValue": str(start_seconds)})
    extra: dict[str, Any] = {"Tags": tags}
    if model_id:
        extra.update(ImportMethod="VERSION", TrainingModelId=model_id, TrainingModelName=None)
    reply = call(emu, "CreateTrainingModel", **import_request(cos("b-1250000000", "m/"), **extra))
    assert wait_version(emu, reply["TrainingModelVersionId"])["TrainingModelStatus"] == "STATUS_SUCCESS"
    return str(reply["TrainingModelVersionId"])


def deploy(group: str, model_version: str, run_id: str) -> Any:
    """One deploy task of its own DAG run (an overlapping run); its result, or the error it raised."""
    op = DeployModelServiceOperator(
        task_id="deploy", service_group_name=group, model_version=model_version, **SETTINGS
    )
    try:
        return op.execute({"ti": FakeTI("deploy", run_id=run_id), "task_state_store": TaskStateStore()})
    except Exception as error:
        return error


def in_background(group: str, model_version: str) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(deploy(group, model_version, "other-run")))
    thread.start()
    return thread, outcome


def received(emu, action: str, version_id: str, timeout: float = 30) -> None:
    """Block until the emulator has received ``action`` naming ``version_id`` (its request log)."""
    deadline = time.monotonic() + timeout
    while not any(a == action and version_id in str(p) for a, p in list(emu.requests)):
        assert time.monotonic() < deadline, f"no {action} of {version_id} within {timeout}s"
        time.sleep(0.02)


def group_of(emu, name: str) -> dict:
    groups = call(emu, "DescribeModelServiceGroups", Filters=[{"Name": "ServiceGroupName", "Values": [name]}])
    (group,) = groups["ServiceGroups"]
    return dict(group)


def serves(emu, name: str) -> list[str]:
    """The model versions of the group's services, each checked Normal with its roll over."""
    out = []
    for s in group_of(emu, name)["Services"]:
        work = s["ServiceInfo"]["Status"]
        assert s["Status"] == "Normal" and work["AvailableReplicas"] == work["Replicas"] == 2, s["Status"]
        out.append(s["ServiceInfo"]["ModelInfo"]["ModelVersionId"])
    return out


def modifies(emu) -> list[str]:
    """The model versions every ModifyModelService asked for, in arrival order."""
    return [p["ModelInfo"]["ModelVersionId"] for a, p in list(emu.requests) if a == "ModifyModelService"]


def first_deployment(emu) -> tuple[str, str]:
    name, v1 = f"conc-{uuid.uuid4().hex[:6]}", version(emu)
    assert isinstance(deploy(name, v1, "first"), dict)
    return name, v1


def xcoms(run, task_id: str) -> list[Any]:
    """The return values of a mapped task's instances, by map index."""
    return [value for _, _, value in sorted(airflow_compat.xcoms(run, task_id=task_id), key=lambda r: r[1])]


# ------------------------------------------------------------------------------- forced races
def test_a_modify_landing_between_a_read_and_a_modify(emu, refuse) -> None:
    """A's Modify is held 2 s by the emulator while B reads the settled service (v1): B's Modify lands
    second, while A's version is still starting (3 s). Refusing: B is refused, waits, starts over from
    the read, and rolls from A's version. Last writer wins: B's configuration replaces A's mid-roll and A,
    superseded, fails naming B's version without a rollback."""
    name, v1 = first_deployment(emu)
    va, vb = version(emu, start_seconds=3), version(emu)
    emu.reset_counters()
    emu.set_faults("ModifyModelService:latency=1.0@2.0")
    thread, outcome_a = in_background(name, va)
    received(emu, "ModifyModelService", va)  # A read v1 and sent its Modify; it lands in 2 s
    outcome_b = deploy(name, vb, "this-run")
    thread.join(90)
    emu.set_faults(None)
    (a,) = outcome_a
    assert isinstance(outcome_b, dict), outcome_b
    assert serves(emu, name) == [vb]
    refused = emu.tione.service_actions.refused  # type: ignore[union-attr]
    if refuse:
        assert isinstance(a, dict) and a["ModelVersionId"] == va, a  # A's version served before B's
        assert outcome_b["PreviousModelVersionId"] == va and refused >= 1
        assert modifies(emu) == [va, vb, vb]  # B's refused Modify, then B's again: no rollback
    else:
        assert isinstance(a, RolloutSuperseded) and f"now runs {vb}" in str(a), a
        assert "not rolled back" in str(a) and outcome_b["PreviousModelVersionId"] == v1
        assert modifies(emu) == [va, vb] and refused == 0  # nobody rolled back over B


def test_superseded_before_seen_serving_rolls_nothing_back(emu, refuse) -> None:
    """A's Modify is in and A's worker stalls (its steps are driven here); B waits until A's roll is over,
    reads A's version and rolls to its own; only then does A look: it finds B's version, neither its own
    nor the one it replaced, and fails superseded instead of rolling back to v1."""
    name, _ = first_deployment(emu)
    va, vb = version(emu, start_seconds=1), version(emu)
    emu.reset_counters()
    op_a = DeployModelServiceOperator(task_id="deploy", service_group_name=name, model_version=va, **SETTINGS)
    op_a._store = TaskStateStore()
    rollout = op_a._start(op_a._spec(va, None), va, None)  # A's Modify is in; A's worker stalls here
    outcome_b = deploy(name, vb, "this-run")
    assert isinstance(outcome_b, dict) and outcome_b["PreviousModelVersionId"] == va, outcome_b
    verdict = op_a.calls.wait(rollout.service_id, va, rollout.started, previous=rollout.previous_version_id)
    with pytest.raises(RolloutSuperseded, match=f"now runs {vb}"):
        op_a._finish(rollout, verdict)
    assert serves(emu, name) == [vb] and modifies(emu) == [va, vb]
    assert op_a._store.data["tione_rollout"]["phase"] == "superseded"


# --------------------------------------------------------------------- through Airflow: .expand()
def test_mapped_deploys_of_one_group_while_another_run_rolls_it(
    emu, refuse, dag_file, dag_loader, capfd
) -> None:
    """Another run's rollout of a broken version is in progress when the mapped deploys of three versions
    start: the first waits until that rollout is rolled back before it reads (it replaces v1, not the
    broken version), each next one replaces the version of the one before, the last one serves."""
    name, v1 = first_deployment(emu)
    broken = version(emu, broken=True, start_seconds=10)  # in progress while dag.test() starts
    v2, v3, v4 = version(emu), version(emu), version(emu)
    thread, other = in_background(name, broken)
    received(emu, "ModifyModelService", broken)
    run = dag_loader("tione_test_deploy_mapped").test(run_conf={"group": name, "versions": [v2, v3, v4]})
    thread.join(90)
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    # dag.test() runs the mapped instances one by one, in no set order: each replaced the one before it,
    # the first one v1 (not the broken version it waited out)
    after = {r["PreviousModelVersionId"]: r["ModelVersionId"] for r in xcoms(run, "deploy")}
    chain = [v1]
    while chain[-1] in after:
        chain.append(after[chain[-1]])
    assert sorted(chain[1:]) == sorted([v2, v3, v4]), (chain, after)
    (failed,) = other  # the other run's broken version: rolled back (or, rolled back, then superseded)
    assert isinstance(failed, RolloutFailed) and f"{broken}" in str(failed), failed
    if isinstance(failed, RolloutSuperseded):
        assert f"now runs {chain[1]}" in str(failed)
    assert serves(emu, name) == [chain[-1]]
    assert "has a rollout in progress: waiting until it settles" in out


def test_mapped_registers_of_one_model_make_distinct_versions(
    emu, connect, dag_file, dag_loader, capfd
) -> None:
    connect(CONN, emu, extra={"retry_backoff": 0.01})
    model = f"conc-model-{uuid.uuid4().hex[:6]}"
    tasks = [
        {"Id": f"train-{uuid.uuid4().int % 10**18}", "Name": "nightly", "FrameworkName": "PYTORCH",
         "Status": "SUCCEED", "Output": {"Bucket": "out-1250000000", "Region": "ap-beijing", "Paths": ["runs/"]}}
        for _ in range(3)
    ]  # fmt: skip
    run = dag_loader("tione_test_register_mapped").test(run_conf={"model": model, "tasks": tasks})
    assert run.state == "success", capfd.readouterr().out[-3000:]
    results = xcoms(run, "register")
    assert len({r["TrainingModelId"] for r in results}) == 1
    assert sorted(r["TrainingModelVersion"] for r in results) == ["v1", "v2", "v3"]
    assert [r["TrainingJobId"] for r in results] == [t["Id"] for t in tasks]
    listed = call(emu, "DescribeTrainingModelVersions", TrainingModelId=results[0]["TrainingModelId"])
    assert len(listed["TrainingModelVersions"]) == 3


def test_mapped_sensors_wait_for_their_groups(emu, connect, dag_file, dag_loader, capfd) -> None:
    connect(CONN, emu, extra={"retry_backoff": 0.01})
    (name_a, va), (name_b, vb) = first_deployment(emu), first_deployment(emu)
    watch = [
        {"service_group_id": group_of(emu, name)["ServiceGroupId"], "model_version_id": v}
        for name, v in ((name_a, va), (name_b, vb))
    ]
    run = dag_loader("tione_test_sensor_mapped").test(run_conf={"watch": watch})
    assert run.state == "success", capfd.readouterr().out[-3000:]
    served = sorted(r["ServiceInfo"]["ModelInfo"]["ModelVersionId"] for r in xcoms(run, "serving"))
    assert served == sorted([va, vb])


# ------------------------------------------------------------------------------------ the decisions
def service(
    version_id: str, status: str = "Normal", replicas: int = 2, updated: int = 2, current: int = 2
) -> Any:
    from airflow_provider_tia.models.tione.services import ModelService

    return ModelService.from_api({
        "ServiceId": "ms-abcd1234-1", "ServiceGroupId": "ms-abcd1234", "Status": status,
        "ServiceInfo": {"Replicas": replicas, "ModelInfo": {"ModelVersionId": version_id}, "Status": {
            "Replicas": current, "UpdatedReplicas": updated, "AvailableReplicas": min(current, 2)}},
    })  # fmt: skip


def test_settled_and_superseded_as_the_rollout_and_its_trigger_judge_them() -> None:
    from airflow_provider_tia.models.tione.rollout import RolloutRecord
    from airflow_provider_tia.models.tione.service_state import settled
    from airflow_provider_tia.triggers.tione.rollout import RolloutTrigger

    assert settled(service("mv-1")) and settled(service("mv-1", "Stopped", replicas=0, updated=0, current=0))
    assert settled(service("mv-1", "Abnormal"))  # a failed first deployment: nothing rolls it any more
    assert not settled(service("mv-2", "Normal", current=4))  # mid-roll: the old replicas still serve
    assert not settled(service("mv-2", "Abnormal", current=4))  # a failing roll its owner will roll back
    assert not settled(service("mv-1", "Waiting"))
    record = RolloutRecord("in_place", "g", "mv-2", group_id="ms-abcd1234", service_id="ms-abcd1234-1",
                           previous_version_id="mv-1", previous={})  # fmt: skip
    watch = RolloutTrigger(record.to_dict(), tencentcloud_conn_id=CONN).rollout_watch()
    assert watch.observe(service("mv-1", current=4), 0).state == "progressing"  # ours is rolling in
    third = watch.observe(service("mv-3"), 0)
    assert third.failed and third.message and "now runs mv-3: superseded" in third.message
    record.strategy = "blue_green"  # blue/green watches its own new service: nobody else modifies it
    assert (
        RolloutTrigger(record.to_dict(), tencentcloud_conn_id=CONN).rollout_watch().previous_version_id
        is None
    )
