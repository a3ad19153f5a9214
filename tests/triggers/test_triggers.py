"""JobTrigger against the emulator over real HTTP: serialisation, events, transient errors, on_kill/cleanup."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time

import pytest

from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job import TIAJobKey
from airflow_provider_tia.models.tione.training_task import TrainingTaskKey
from airflow_provider_tia.triggers.base import MIN_EVENT_DELAY
from airflow_provider_tia.triggers.tia import JobTrigger
from airflow_provider_tia.triggers.tione.training import TrainingTaskTrigger
from tests.helpers import airflow_compat
from tests.helpers.support import CLUSTER, script_spec


def _create(hook: TIAHook, name: str, *args: str) -> None:
    hook.create_job(script_spec(name, *args))


async def _first_event(trigger: JobTrigger) -> dict:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


@pytest.fixture
def hook(tia_connection) -> TIAHook:
    return TIAHook(tia_connection)


def _round_trip(trigger) -> tuple[str, dict]:
    """serialize() -> Airflow's serde (as the triggerer stores it) -> the class again: nothing lost."""
    import importlib

    serialize, deserialize = airflow_compat.first("serialize"), airflow_compat.first("deserialize")

    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**deserialize(serialize(kwargs)))
    assert again.serialize() == (classpath, kwargs)
    return classpath, kwargs


def test_serialize_round_trip_keeps_every_field():
    trigger = JobTrigger(
        TIAJobKey("job-a", CLUSTER, "job-id-1"),
        tencentcloud_conn_id="my_conn",
        region="ap-guangzhou",
        poll_interval=2.5,
        deadline=1700000000.0,
        kill_action="leave",
        batched=False,
        budget=60,
        resume={"logs": None},
        not_before=1699999999.5,
    )
    classpath, kwargs = _round_trip(trigger)
    assert classpath == "airflow_provider_tia.triggers.tia.JobTrigger"
    assert kwargs == {
        "key": {"name": "job-a", "cluster": CLUSTER, "id": "job-id-1"},
        "tencentcloud_conn_id": "my_conn",
        "region": "ap-guangzhou",
        "poll_interval": 2.5,
        "deadline": 1700000000.0,
        "kill_action": "leave",
        "batched": False,
        "budget": 60,
        "resume": {"logs": None},  # the job is named once: by the key
        "not_before": 1699999999.5,
    }


@pytest.mark.parametrize(
    ("old_kwargs", "kill_action"),
    [
        ({"tia_conn_id": "my_conn", "delete_on_kill": False}, "leave"),
        ({"tia_conn_id": "my_conn", "delete_on_kill": True}, "delete"),
        ({"tia_conn_id": "my_conn"}, "delete"),  # the default then and now
    ],
)
def test_a_job_trigger_serialized_by_an_earlier_release_still_loads(old_kwargs, kill_action):
    """A triggerer upgraded under a deferred task loads its trigger's old keywords; it writes the new."""
    import warnings

    stored = {"job_name": "job-a", "cluster": CLUSTER, **old_kwargs, "poll_interval": 2.5, "not_before": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # silently: a triggerer's log is no place for a deprecation
        trigger = JobTrigger(**stored)
    kwargs = trigger.serialize()[1]
    assert (kwargs["tencentcloud_conn_id"], kwargs["kill_action"]) == ("my_conn", kill_action)
    assert kwargs["key"] == {"name": "job-a", "cluster": CLUSTER}
    assert not {"tia_conn_id", "delete_on_kill", "job_name", "cluster"} & set(kwargs)


def test_a_job_trigger_stored_with_the_key_in_resume_watches_the_same_job(hook, tia_emulator):
    """A row the previous release stored (``job_name``/``cluster`` and ``resume["key"]``) loads through
    Airflow's serde with the key it carried, Id included, and its event hands the resumed task that key."""
    serialize, deserialize = airflow_compat.first("serialize"), airflow_compat.first("deserialize")

    _create(hook, "g-stored", "--lines", "1")
    job_id = tia_emulator.store.get(CLUSTER, "g-stored")["Id"]
    key = {"name": "g-stored", "cluster": CLUSTER, "id": job_id}
    stored = {
        "job_name": "g-stored", "cluster": CLUSTER, "tencentcloud_conn_id": "tencentcloud_default",
        "kill_action": "delete", "region": None, "poll_interval": 0.1, "deadline": time.time() + 60,
        "batched": True, "budget": 60.0, "resume": {"key": key, "logs": None}, "not_before": 0.0,
    }  # fmt: skip
    trigger = JobTrigger(**deserialize(serialize(stored)))
    assert trigger.key == TIAJobKey("g-stored", CLUSTER, job_id)
    kwargs = trigger.serialize()[1]
    assert (kwargs["key"], kwargs["resume"]) == (key, {"logs": None})
    assert {k: v for k, v in kwargs.items() if k not in ("key", "resume")} == {
        k: v for k, v in stored.items() if k not in ("job_name", "cluster", "resume")
    }
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "success" and event["job"]["Name"] == "g-stored"
    assert event["resume"] == {"key": key, "logs": None}


@pytest.mark.parametrize(
    "key",
    [None, {}, {"name": "job-a"}, {"name": "", "cluster": CLUSTER}, "job-a", TrainingTaskKey("n", "train-1")],
)
def test_a_job_trigger_without_a_whole_key_names_the_parameter(key):
    with pytest.raises(
        ValueError, match=r"JobTrigger: key must be a TIAJobKey \(or its JSON form\) with name and cluster"
    ):
        JobTrigger(key)


def test_the_deferring_operator_hands_the_key_once_and_resumes_from_the_event(tia_emulator, tia_connection):
    """``CreateJobOperator`` defers with the key as the trigger's argument only; the trigger's event
    brings it back, and the resumed task ends from it without reading the job's identity elsewhere."""
    from airflow_provider_tia.compat import TaskDeferred
    from airflow_provider_tia.operators.tia import CreateJobOperator
    from tests.helpers.support import SCRIPTS, FakeTI, context

    op = CreateJobOperator(
        task_id="t", name="g-defer", cluster=CLUSTER, runtime_version="r", package_dir=[SCRIPTS],
        command=["python"], args=["train.py", "--lines", "2", "--sleep", "0.3"], poll_interval=0.1,
        deferrable=True, print_logs=False, if_exists="fail",
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(FakeTI()))
    trigger = deferred.value.trigger
    assert isinstance(trigger, JobTrigger)
    kwargs = trigger.serialize()[1]
    assert kwargs["key"]["name"] == "g-defer" and kwargs["key"]["cluster"] == CLUSTER
    assert kwargs["resume"] == {"logs": None}
    event = asyncio.run(_first_event(_rebuilt(trigger)))
    assert event["resume"]["key"] == kwargs["key"]
    resumed = CreateJobOperator(
        task_id="t", name="g-defer", cluster=CLUSTER, runtime_version="r", print_logs=False
    )  # a new worker's operator
    assert resumed.execute_complete({"ti": FakeTI()}, event)["State"] == "Succeeded"
    assert resumed.jobs.target == TIAJobKey.from_json(kwargs["key"])


def _rebuilt(trigger):
    """The trigger as the triggerer makes it: from its serialized form."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


@pytest.mark.parametrize("kill_action", ["stop", "delete", "leave"])
def test_training_task_trigger_round_trip_keeps_every_field(kill_action):
    key = {"name": "n", "id": "train-1", "tag": "t"}
    resume = {"logs": {"since": "2026-01-01T00:00:00Z"}}
    trigger = TrainingTaskTrigger(
        TrainingTaskKey.from_json(key),
        tencentcloud_conn_id="my_conn",
        region="ap-guangzhou",
        poll_interval=3.0,
        deadline=1700000000.0,
        kill_action=kill_action,
        batched=False,
        budget=90,
        resume=resume,
        not_before=1699999990.0,
    )
    classpath, kwargs = _round_trip(trigger)
    assert classpath == "airflow_provider_tia.triggers.tione.training.TrainingTaskTrigger"
    # a trigger Airflow stored before TI-ONE's triggers became a package still loads
    assert (
        importlib.import_module("airflow_provider_tia.triggers.tione").TrainingTaskTrigger
        is TrainingTaskTrigger
    )
    assert kwargs == {
        "key": key,
        "tencentcloud_conn_id": "my_conn",
        "kill_action": kill_action,
        "region": "ap-guangzhou",
        "poll_interval": 3.0,
        "deadline": 1700000000.0,
        "batched": False,
        "budget": 90,
        "resume": resume,
        "not_before": 1699999990.0,
    }
    assert trigger.label == "TI-ONE training task n (train-1)"


def test_a_training_task_trigger_without_an_id_names_the_parameter():
    with pytest.raises(ValueError, match=r"TrainingTaskTrigger: key must be a TrainingTaskKey .* with id"):
        TrainingTaskTrigger({"name": "n", "tag": "t"})  # a task whose Id was never seen: nothing to watch


def test_a_training_task_trigger_stored_by_the_previous_release_watches_the_same_task(
    simulated_emulator, connect
):
    """``training_task_id`` and ``resume["key"]`` (what the previous release stored) -> the same key, the
    same task watched, and the event hands the key (name and tag too) back to the resumed task."""
    serialize, deserialize = airflow_compat.first("serialize"), airflow_compat.first("deserialize")

    conn = connect("tione_stored", simulated_emulator)
    task_id = _tione_task(conn, "stored", "1")
    key = {"name": "stored", "id": task_id, "tag": "tag-1"}
    stored = {
        "training_task_id": task_id, "tencentcloud_conn_id": conn, "kill_action": "stop", "region": None,
        "poll_interval": 0.2, "deadline": time.time() + 60, "batched": True, "budget": 60.0,
        "resume": {"key": key, "logs": None}, "not_before": 0.0,
    }  # fmt: skip
    trigger = TrainingTaskTrigger(**deserialize(serialize(stored)))
    assert trigger.key == TrainingTaskKey("stored", task_id, "tag-1") and trigger.training_task_id == task_id
    kwargs = trigger.serialize()[1]
    assert (kwargs["key"], kwargs["resume"], kwargs["kill_action"]) == (key, {"logs": None}, "stop")
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "success" and event["job"]["Id"] == task_id
    assert event["resume"] == {"key": key, "logs": None}
    # An older row without the key in resume: the Id names the task (as the sensor's did).
    older = TrainingTaskTrigger(**{**stored, "resume": {}})
    assert older.key == TrainingTaskKey(task_id, task_id)


def _tione_task(conn: str, name: str, duration: str) -> str:
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec

    return TIONEHook(conn).create_training_task(
        TrainingTaskSpec.from_kwargs(
            name=name,
            charge_type="POSTPAID_BY_HOUR",
            resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
            start_cmd="python train.py",
            tags={"sim.duration": duration},
        )
    )


def test_not_before_defaults_to_the_deferral_plus_the_configured_delay(monkeypatch):
    monkeypatch.setenv("AIRFLOW__TENCENTCLOUD__MIN_TRIGGER_EVENT_DELAY", "12")
    before = time.time()
    assert before + 12 <= JobTrigger(TIAJobKey("a", CLUSTER)).not_before <= time.time() + 12
    monkeypatch.delenv("AIRFLOW__TENCENTCLOUD__MIN_TRIGGER_EVENT_DELAY")
    assert JobTrigger(TIAJobKey("a", CLUSTER)).not_before >= before + MIN_EVENT_DELAY  # the default


def test_an_event_never_fires_before_not_before(hook, tia_emulator):
    """A job that ends at once still fires no sooner than ``not_before`` (Airflow's fast-trigger race)."""
    _create(hook, "g-fast", "--lines", "1")
    tia_emulator.wait_for_state("g-fast", CLUSTER, "Succeeded")
    not_before = time.time() + 1.5
    event = asyncio.run(
        _first_event(JobTrigger(TIAJobKey("g-fast", CLUSTER), poll_interval=0.1, not_before=not_before))
    )
    assert event["status"] == "success" and time.time() >= not_before


def test_events_success_failed_vanished_timeout(hook, tia_emulator):
    _create(hook, "g-ok", "--lines", "2", "--sleep", "0.3")
    _create(hook, "g-bad", "--fail", "true")
    _create(hook, "g-slow", "--lines", "100", "--sleep", "0.1")

    async def scenario() -> list[dict]:
        return await asyncio.gather(
            _first_event(JobTrigger(TIAJobKey("g-ok", CLUSTER), poll_interval=0.2)),
            _first_event(JobTrigger(TIAJobKey("g-bad", CLUSTER), poll_interval=0.2)),
            _first_event(JobTrigger(TIAJobKey("g-none", CLUSTER), poll_interval=0.2)),
            _first_event(
                JobTrigger(TIAJobKey("g-slow", CLUSTER), poll_interval=0.2, deadline=time.time() + 1)
            ),
        )

    ok, bad, vanished, timeout = asyncio.run(scenario())
    assert ok["status"] == "success" and ok["job"]["State"] == "Succeeded" and ok["job"]["Name"] == "g-ok"
    assert bad["status"] == "failed" and bad["job"]["State"] == "Failed"
    assert bad["job"]["Message"] in bad["message"]
    assert (vanished["status"], vanished["reason"], vanished["job"]) == ("error", "vanished", None)
    assert (
        vanished["message"]
        == "TI-A job g-none in ap-beijing no longer exists: it was deleted while being watched"
    )
    # What the task handed over comes back.
    assert ok["resume"] == {"key": {"name": "g-ok", "cluster": CLUSTER}}  # the key, back to the task
    assert (
        timeout["status"] == "error" and "deadline" in timeout["message"] and timeout["reason"] == "timeout"
    )
    assert tia_emulator.store.get(CLUSTER, "g-slow")["State"] == "Running"  # the trigger never deletes it
    hook.delete_job("g-slow", CLUSTER)


def test_transient_errors_keep_polling(hook, tia_emulator, monkeypatch):
    conn = json.loads(tia_emulator.connection_uri_json())
    conn["extra"].update(max_attempts=1)  # no SDK retries: the trigger itself sees the errors
    monkeypatch.setenv("AIRFLOW_CONN_TIA_NO_RETRY", json.dumps(conn))
    _create(hook, "g-flaky", "--lines", "1")
    tia_emulator.reset_counters()
    tia_emulator.set_faults("DescribeJob: InternalError=1")
    threading.Timer(1.0, tia_emulator.set_faults, args=(None,)).start()
    trigger = JobTrigger(
        TIAJobKey("g-flaky", CLUSTER),
        tencentcloud_conn_id="tia_no_retry",
        poll_interval=0.1,
        deadline=time.time() + 30,
    )
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "success"
    assert tia_emulator.fault_counts[("DescribeJob", "InternalError")] >= 3  # several failed polls, then on


class _TI:
    """The task instance a triggerer gives a trigger (what ``on_kill`` reads of it)."""

    def __init__(self, map_index: int = -1) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "d", "train", "r", map_index


def _task_states(monkeypatch, state: str | None | Exception, map_index: int = -1) -> None:
    """What Airflow's API answers for the task's state (the execution API, reached through the triggerer)."""
    name = "train" if map_index < 0 else f"train_{map_index}"
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError:  # Airflow 2: the triggerer reads the metadata DB; answer for it
        import airflow_provider_tia.triggers.base as trigger_base

        def task_instance_state(dag_id, task_id, run_id, index):
            if isinstance(state, Exception):
                raise state
            assert index == map_index and task_id == "train"
            return "" if state is None else state

        monkeypatch.setattr(trigger_base, "task_instance_state", task_instance_state)
        return

    def get_task_states(**query):
        if isinstance(state, Exception):
            raise state
        assert query["map_index"] == map_index and query["task_ids"] == ["train"]
        return {"r": {name: state, "other_task": "failed"}}

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))


@pytest.mark.parametrize(
    ("state", "map_index", "ended"),
    [
        ("deferred", -1, False),  # Airflow moved the trigger to another triggerer: the job goes on
        ("deferred", 3, False),
        ("failed", -1, True),  # a user marked the task failed
        ("success", 2, True),  # ... or succeeded (a mapped instance)
        (None, -1, True),  # ... or cleared it (no state)
        (RuntimeError("API down"), -1, False),  # unknown: never a reason to end a job
    ],
)
def test_on_kill_ends_the_job_only_once_the_task_left_deferral(
    hook, tia_emulator, monkeypatch, state, map_index, ended
):
    name = f"g-kill-{map_index + 1}-{str(state).lower()[:8].replace(' ', '-')}-{int(ended)}"
    _create(hook, name, "--lines", "100", "--sleep", "0.1")
    _task_states(monkeypatch, state, map_index)
    trigger = JobTrigger(TIAJobKey(name, CLUSTER), poll_interval=0.2)
    trigger.task_instance = _TI(map_index)
    asyncio.run(trigger.on_kill())
    job = tia_emulator.store.get(CLUSTER, name)
    assert (job is None) is ended
    if job is not None:
        assert job["State"] in ("Created", "Running")  # neither deleted nor ended
        hook.delete_job(name, CLUSTER)


def test_cancel_and_cleanup_never_end_the_job(hook, tia_emulator):
    """A triggerer stopping (cancel without a user action) and cleanup() leave the job running."""
    _create(hook, "g-keep", "--lines", "100", "--sleep", "0.1")

    async def scenario() -> None:
        trigger = JobTrigger(TIAJobKey("g-keep", CLUSTER), poll_interval=0.2)
        task = asyncio.ensure_future(_first_event(trigger))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.cleanup()  # the triggerer calls it on every exit, restarts included

    asyncio.run(scenario())
    assert tia_emulator.store.get(CLUSTER, "g-keep")["State"] == "Running"
    hook.delete_job("g-keep", CLUSTER)


@pytest.mark.parametrize(
    ("kill_action", "ends"), [("stop", "STOPPED"), ("delete", None), ("leave", "RUNNING")]
)
def test_training_task_trigger_kill_runs_the_workers_end_plan(
    simulated_emulator, connect, monkeypatch, kill_action, ends
):
    """The trigger's kill is ``ending.end_training_task``, as the worker's: "delete" stops a running
    task, waits until it has ended, then deletes it (the service refuses to delete a running task)."""
    from airflow_provider_tia.exceptions import JobNotFound
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec

    conn = connect("tione_kill", simulated_emulator)
    hook = TIONEHook(conn)
    task_id = hook.create_training_task(
        TrainingTaskSpec.from_kwargs(
            name=f"kill-{kill_action}",
            charge_type="POSTPAID_BY_HOUR",
            resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
            start_cmd="python train.py",
            tags={"sim.duration": "120"},
        )
    )
    simulated_emulator.wait_for_task(task_id, "RUNNING")
    simulated_emulator.reset_counters()
    _task_states(monkeypatch, "failed")
    trigger = TrainingTaskTrigger(
        {"name": f"kill-{kill_action}", "id": task_id},
        tencentcloud_conn_id=conn,
        kill_action=kill_action,
        poll_interval=0.2,
    )
    trigger.task_instance = _TI()
    asyncio.run(trigger.on_kill())
    if ends is None:
        with pytest.raises(JobNotFound):
            hook.describe_training_task(task_id)
        assert simulated_emulator.calls["StopTrainingTask"] >= 1  # stopped before it could be deleted
    else:
        assert hook.describe_training_task(task_id).state_name in (ends, "STOPPING")
