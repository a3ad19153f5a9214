"""Real crashes of the TI-ONE serving tasks: a worker process (``tione_serving_worker``) registering a model
version or rolling a service is SIGKILLed mid-way and a second try runs here with the task state store the
first one left; a triggerer is shut down mid-wait (its trigger cancelled, no user action) and the trigger
runs again from its serialized payload, as another triggerer picks it up from the database.

No timing decides where a crash lands: the emulator's import end and replica start are *held* while the
crash happens (``Hold``), so the kill is always mid-import or mid-rollout, and they are let go once the
next try (or trigger) is waiting. What is judged is what the emulator holds afterwards: one version per
training task, one service per group, and the group serving (the new version, or the old one again) with
its roll over, never half done.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_tia.compat import TaskDeferred
from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import RolloutFailed
from airflow_provider_tia.models.tione.rollout import ROLLOUT_KEY
from airflow_provider_tia.models.tione.service_state import rollout_state
from airflow_provider_tia.models.tione.services import ModelService
from airflow_provider_tia.operators.tione.deploy import DeployModelServiceOperator
from airflow_provider_tia.operators.tione.repository import RegisterModelVersionOperator
from tests.emulator.helpers.tione import call
from tests.helpers import reliability as rel
from tests.helpers.serving import services_of, version
from tests.helpers.task_state import TaskStateStore
from tests.reliability.tione_serving_worker import DAG_ID, RUN_ID, read_store, run_until_killed

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

CONN = "tione_serving_crash"
REGISTERED_KEY = RegisterModelVersionOperator.external_id_key
HOLD_LIMIT = 120.0  # seconds a held step waits at most (a failed test must not hang the emulator)


@pytest.fixture(scope="module")
def emu():
    with TIAEmulator(runner="simulated", sim_duration=0.2) as emulator:
        emulator.tione.serving.sim_delay = 0.2  # type: ignore[union-attr]
        yield emulator


@pytest.fixture
def conn(emu, monkeypatch) -> str:
    return rel.connect(monkeypatch, emu, CONN)


class Hold:
    """Holds one step of the emulator (a method of one of its objects) until ``release()``: while held,
    an import does not end, or a replica does not start (nor fail). Open unless ``close()``d."""

    def __init__(self, monkeypatch: Any, owner: Any, method: str) -> None:
        self.opened = threading.Event()
        self.opened.set()
        original = getattr(owner, method)

        def held(*args: Any, **kwargs: Any) -> Any:
            self.opened.wait(HOLD_LIMIT)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, method, held)

    def close(self) -> None:
        self.opened.clear()

    def release(self) -> None:
        self.opened.set()


@pytest.fixture
def imports(emu, monkeypatch):
    """The hold on the end of every import."""
    hold = Hold(monkeypatch, emu.tione.importer, "_copy")
    yield hold
    hold.release()


@pytest.fixture
def replicas(emu, monkeypatch):
    """The hold on the start (or failure) of every simulated replica."""
    hold = Hold(monkeypatch, emu.tione.serving, "_simulated_start")
    yield hold
    hold.release()


@pytest.fixture
def creations(emu, monkeypatch) -> Counter:
    """Model versions the emulator really creates (or imports again), per training task."""
    counter: Counter = Counter()
    original = emu.tione.repo.add_version

    def add_version(params: dict, *args: Any) -> Any:
        made = original(params, *args)
        counter[params.get("TrainingJobId")] += 1
        return made

    monkeypatch.setattr(emu.tione.repo, "add_version", add_version)
    return counter


# ------------------------------------------------------------------------------------------- tries
class Try:
    """One try of a task in a thread of this process (a worker of its own), its log captured."""

    def __init__(self, op: Any, ti: rel.FakeTI, store: TaskStateStore | None) -> None:
        self.printed: list[str] = []
        self.result: Any = None
        self.error: BaseException | None = None
        rel.capture(op, self.printed)
        context = rel.context_for(ti, store, below_3_3=store is None)
        self.thread = threading.Thread(target=self._run, args=(op, context), daemon=True)
        self.thread.start()

    def _run(self, op: Any, context: dict[str, Any]) -> None:
        try:
            self.result = op.execute(context)
        except Exception as error:
            self.error = error

    def said(self, text: str) -> Callable[[], bool]:
        return lambda: any(text in message for message in self.printed)

    def end(self) -> None:
        self.thread.join(90)
        assert not self.thread.is_alive(), f"the try never ended: {self.printed}"


def deferred_by(op: Any, ti: rel.FakeTI, store: TaskStateStore) -> Any:
    """``execute`` until the task defers; its trigger."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(rel.context_for(ti, store))
    return deferred.value.trigger


def restart_triggerer(
    trigger: Any, ti: rel.FakeTI, mid_wait: Callable[[], Any], meanwhile: Callable[[], None]
) -> list[dict]:
    """Run ``trigger`` (from its payload) until ``mid_wait()``, shut its triggerer down (no user action:
    no kill), call ``meanwhile()``, then run the trigger again from its payload in another triggerer;
    its events."""
    first = rel.rebuild(trigger, ti, [])
    cleanup, on_kill = rel.shut_down_mid_wait(first, mid_wait)
    assert (cleanup.calls, on_kill.calls) == (1, 0)  # a restart is not a kill: nothing is ended
    meanwhile()
    return rel.run_recreated(first, ti, [])


# ---------------------------------------------------------------------------------------- imports
def training_task() -> dict[str, Any]:
    return {"Id": f"train-{uuid.uuid4().int % 10**18}", "Name": "t",
            "Output": {"Bucket": "out-1250000000", "Region": "ap-beijing", "Paths": ["runs/"]}}  # fmt: skip


def register_kwargs(
    model_name: str, task: dict[str, Any], model_id: str | None, **options: Any
) -> dict[str, Any]:
    return {"task_id": "register", "tencentcloud_conn_id": CONN, "training_task": task, "model_name": model_name,
            "model_id": model_id, "poll_interval": 0.2, "timeout": 60, **options}  # fmt: skip


def versions_of(emu, model_id: str, task_id: str) -> list[dict]:
    """The model's versions that import this training task (as the API lists them)."""
    listed = call(emu, "DescribeTrainingModelVersions", TrainingModelId=model_id)["TrainingModelVersions"]
    return [v for v in listed if v["TrainingJobId"] == task_id]


def importing(emu, task_id: str, store_file: Path | None, model_id: str | None) -> Callable[[], bool]:
    """Whether the worker's import of ``task_id`` is under way (and recorded in the store, if any)."""

    def check() -> bool:
        recorded = (
            (read_store(store_file).get(REGISTERED_KEY) or {}) if store_file else {"model_id": model_id}
        )
        return bool(recorded.get("model_id")) and versions_of(emu, recorded["model_id"], task_id) != []

    return check


@pytest.mark.parametrize("store", [True, False], ids=["task-state-store", "by-training-task"])
def test_worker_killed_during_an_import_try_2_reattaches(
    emu, conn, imports, creations, tmp_path, store, reliability_results
) -> None:
    """With a store: a first import (a new model), found again from the record. Without one (below
    Airflow 3.3): a later version of a known model, found again by its training task."""
    name, task = f"crash-import-{uuid.uuid4().hex[:6]}", training_task()
    model_id = None
    if not store:
        first = RegisterModelVersionOperator(**register_kwargs(name, training_task(), None))
        model_id = first.execute(rel.context_for(rel.FakeTI(DAG_ID, "register", "v1")))["TrainingModelId"]
    store_file = tmp_path / "task_state_store.json" if store else None
    kwargs = register_kwargs(name, task, model_id)
    emu.reset_counters()
    imports.close()
    run_until_killed("register", store_file, kwargs, importing(emu, task["Id"], store_file, model_id))
    recorded = read_store(store_file)[REGISTERED_KEY] if store_file else {"model_id": model_id}
    (running,) = versions_of(emu, recorded["model_id"], task["Id"])
    assert running["TrainingModelStatus"] == "STATUS_RUNNING"  # killed mid-import; the import goes on

    ti = rel.FakeTI(DAG_ID, "register", run_id=RUN_ID, try_number=2)
    state = TaskStateStore(read_store(store_file)) if store_file else None
    retry = Try(RegisterModelVersionOperator(**kwargs), ti, state)
    attached = "Reconnecting to existing job" if store else "imports this training task already"
    assert rel.wait_until(retry.said(attached), 60), retry.printed  # waiting on the running import...
    imports.release()  # ...which ends now
    retry.end()
    versions = versions_of(emu, recorded["model_id"], task["Id"])
    duplicates = len(versions) - 1 + max(0, creations[task["Id"]] - 1)
    ok = retry.error is None and retry.result["TrainingModelVersionId"] == running["TrainingModelVersionId"]
    reliability_results.record(
        f"TI-ONE crash: worker SIGKILLed mid-import, try 2 reattaches ({'state store' if store else 'by task'})",
        1, faults=1, false_failures=int(not ok), duplicates=duplicates,
    )  # fmt: skip
    assert ok, (retry.error, retry.result, retry.printed)
    assert retry.result["TrainingModelStatus"] == "STATUS_SUCCESS"
    assert (duplicates, creations[task["Id"]], emu.calls["CreateTrainingModel"]) == (0, 1, 1)
    assert sum(attached in m for m in retry.printed) == 1


def test_worker_killed_before_a_first_import_is_read_back(
    emu, conn, creations, tmp_path, reliability_results
) -> None:
    """A first import (a new model) cannot be found by its training task (no public action lists
    models): the version is recorded in the task state store as soon as CreateTrainingModel answers, so
    a worker killed while reading it back (riding out transient errors) leaves a record, and try 2
    reattaches instead of creating a second model."""
    name, task, store_file = f"gap-import-{uuid.uuid4().hex[:6]}", training_task(), tmp_path / "store.json"
    kwargs = register_kwargs(name, task, None)
    emu.set_faults("DescribeTrainingModelVersion:InternalError=1")  # the read-back keeps failing...
    reads = emu.calls["DescribeTrainingModelVersion"]

    def reading_back() -> bool:  # created, and the worker has its reply: it is reading the version back
        return creations[task["Id"]] == 1 and emu.calls["DescribeTrainingModelVersion"] > reads

    run_until_killed("register", store_file, kwargs, reading_back)
    emu.set_faults(None)
    assert read_store(store_file)[REGISTERED_KEY]["task"] == task["Id"]  # recorded before the read-back
    ti = rel.FakeTI(DAG_ID, "register", run_id=RUN_ID, try_number=2)
    retry = Try(RegisterModelVersionOperator(**kwargs), ti, TaskStateStore(read_store(store_file)))
    retry.end()
    duplicates = max(0, creations[task["Id"]] - 1)
    reliability_results.record(
        "TI-ONE crash: worker SIGKILLed before a first import is read back", 1, faults=1,
        false_failures=int(retry.error is not None), duplicates=duplicates,
    )  # fmt: skip
    assert retry.error is None and creations[task["Id"]] == 1, (retry.error, creations)


def test_triggerer_restarted_during_an_import_wait(
    emu, conn, imports, creations, trigger_xcoms, reliability_results
) -> None:
    name, task = f"restart-import-{uuid.uuid4().hex[:6]}", training_task()
    kwargs = register_kwargs(name, task, None, deferrable=True)
    ti, store = rel.FakeTI(DAG_ID, "register", run_id="restart"), TaskStateStore()
    imports.close()
    trigger = deferred_by(RegisterModelVersionOperator(**kwargs), ti, store)
    model_id = trigger.training_model_id
    polls = emu.calls["DescribeTrainingModelVersions"]

    def still_importing() -> None:
        (running,) = versions_of(emu, model_id, task["Id"])
        assert running["TrainingModelStatus"] == "STATUS_RUNNING"  # restarted mid-import
        imports.release()

    events = restart_triggerer(
        trigger, ti, lambda: emu.calls["DescribeTrainingModelVersions"] >= polls + 2, still_importing
    )
    result = RegisterModelVersionOperator(**kwargs).execute_complete(rel.context_for(ti, store), events[0])
    versions = versions_of(emu, model_id, task["Id"])
    duplicates = len(versions) - 1 + max(0, creations[task["Id"]] - 1)
    false_failures = int(len(events) != 1 or result["TrainingModelStatus"] != "STATUS_SUCCESS")
    reliability_results.record(
        "TI-ONE crash: triggerer restarted mid-import", 1, faults=1, false_failures=false_failures,
        duplicates=duplicates,
    )  # fmt: skip
    assert len(events) == 1 and events[0]["status"] == "success", events
    assert result["TrainingModelVersionId"] == trigger.training_model_version_id
    assert (false_failures, duplicates, emu.calls["CreateTrainingModel"]) == (0, 0, 1)


# --------------------------------------------------------------------------------------- rollouts
def deploy_kwargs(group: str, model_version: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"task_id": "deploy", "tencentcloud_conn_id": CONN, "service_group_name": group,
            "model_version": model_version, "charge_type": "POSTPAID_BY_HOUR", "instance_type": "TI.S.MEDIUM.POST",
            "replicas": 2, "poll_interval": 0.2, "healthy_timeout": 60, "abnormal_grace": 0.5, **options}  # fmt: skip


def deployed(emu, prefix: str) -> tuple[str, dict[str, Any], str]:
    """A group serving a first version: (group name, that version, its service Id)."""
    group, v1 = f"{prefix}-{uuid.uuid4().hex[:6]}", version(emu)
    op = DeployModelServiceOperator(**deploy_kwargs(group, v1))
    result = op.execute(rel.context_for(rel.FakeTI(DAG_ID, "deploy", "first")))
    return group, v1, result["ServiceId"]


def service(emu, service_id: str) -> ModelService:
    return ModelService.from_api(call(emu, "DescribeModelService", ServiceId=service_id)["Service"])


def rolling(emu, service_id: str, version_id: str, store_file: Path) -> Callable[[], bool]:
    """Whether the worker's rollout is under way: recorded, and the service configured with the version."""

    def check() -> bool:
        record = read_store(store_file).get(ROLLOUT_KEY) or {}
        return record.get("phase") == "rolling" and service(emu, service_id).model_version_id == version_id

    return check


def ended(emu, group: str, wanted: str) -> tuple[int, bool]:
    """(services ever created in the group beyond its first, whether it serves ``wanted`` with its roll over)."""
    (only, *others) = services_of(emu, group)
    made = emu.tione.service_store.group(only["ServiceGroupId"], None)["NextVersion"] - 1
    serves = not others and rollout_state(ModelService.from_api(only), wanted) == "serving"
    return made - 1 + len(others), serves


@pytest.mark.parametrize("outcome", ["serves", "broken"])
def test_worker_killed_during_a_rollout_try_2_finishes_or_rolls_back(
    emu, conn, replicas, tmp_path, outcome, reliability_results
) -> None:
    group, v1, service_id = deployed(emu, f"crash-roll-{outcome[0]}")
    target = version(emu, v1["TrainingModelId"], broken=outcome == "broken")
    kwargs, store_file = deploy_kwargs(group, target), tmp_path / "task_state_store.json"
    replicas.close()
    run_until_killed(
        "deploy", store_file, kwargs, rolling(emu, service_id, target["TrainingModelVersionId"], store_file)
    )
    half_done = rollout_state(service(emu, service_id), target["TrainingModelVersionId"])
    assert half_done == "progressing", half_done

    emu.reset_counters()
    store = TaskStateStore(read_store(store_file))
    retry = Try(
        DeployModelServiceOperator(**kwargs), rel.FakeTI(DAG_ID, "deploy", RUN_ID, try_number=2), store
    )
    assert rel.wait_until(retry.said("watching it"), 60), retry.printed  # the retry found the rollout...
    replicas.release()  # ...and the new replicas come up (or fail) now
    retry.end()
    wanted = target if outcome == "serves" else v1
    duplicates, serves = ended(emu, group, wanted["TrainingModelVersionId"])
    expected = dict if outcome == "serves" else RolloutFailed
    got = retry.result if retry.error is None else retry.error
    reliability_results.record(
        f"TI-ONE crash: worker SIGKILLed mid-rollout ({'new version healthy' if outcome == 'serves' else 'broken version'})",
        1, faults=1, false_failures=int(not (serves and isinstance(got, expected))), duplicates=duplicates,
    )  # fmt: skip
    assert isinstance(got, expected), (got, retry.printed)
    assert serves and duplicates == 0, services_of(emu, group)
    assert store.data[ROLLOUT_KEY]["phase"] == ("done" if outcome == "serves" else "rolled_back")
    assert emu.calls["ModifyModelService"] == (0 if outcome == "serves" else 1)  # only the rollback's
    assert emu.calls["CreateModelService"] == 0
    if outcome == "serves":
        assert got["ModelVersionId"] == target["TrainingModelVersionId"]
        assert got["PreviousModelVersionId"] == v1["TrainingModelVersionId"]


@pytest.mark.parametrize("outcome", ["serves", "broken"])
def test_triggerer_restarted_during_a_rollout_wait(
    emu, conn, replicas, trigger_xcoms, outcome, reliability_results
) -> None:
    group, v1, service_id = deployed(emu, f"restart-roll-{outcome[0]}")
    target = version(emu, v1["TrainingModelId"], broken=outcome == "broken")
    kwargs = deploy_kwargs(group, target, deferrable=True)
    ti, store = rel.FakeTI(DAG_ID, "deploy", run_id="restart"), TaskStateStore()
    replicas.close()
    trigger = deferred_by(DeployModelServiceOperator(**kwargs), ti, store)
    emu.reset_counters()

    def half_done() -> None:
        state = rollout_state(service(emu, service_id), target["TrainingModelVersionId"])
        assert state == "progressing", state  # restarted mid-rollout
        replicas.release()

    events = restart_triggerer(trigger, ti, lambda: emu.calls["DescribeModelServiceGroups"] >= 2, half_done)
    touched_by_triggers = emu.calls["ModifyModelService"]  # a restart neither rolls back nor re-sends
    resumed = DeployModelServiceOperator(**kwargs)
    try:
        got: Any = resumed.execute_complete(rel.context_for(ti, store), events[0])
    except RolloutFailed as error:
        got = error
    wanted = target if outcome == "serves" else v1
    duplicates, serves = ended(emu, group, wanted["TrainingModelVersionId"])
    expected = dict if outcome == "serves" else RolloutFailed
    reliability_results.record(
        f"TI-ONE crash: triggerer restarted mid-rollout ({'new version healthy' if outcome == 'serves' else 'broken version'})",
        1, faults=1, false_failures=int(not (serves and isinstance(got, expected))), duplicates=duplicates,
    )  # fmt: skip
    assert len(events) == 1 and events[0]["status"] == ("success" if outcome == "serves" else "failed"), (
        events
    )
    assert touched_by_triggers == 0
    assert isinstance(got, expected), got
    assert serves and duplicates == 0, services_of(emu, group)
    assert emu.calls["CreateModelService"] == 0
