"""TIONEHook and AsyncTIONEClient over real HTTP against the emulator (simulated runner): every action,
errors by class, a lost CreateTrainingTask reply, logs past one page, and the async twins."""

from __future__ import annotations

import asyncio
import uuid

import pendulum
import pytest

from airflow_provider_tia.exceptions import AuthFailure, JobNotFound, WrongState
from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.logs import LogCursor, LogFollower
from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec

CONN = "tione_hook_test"


@pytest.fixture
def hook(simulated_emulator, connect) -> TIONEHook:
    connect(CONN, simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    return TIONEHook(CONN)


def spec(name: str | None = None, **sim: str) -> TrainingTaskSpec:
    """A one-worker task; ``sim`` tags steer the simulated runner (duration, outcome, log_lines)."""
    return TrainingTaskSpec.from_kwargs(
        name=name or f"hook-{uuid.uuid4().hex[:8]}",
        charge_type="POSTPAID_BY_HOUR",
        resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
        start_cmd="python train.py",
        tags={"owner": "tests", **{f"sim.{k}": v for k, v in sim.items()}},
    )


def test_a_created_task_reads_back_with_zoned_times_and_its_tags(hook, simulated_emulator) -> None:
    task_id = hook.create_training_task(spec("model-ok", duration="0.3"))
    assert task_id.startswith("train-")
    simulated_emulator.wait_for_task(task_id, "SUCCEED")
    task = hook.describe_training_task(task_id)
    assert (task.id, task.name, task.state_name, task.succeeded, task.is_terminal) == (
        task_id,
        "model-ok",
        "SUCCEED",
        True,
        True,
    )
    assert task.create_time is not None and task.create_time.tzinfo is not None
    assert task.latest_instance_id and task.latest_instance_id.startswith(f"{task_id}-")
    assert task.tags["owner"] == "tests"
    result = task.to_dict()
    assert result["Id"] == task_id and pendulum.parse(result["CreateTime"]).tzinfo is not None


def test_find_pages_filters_by_tag_name_and_ids(hook, simulated_emulator) -> None:
    marker = uuid.uuid4().hex[:8]
    ids = [
        hook.create_training_task(spec(f"page-{marker}-{i}").with_tags({"batch": marker})) for i in range(55)
    ]
    by_tag = hook.find_training_tasks(tags={"batch": marker})
    assert sorted(task.id for task in by_tag) == sorted(ids)  # two pages of at most 50
    named = hook.find_training_tasks(name=f"page-{marker}-7")
    assert [task.id for task in named] == [ids[7]]  # exact name, not every name containing it
    assert {task.id for task in hook.find_training_tasks(ids=ids[:3])} == set(ids[:3])
    # A triggerer's poller asks for every task it watches: far more ids than one Filter takes
    # (the emulator refuses lists of more than 256 values).
    unknown = [f"train-{n}" for n in range(1000)]
    simulated_emulator.reset_counters()
    assert {task.id for task in hook.find_training_tasks(ids=unknown + ids)} == set(ids)
    assert simulated_emulator.calls["DescribeTrainingTasks"] == 22  # one page per 50 ids (1,055 ids)
    simulated_emulator.reset_counters()
    assert {task.id for task in hook.find_training_tasks(ids=ids[:50])} == set(ids[:50])
    assert (
        simulated_emulator.calls["DescribeTrainingTasks"] == 1
    )  # a full page of all 50: nothing more to ask


def test_stop_start_and_delete_refuse_the_wrong_state_and_tolerate_a_missing_task(
    hook, simulated_emulator
) -> None:
    task_id = hook.create_training_task(spec(duration="30"))
    simulated_emulator.wait_for_task(task_id, "RUNNING")
    with pytest.raises(WrongState, match="InternalError.NotAllow"):
        hook.delete_training_task(task_id)  # a running task is not deleted
    assert hook.stop_training_task(task_id) is True
    stopped = simulated_emulator.wait_for_task(task_id, "STOPPED")
    first_run = stopped["LatestInstanceId"]
    task = hook.describe_training_task(task_id)
    assert task.failed and "stopped" in (task.message or "").lower()
    with pytest.raises(WrongState):
        hook.stop_training_task(task_id)  # already ended
    hook.start_training_task(task_id)
    assert hook.describe_training_task(task_id).latest_instance_id != first_run
    hook.stop_training_task(task_id)
    simulated_emulator.wait_for_task(task_id, "STOPPED")
    assert hook.delete_training_task(task_id) is True
    assert hook.delete_training_task(task_id) is False  # missing_ok
    with pytest.raises(JobNotFound, match="ResourceNotFound"):
        hook.describe_training_task(task_id)


def test_a_lost_create_reply_creates_one_task(hook, simulated_emulator) -> None:
    marker = uuid.uuid4().hex
    simulated_emulator.set_faults("CreateTrainingTask:drop_after=1")
    try:
        task_id = hook.create_training_task(spec().with_tags({"airflow-task-key": marker}))
        assert simulated_emulator.fault_counts[("CreateTrainingTask", "drop_after")] == 1
    finally:
        simulated_emulator.set_faults(None)
    found = hook.find_training_tasks(tags={"airflow-task-key": marker})
    assert [task.id for task in found] == [task_id]  # the retry found the task instead of creating another


def test_logs_past_one_page_each_line_once(hook, simulated_emulator) -> None:
    task_id = hook.create_training_task(spec(duration="0.2", log_lines="2500"))
    simulated_emulator.wait_for_task(task_id, "SUCCEED")
    task = hook.describe_training_task(task_id)
    printed: list[str] = []
    follower = LogFollower(hook.log_reader(task), LogCursor(task.create_time), printed.append)
    assert follower.poll() == 2500
    assert follower.poll() == 0  # nothing twice
    assert len(set(printed)) == 2500


def test_the_async_client_describes_lists_and_stops_as_the_hook_does(hook, simulated_emulator) -> None:
    task_id = hook.create_training_task(spec(duration="30"))
    simulated_emulator.wait_for_task(task_id, "RUNNING")

    async def run() -> tuple[str, list[str], bool]:
        async with await hook.async_client() as client:
            task = await client.describe_training_task(task_id)
            listed = await client.find_training_tasks(ids=[task_id])
            stopped = await client.stop_training_task(task_id)
            return task.state_name, [t.id for t in listed], stopped

    assert asyncio.run(run()) == ("RUNNING", [task_id], True)
    simulated_emulator.wait_for_task(task_id, "STOPPED")


def test_connection_check_passes_and_a_wrong_key_fails_without_showing_it(
    simulated_emulator, connect
) -> None:
    connect(CONN, simulated_emulator)
    assert TIONEHook(CONN).test_connection()[0] is True
    connect("tione_bad", simulated_emulator, password="wrong-secret-key-value")
    with pytest.raises(AuthFailure) as info:
        TIONEHook("tione_bad").describe_training_task("train-1")
    assert "wrong-secret-key-value" not in str(info.value)


@pytest.fixture(scope="module")
def slow_submit_emulator():
    """Tasks stay SUBMITTING for 2 s, where TI-ONE refuses Stop ("retry later")."""
    from airflow_provider_tia.emulator import TIAEmulator

    with TIAEmulator(runner="simulated", sim_duration=30, tione_submit_delay=2.0) as emulator:
        yield emulator


def test_kill_while_submitting_still_stops_the_task(slow_submit_emulator, connect) -> None:
    import threading

    from tests.helpers.support import FakeTI

    connect("tencentcloud_default", slow_submit_emulator)
    name = f"submitting-{uuid.uuid4().hex[:6]}"
    op = _operator(name)
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(_result(op, FakeTI("train", run_id=name))))
    thread.start()
    deadline = pendulum.now().add(seconds=30)
    while op.jobs.last is None and pendulum.now() < deadline:
        threading.Event().wait(0.05)
    assert op.jobs.last is not None and op.jobs.last.state_name == "SUBMITTING"
    op.on_kill()  # refused at first: the task is still being submitted
    thread.join(60)
    task_id = op.jobs.last.id
    assert slow_submit_emulator.wait_for_task(task_id, "STOPPED", timeout=30)["FailureReason"] == "User Stop"


def test_transient_errors_before_create_never_fail_the_task(simulated_emulator, connect) -> None:
    """DescribeTrainingTasks (finding this task instance's task) fails past the hook's own attempts: the
    operator rides it out within its budget, then creates and watches its task."""
    import threading

    from tests.helpers.support import FakeTI

    connect("tencentcloud_default", simulated_emulator, extra={"retry_backoff": 0.01, "max_attempts": 2})
    name = f"flaky-list-{uuid.uuid4().hex[:6]}"
    op = _operator(name, tags={"sim.duration": "0.3"}, max_wait=60)
    simulated_emulator.set_faults("DescribeTrainingTasks:InternalError=1")
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(_result(op, FakeTI("train", run_id=name))))
    thread.start()
    try:
        deadline = pendulum.now().add(seconds=30)
        while simulated_emulator.fault_counts[("DescribeTrainingTasks", "InternalError")] < 4:
            assert pendulum.now() < deadline, "the operator never listed its tasks"
            threading.Event().wait(0.05)
    finally:
        simulated_emulator.set_faults(None)
    thread.join(60)
    (result,) = results
    assert isinstance(result, dict) and result["Status"] == "SUCCEED", result


def _operator(name: str, **options: object):  # the operator module is imported lazily
    """A one-worker training task for the simulated runner, polled every 0.2 s."""
    from airflow_provider_tia.operators.tione.training import CreateTrainingTaskOperator

    return CreateTrainingTaskOperator(
        task_id="train",
        name=name,
        resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
        start_cmd="python train.py",
        poll_interval=0.2,
        **options,
    )


def _result(op, ti) -> object:
    """What the operator returned, or the error it raised."""
    try:
        return op.execute({"ti": ti})
    except BaseException as error:
        return error
