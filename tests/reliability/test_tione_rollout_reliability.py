"""TI-ONE rollout rows of the reliability table: DeployModelServiceOperator driven directly (as a worker and a
triggerer would) against the simulated emulator, whose services go Normal after a moment, or Abnormal for a
model version tagged ``sim.outcome=Abnormal``. Lost CreateModelService / ModifyModelService replies must never
make a second service; transient faults on every call must never fail a rollout that serves; a worker that dies
mid-rollout, or a kill of the task, must leave the service serving (the new version, or the old one again);
bad input names the field with 0 calls; the trigger's payload carries no secret."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import JobSpecError, RolloutFailed
from airflow_provider_tia.models.tione.rollout import ROLLOUT_KEY
from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator
from tests.emulator.helpers.tione import call
from tests.helpers import reliability as rel
from tests.helpers.serving import services_of, version
from tests.helpers.task_state import TaskStateStore

CONN = "tione_rollout_rel"
SECRET = "env-rollout-SECRET-0a1b2c3d4e5f"
PASSWORD = "aW1hZ2Utcm9sbG91dC1wYXNzd29yZA"
IMAGE = {
    "ImageType": "CCR",
    "ImageUrl": "ccr.example.com/m:1",
    "ImageSecret": {"Username": "r", "Password": PASSWORD},
}
TRANSIENT = "*:RequestLimitExceeded=0.08,InternalError=0.06,http5xx=0.06,drop=0.06"
LOST = "CreateModelService:drop_after=0.5,InternalError_after=0.2;ModifyModelService:drop_after=0.5"


@pytest.fixture(scope="module")
def emu():
    with TIAEmulator(runner="simulated", sim_duration=0.2) as emulator:
        emulator.tione.serving.sim_delay = 0.3  # type: ignore[union-attr]
        yield emulator


@pytest.fixture
def conn(emu, monkeypatch) -> str:
    return rel.connect(monkeypatch, emu, CONN)


def operator(group: str, model_version: Any, **options: Any) -> DeployModelServiceOperator:
    settings: dict[str, Any] = {
        "tencentcloud_conn_id": CONN, "charge_type": "POSTPAID_BY_HOUR", "instance_type": "TI.S.MEDIUM.POST",
        "replicas": 2, "env": {"SETTING": SECRET}, "poll_interval": 0.2, "healthy_timeout": 30,
        "abnormal_grace": 0.5,
    }  # fmt: skip
    return DeployModelServiceOperator(
        task_id="deploy", service_group_name=group, model_version=model_version, **{**settings, **options}
    )


def run(group: str, model_version: Any, store: TaskStateStore | None = None, **options: Any) -> Any:
    """One try; its result, or the error it raised."""
    ti = rel.FakeTI("rollout_rel", "deploy", run_id=group)
    try:
        return operator(group, model_version, **options).execute(rel.context_for(ti, store))
    except Exception as error:
        return error


def served(emu, group: str) -> list[str]:
    """The model versions of the group's Normal services."""
    return [
        s["ServiceInfo"]["ModelInfo"]["ModelVersionId"]
        for s in services_of(emu, group)
        if s["Status"] == "Normal"
    ]


def first_deployments(emu, count: int, prefix: str) -> list[tuple[str, dict]]:
    """``count`` groups serving a v1 each (without faults)."""
    out = []
    for i in range(count):
        group, v1 = f"{prefix}-{i}-{uuid.uuid4().hex[:4]}", version(emu)
        assert isinstance(run(group, v1), dict)
        out.append((group, v1))
    return out


@pytest.mark.parametrize("strategy", ["in_place", "blue_green"])
def test_lost_create_and_modify_replies_make_no_duplicate_service(
    emu, conn, strategy, reliability_results
) -> None:
    groups = first_deployments(emu, 3, f"lost-{strategy[:2]}")
    emu.set_faults(LOST, seed=7)
    results = [run(group, version(emu, v1["TrainingModelId"]), strategy=strategy) for group, v1 in groups]
    lost = sum(
        n
        for (action, _), n in emu.fault_counts.items()
        if action in ("CreateModelService", "ModifyModelService")
    )
    emu.set_faults(None)
    reliability_results.record(
        f"TI-ONE rollout, lost Create/ModifyModelService replies ({strategy})", len(groups), faults=lost,
        false_failures=sum(not isinstance(r, dict) for r in results),
        duplicates=sum(len(services_of(emu, group)) - 1 for group, _ in groups),
    )  # fmt: skip
    assert lost >= 2, emu.fault_counts
    for (group, _), result in zip(groups, results, strict=True):
        assert isinstance(result, dict), result
        assert len(services_of(emu, group)) == 1  # 0 duplicates: in place one service, blue/green the new one
        assert served(emu, group) == [result["ModelVersionId"]]
    # A first deployment under lost replies: one group, one service.
    emu.set_faults(LOST, seed=3)
    group = f"lost-first-{uuid.uuid4().hex[:4]}"
    result = run(group, version(emu), strategy=strategy)
    emu.set_faults(None)
    assert isinstance(result, dict) and len(services_of(emu, group)) == 1


def test_transient_faults_on_every_call_cause_no_false_failure(emu, conn, reliability_results) -> None:
    groups = first_deployments(emu, 4, "flaky")
    targets = [version(emu, v1["TrainingModelId"], broken=i == 3) for i, (_, v1) in enumerate(groups)]
    broken = {groups[3][0]: groups[3][1]["TrainingModelVersionId"]}
    emu.set_faults(TRANSIENT, seed=11)
    results = [
        run(group, target, strategy="blue_green" if i % 2 else "in_place")
        for i, ((group, _), target) in enumerate(zip(groups, targets, strict=True))
    ]
    faults = sum(emu.fault_counts.values())
    emu.set_faults(None)
    false = [
        r
        for (g, _), r in zip(groups, results, strict=True)
        if not isinstance(r, RolloutFailed if g in broken else dict)
    ]
    reliability_results.record(
        "TI-ONE rollout, transient faults on every call", len(groups), faults=faults, false_failures=len(false),
        duplicates=sum(len(services_of(emu, group)) - 1 for group, _ in groups),
    )  # fmt: skip
    assert faults >= 5, emu.fault_counts
    for (group, _), result in zip(groups, results, strict=True):
        if group in broken:  # a broken version fails, rolled back, whatever the faults
            assert isinstance(result, RolloutFailed), result
            assert served(emu, group) == [broken[group]]
        else:
            assert isinstance(result, dict), result  # 0 false failures
            assert served(emu, group) == [result["ModelVersionId"]]


@pytest.mark.parametrize("outcome", ["serves", "broken"])
def test_a_worker_dead_mid_rollout_is_finished_or_rolled_back_by_the_retry(
    emu, conn, outcome, reliability_results
) -> None:
    (group, v1), store = first_deployments(emu, 1, f"crash-{outcome}")[0], TaskStateStore()
    target = version(emu, v1["TrainingModelId"], broken=outcome == "broken")
    dying = operator(group, target)
    dying._store = store
    version_id = target["TrainingModelVersionId"]
    dying._start(dying._spec(version_id, target["TrainingModelId"]), version_id, None)  # Modify sent; SIGKILL
    assert store.data[ROLLOUT_KEY]["phase"] == "rolling"
    emu.reset_counters()
    result = run(group, target, store)  # the retry
    wanted = version_id if outcome == "serves" else v1["TrainingModelVersionId"]
    reliability_results.record(
        f"TI-ONE rollout, worker killed mid-rollout ({outcome})", 1,
        false_failures=int(served(emu, group) != [wanted]), duplicates=len(services_of(emu, group)) - 1,
    )  # fmt: skip
    assert emu.calls["ModifyModelService"] == (0 if outcome == "serves" else 1)  # only the rollback's
    if outcome == "serves":
        assert isinstance(result, dict) and served(emu, group) == [version_id]
    else:
        assert isinstance(result, RolloutFailed) and served(emu, group) == [v1["TrainingModelVersionId"]]
    assert len(services_of(emu, group)) == 1


def test_a_worker_dead_mid_rollback_has_the_retry_finish_it(emu, conn) -> None:
    (group, v1), store = first_deployments(emu, 1, "crash-back")[0], TaskStateStore()
    target = version(emu, v1["TrainingModelId"], broken=True)
    dying = operator(group, target)
    dying._store = store
    version_id = target["TrainingModelVersionId"]
    rollout = dying._start(dying._spec(version_id, target["TrainingModelId"]), version_id, None)
    rollout.phase = "rolling_back"  # died after recording the rollback, before sending it
    store.set(ROLLOUT_KEY, rollout.to_dict())
    result = run(group, target, store)
    assert isinstance(result, RolloutFailed) and "earlier try was rolling back" in str(result)
    assert (
        served(emu, group) == [v1["TrainingModelVersionId"]]
        and store.data[ROLLOUT_KEY]["phase"] == "rolled_back"
    )


@pytest.mark.parametrize("action", ["rollback", "leave"])
def test_a_kill_mid_rollout_rolls_back_unless_told_to_leave(emu, conn, action) -> None:
    group, v1 = first_deployments(emu, 1, f"kill-{action}")[0]
    slow = version(emu, v1["TrainingModelId"])
    # The new version's replicas start 8 s after the rollout's call: the kill comes well before, however
    # slow the machine; a rollback's replicas start at the usual pace.
    emu.tione.serving.sim_delay = 8.0  # type: ignore[union-attr]
    op, errors = operator(group, slow, on_kill_action=action), []
    ti = rel.FakeTI("rollout_rel", "deploy", run_id=group)
    thread = threading.Thread(target=lambda: _execute(op, ti, errors))
    try:
        thread.start()
        assert rel.wait_until(lambda: op.rollout is not None and op.rollout.service_id, 20)
        emu.tione.serving.sim_delay = 0.3  # type: ignore[union-attr]
        op.on_kill()
        thread.join(30)
    finally:
        emu.tione.serving.sim_delay = 0.3  # type: ignore[union-attr]
    assert len(errors) == 1 and "killed" in str(errors[0]), errors
    wanted = v1 if action == "rollback" else slow
    assert rel.wait_until(lambda: served(emu, group) == [wanted["TrainingModelVersionId"]], 40), served(
        emu, group
    )


def test_a_user_kill_of_the_deferred_task_rolls_back_in_the_triggerer(emu, conn, reliability_results) -> None:
    from airflow_provider_tia.compat import TaskDeferred

    group, v1 = first_deployments(emu, 1, "kill-deferred")[0]
    slow = version(emu, v1["TrainingModelId"])
    ti = rel.FakeTI("rollout_rel", "deploy", run_id=group)
    # The new version cannot serve before the kill however slow the machine (its replicas start after 60 s;
    # a stopped replica never does); the rollback's replicas start at the usual pace.
    emu.tione.serving.sim_delay = 60.0  # type: ignore[union-attr]
    try:
        with pytest.raises(TaskDeferred) as deferred:
            operator(group, slow, deferrable=True).execute(rel.context_for(ti))
        started = time.monotonic()  # the trigger polls a few times, then the user marks the task failed

        def mid_wait() -> bool:
            if time.monotonic() - started <= 1.0:
                return False
            emu.tione.serving.sim_delay = 0.3  # type: ignore[union-attr]
            return True

        on_kill, _ = rel.user_kill_mid_wait(rel.rebuild(deferred.value.trigger, ti), mid_wait)
    finally:
        emu.tione.serving.sim_delay = 0.3  # type: ignore[union-attr]
    back = rel.wait_until(lambda: served(emu, group) == [v1["TrainingModelVersionId"]], 20)
    reliability_results.record(
        "TI-ONE rollout, user kills the deferred task", 1, faults=1, false_failures=int(not back),
        duplicates=len(services_of(emu, group)) - 1,
    )  # fmt: skip
    assert on_kill.calls == 1 and back, served(emu, group)


def _execute(op: DeployModelServiceOperator, ti: Any, errors: list) -> None:
    try:
        op.execute(rel.context_for(ti))
    except BaseException as error:
        errors.append(error)


def test_bad_input_names_the_field_and_makes_no_call(emu, conn) -> None:
    emu.reset_counters()
    for options, field in (
        ({"replicas": "two"}, "replicas"),
        ({"instance_type": None}, "instance_type"),
        ({"env": {"A": 1}}, "env"),
        ({"model_version": {"Id": "m-1"}}, "model_version"),
    ):
        result = run(f"bad-{uuid.uuid4().hex[:4]}", options.pop("model_version", "mv-v1-1"), **options)
        assert isinstance(result, JobSpecError) and result.parameter.startswith(field), (field, result)
    assert sum(emu.calls.values()) == 0


def test_the_trigger_payload_and_the_result_hold_no_secret(emu, conn, reliability_results) -> None:
    from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields

    from airflow_provider_tia.compat import TaskDeferred

    group, v1 = first_deployments(emu, 1, "secret")[0]
    target = version(emu, v1["TrainingModelId"])
    op = operator(group, target, deferrable=True, image_info=IMAGE)
    ti = rel.FakeTI("rollout_rel", "deploy", run_id=group)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(rel.context_for(ti))
    trigger = deferred.value.trigger
    assert rel.wait_until(lambda: served(emu, group) == [target["TrainingModelVersionId"]], 20)
    events = rel.Triggerer()
    try:
        (event,) = events.run(rel.rebuild(trigger), timeout=30)
    finally:
        events.close()
    result = op.execute_complete(rel.context_for(ti), event)
    token = call(emu, "DescribeModelServiceCallInfo", ServiceGroupId=result["ServiceGroupId"])
    secrets = [s for s in (SECRET, PASSWORD, token["ServiceCallInfoV2"]["AuthToken"]) if s]
    texts = [repr(trigger.serialize()), repr(event), repr(result), repr(_serialize_rendered_fields(op))]
    leaks = sum(text.count(secret) for text in texts for secret in secrets)
    reliability_results.record(
        "TI-ONE rollout, secrets (payload, event, XCom, rendered)", 1, leaked_secrets=leaks
    )
    assert event["status"] == "success" and leaks == 0, texts
    assert result["ModelVersionId"] == target["TrainingModelVersionId"]
