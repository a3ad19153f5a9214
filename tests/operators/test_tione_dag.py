"""TI-ONE operators and sensor end to end: dag.test() against the emulator over real HTTP, code staged
to COS (moto) and run by the local runner on two DDP workers."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
import uuid

import pytest

from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.links.tione import TIONETaskLink
from airflow_provider_tia.operators.tione.training import (
    CreateTrainingTaskOperator,
    DeleteTrainingTaskOperator,
    StopTrainingTaskOperator,
)
from tests.helpers import airflow_compat
from tests.helpers.dag_runs import xcom
from tests.helpers.support import FakeTI

BUCKET = "tione-test-1250000000"


@pytest.fixture
def cos(cos_connection, airflow_db):
    from airflow_provider_tia.hooks.cos import COSHook

    hook = COSHook(cos_connection)
    buckets = [b["Name"] for b in hook.client.list_buckets().get("Buckets", [])]
    if BUCKET not in buckets:
        hook.client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"}
        )
    return hook


@pytest.fixture
def tione(cos) -> TIONEHook:
    return TIONEHook()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def tasks_named(hook: TIONEHook, prefix: str) -> list:
    return [task for task in hook.find_training_tasks() if (task.name or "").startswith(f"{prefix}-")]


def printed(output: str, text: str, caplog=None) -> int:
    """How many times a job line was written to the task log (by the operator or its trigger)."""
    in_output = len(re.findall(rf"\] \[[^\]]+\] {re.escape(text)} \[airflow", output))
    return max(in_output, airflow_compat.records_of(caplog, lambda message: message.endswith(f"] {text}")))


@pytest.mark.parametrize("dag_id", ["tione_test_train", "tione_test_deferred"])
def test_success_logs_each_line_once_and_returns_the_task(
    dag_loader, cos, tione, capfd, caplog, dag_id
) -> None:
    prefix = unique("ok")
    run = dag_loader(dag_id).test(run_conf={"prefix": prefix, "lines": 4, "sleep": 0.3})
    out = capfd.readouterr().out
    assert run.state == "success", out[-3000:]
    for role in ("master0", "worker1"):
        for step in range(4):
            assert printed(out, f"{prefix} {role} step {step}", caplog) == 1, (role, step)
    result = xcom(run, "train")
    assert result["Status"] == "SUCCEED" and result["Id"].startswith("train-")
    assert result["CreateTime"].endswith(("Z", "+00:00"))
    tags = {tag["TagKey"]: tag["TagValue"] for tag in result["Tags"]}
    assert tags["suite"] == "dag-test" and len(tags["airflow-task-key"]) == 32
    assert [task.id for task in tasks_named(tione, prefix)] == [result["Id"]]
    assert "RUN" in {env["Name"] for env in result.get("Envs") or [{"Name": "RUN"}]}
    # A clean run logs no ERROR: nothing reads an XCom that is not there (the log checkpoint exists
    # before the trigger reads it; the link is answered by the operator, not read back).
    assert "XCom not found" not in out and not re.search(r"\[error\s*\]", out), out[-3000:]
    page = xcom(run, "train", TIONETaskLink().xcom_key)  # what the UI and the REST API read
    assert page.endswith(f"/console/tione/task?id={result['Id']}")


def test_failed_task_fails_with_its_reason_and_last_lines(dag_loader, cos, capfd) -> None:
    prefix = unique("bad")
    run = dag_loader("tione_test_train").test(run_conf={"prefix": prefix, "fail": True})
    out = capfd.readouterr().out
    assert run.state == "failed"
    assert re.search(rf"JobFailed: TI-ONE training task {prefix}-\w+ \(train-\d+\) failed: ", out), out[
        -3000:
    ]
    assert f"{prefix} master0 error: loss is nan" in out.split("JobFailed", 1)[1]  # the last lines


def test_bad_input_is_refused_before_any_call(dag_loader, cos, cos_emulator, capfd) -> None:
    cos_emulator.reset_counters()
    run = dag_loader("tione_test_train").test(run_conf={"prefix": unique("input"), "charge_type": "FREE"})
    out = capfd.readouterr().out
    assert run.state == "failed"
    assert "Invalid parameter charge_type (ChargeType)" in out, out[-2000:]
    assert sum(cos_emulator.calls.values()) == 0
    assert "XCom not found" not in out  # no link was looked up for a task that never existed


def test_max_wait_stops_the_task(dag_loader, cos, tione, cos_emulator, capfd) -> None:
    prefix = unique("slow")
    run = dag_loader("tione_test_timeout").test(run_conf={"prefix": prefix, "lines": 200, "sleep": 0.1})
    out = capfd.readouterr().out
    assert run.state == "failed"
    assert "did not finish within 4s; the job was stopped (on_timeout='stop')" in out, out[-2000:]
    (task,) = tasks_named(tione, prefix)
    assert cos_emulator.wait_for_task(task.id, "STOPPED")["FailureReason"] == "User Stop"


def _operator(name: str, lines: int = 100, **options) -> CreateTrainingTaskOperator:
    """A one-worker task printing ``lines`` lines, one every 0.1 s."""
    from tests.helpers.support import SCRIPTS

    return CreateTrainingTaskOperator(
        task_id="train",
        name=name,
        resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
        code_dir=SCRIPTS,
        code_bucket=BUCKET,
        start_cmd=f"python train.py --lines {lines} --sleep 0.1",
        poll_interval=0.2,
        **options,
    )


def test_kill_stops_the_task_and_a_retry_reattaches(cos, tione, cos_emulator) -> None:
    name = unique("kill")
    ti = FakeTI("train", run_id=name)  # the task instance: its own idempotency tag
    op, errors = _operator(name), []
    thread = threading.Thread(target=_execute, args=(op, ti, errors))
    thread.start()
    deadline = time.monotonic() + 60
    while op.jobs.last is None and time.monotonic() < deadline:
        time.sleep(0.05)
    op.on_kill()
    thread.join(60)
    (task,) = (
        tasks_named(tione, name.rsplit("-", 1)[0])
        if False
        else [t for t in tione.find_training_tasks(name=name)]
    )
    assert cos_emulator.wait_for_task(task.id, "STOPPED")["Status"] == "STOPPED"
    # The next try of the same task instance finds its task by tag and starts it again, creating none.
    retry = _operator(name)
    ti.try_number = 2
    errors.clear()
    _execute(retry, ti, errors)
    assert not errors, errors
    assert [t.id for t in tione.find_training_tasks(name=name)] == [task.id]
    assert tione.describe_training_task(task.id).state_name == "SUCCEED"


def _execute(op, ti, errors) -> None:
    try:
        op.execute({"ti": ti})
    except BaseException as error:
        errors.append(error)


def test_stopped_by_someone_else_and_arrears_fail_saying_so(cos, tione, cos_emulator) -> None:
    for ending, expected in (("stop", "stopped"), ("arrears", "arrears")):
        name, errors = unique(ending), []
        op = _operator(name, lines=900)  # 90 s: ended by the test long before
        thread = threading.Thread(target=_execute, args=(op, FakeTI("train", run_id=name), errors))
        thread.start()
        deadline = time.monotonic() + 60
        while op.jobs.last is None and time.monotonic() < deadline:
            time.sleep(0.05)
        task_id = op.jobs.last.id
        cos_emulator.wait_for_task(task_id, "RUNNING", timeout=60)
        if ending == "stop":
            tione.stop_training_task(task_id)
        else:
            cos_emulator.arrears_stop(task_id)
        thread.join(60)
        assert len(errors) == 1 and expected in str(errors[0]).lower(), errors


def test_sensor_pokes_and_defers(dag_loader, cos, tione, cos_emulator, capfd) -> None:
    name = unique("watched")
    created = _operator(name, wait_for_completion=False).execute({"ti": FakeTI("train", run_id=name)})
    cos_emulator.wait_for_task(created["Id"], "SUCCEED", timeout=60)
    run = dag_loader("tione_test_sensor").test(run_conf={"task_id": created["Id"]})
    assert run.state == "success", capfd.readouterr().out[-3000:]
    assert xcom(run, "poke")["Status"] == xcom(run, "deferred")["Status"] == "SUCCEED"
    missing = dag_loader("tione_test_sensor").test(run_conf={"task_id": "train-1"})
    assert missing.state == "failed" and "does not exist" in capfd.readouterr().out


def test_stop_and_delete_operators_end_a_running_task_whose_link_opens(cos, tione, cos_emulator) -> None:
    name = unique("ops")
    ti = FakeTI("train", run_id=name)
    task_id = _operator(name, lines=900, wait_for_completion=False).execute({"ti": ti})["Id"]
    cos_emulator.wait_for_task(task_id, "RUNNING", timeout=60)
    link = ti.pushed[TIONETaskLink().xcom_key]  # the link's target: the emulator's page of the task
    with urllib.request.urlopen(link, timeout=10) as page:
        assert task_id in page.read().decode()
    assert StopTrainingTaskOperator(task_id="stop", training_task_id=task_id).execute({}) is True
    cos_emulator.wait_for_task(task_id, "STOPPED")
    assert DeleteTrainingTaskOperator(task_id="delete", training_task_id=task_id).execute({}) is True
    assert tione.find_training_tasks(ids=[task_id]) == []
