"""CreateJobOperator pieces without a DAG run: on_kill, argument checks, name suffixes, coercion."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_tia.compat import AirflowException
from airflow_provider_tia.exceptions import JobNotFound, JobSpecError, JobVanished
from airflow_provider_tia.links.tia import TIAJobLink
from airflow_provider_tia.models.tia.job_spec import MAX_NAME_LENGTH as TIA_MAX_NAME
from airflow_provider_tia.models.tia.job_spec import SPEC_FIELDS, build_spec
from airflow_provider_tia.operators.base import run_suffix, suffixed
from airflow_provider_tia.operators.tia import CreateJobOperator, DeleteJobOperator
from tests.helpers.support import SCRIPTS, FakeTI, context


def _kill_op(name: str) -> CreateJobOperator:
    return CreateJobOperator(
        task_id="kill",
        name=name,
        cluster="ap-beijing",
        runtime_version="tia-1.7.0",
        package_dir=[SCRIPTS],
        command=["python"],
        args=["train.py", "--lines", "200", "--sleep", "0.1"],
        poll_interval=0.2,
    )


def _run_in_thread(op: CreateJobOperator, ti: FakeTI) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context(ti))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_on_kill_deletes_the_job(tia_emulator, tia_connection):
    op, ti = _kill_op("k-kill"), FakeTI("kill")
    thread, errors = _run_in_thread(op, ti)
    tia_emulator.wait_for_state("k-kill", "ap-beijing", "Running")
    deadline = time.monotonic() + 30  # the CreateJob reply has reached the task (a kill before: next test)
    while op.jobs.last is None and time.monotonic() < deadline:
        time.sleep(0.02)
    op.on_kill()
    thread.join(30)
    assert tia_emulator.store.get("ap-beijing", "k-kill") is None
    assert len(errors) == 1 and isinstance(errors[0], JobVanished)
    assert "TI-A job k-kill in ap-beijing no longer exists" in str(errors[0])
    page = ti.pushed[TIAJobLink().xcom_key]  # the link resolves while the job runs
    assert "/console/tia/job?" in page and "name=k-kill" in page and "cluster=ap-beijing" in page


def test_kill_while_create_job_is_in_flight_deletes_the_job(tia_emulator, tia_connection):
    """The job is known before CreateJob is sent: a kill during the call still deletes what it creates."""
    tia_emulator.set_faults("CreateJob:latency=1.0@2")
    try:
        op = _kill_op("k-inflight")
        before = tia_emulator.calls["CreateJob"]
        thread, errors = _run_in_thread(op, FakeTI("kill"))
        deadline = time.monotonic() + 30
        while tia_emulator.calls["CreateJob"] == before and time.monotonic() < deadline:
            time.sleep(0.02)
        calls = tia_emulator.calls["CreateJob"] - before
        op.on_kill()  # the CreateJob request is in the emulator, its reply 2 s away
        thread.join(60)
    finally:
        tia_emulator.set_faults(None)
    assert calls == 1 and not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], AirflowException)
    assert "killed while creating TI-A job k-inflight in ap-beijing; the job was deleted" in str(errors[0])
    assert tia_emulator.store.get("ap-beijing", "k-inflight") is None


def test_delete_job_operator_tolerates_a_missing_job_unless_told_not_to(tia_emulator, tia_connection):
    op = DeleteJobOperator(task_id="rm", job_name="k-none", cluster="ap-beijing")
    assert op.execute({}) is False
    with pytest.raises(JobNotFound, match="ResourceNotFound: DeleteJob: job 'k-none' not found"):
        DeleteJobOperator(task_id="rm", job_name="k-none", cluster="ap-beijing", missing_ok=False).execute({})


def test_operator_keywords_template_fields_and_docs_follow_the_field_table():
    import inspect

    parameters = inspect.signature(CreateJobOperator.__init__).parameters
    table = [field.attr for field in SPEC_FIELDS]
    assert [name for name in parameters if name in table] == table  # every field, in the table's order
    assert table == [name for name in list(parameters)[1 : len(table) + 1]]  # and nothing else first
    assert set(table) <= set(CreateJobOperator.template_fields)
    for field in SPEC_FIELDS:
        assert f":param {field.attr}: ``{field.api}``." in (CreateJobOperator.__doc__ or "")
    op = CreateJobOperator(task_id="t", name="a", cluster="c", runtime_version="r", worker_count="3")
    assert {attr: getattr(op, attr) for attr in table}["worker_count"] == "3"


def test_bad_policies_are_refused_and_every_job_field_is_templated():
    with pytest.raises(ValueError, match="if_exists"):
        CreateJobOperator(task_id="t", name="a", cluster="c", runtime_version="r", if_exists="nope")
    with pytest.raises(ValueError, match="on_timeout"):
        CreateJobOperator(task_id="t", name="a", cluster="c", runtime_version="r", on_timeout="nope")
    op = CreateJobOperator(
        task_id="t",
        name="a",
        cluster="c",
        runtime_version="r",
        max_wait=__import__("datetime").timedelta(minutes=2),
    )
    assert op.max_wait == 120 and op.deferrable is False and op.if_exists == "new"
    for field in (
        "name",
        "cluster",
        "runtime_version",
        "package_dir",
        "command",
        "args",
        "scale_tier",
        "master_type",
        "worker_type",
        "parameter_server_type",
        "worker_count",
        "parameter_server_count",
        "debug",
        "runtime_conf",
        "region",
    ):
        assert field in CreateJobOperator.template_fields


def test_rendered_values_are_coerced_or_rejected_by_name():
    base = {
        "name": "a",
        "cluster": "c",
        "runtime_version": "r",
        "scale_tier": "Custom",
        "master_type": "1U1G0P",
        "worker_type": "1U1G0P",
    }
    spec = build_spec({**base, "worker_count": " 3 ", "parameter_server_count": 0, "debug": "True"})
    assert spec.worker_count == 3 and spec.debug is True
    with pytest.raises(JobSpecError, match=r"worker_count \(WorkerCount\).*'3.5'"):
        build_spec({**base, "worker_count": "3.5"})
    with pytest.raises(JobSpecError, match=r"debug \(Debug\)"):
        build_spec({**base, "debug": "maybe"})
    with pytest.raises(JobSpecError, match=r"args \(Args\)"):
        build_spec({**base, "args": "train.py"})


def test_suffix_is_per_run_and_keeps_names_valid():
    one = run_suffix("dag", "task", "run-1", -1)
    assert one == run_suffix("dag", "task", "run-1", -1)
    assert (
        len(
            {
                one,
                run_suffix("dag", "task", "run-2", -1),
                run_suffix("dag", "task", "run-1", 0),
                run_suffix("dag", "other", "run-1", -1),
            }
        )
        == 4
    )
    long = suffixed("x" * 60 + "-yz", one, TIA_MAX_NAME)
    assert len(long) == 63 and long.endswith("-" + one) and "--" not in long


def test_operator_module_is_light():
    """DAG parsing imports no SDK and nothing beyond what airflow.sdk's BaseOperator already pulls in."""
    import subprocess
    import sys

    code = (
        "import sys; from airflow_provider_tia.compat import BaseOperator, BaseSensorOperator; before = set(sys.modules); "
        "import airflow_provider_tia.operators.tia, airflow_provider_tia.sensors.tia; "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith(('tencentcloud', 'httpx'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_without_a_task_state_store_each_run_names_its_own_job(tia_emulator, tia_connection):
    """Below Airflow 3.3 nothing records the job a try created and a TI-A job carries no tag: with the
    default ``if_exists="new"`` each run's job is ``<name>-<hash>``, which its retry finds again and
    another run never takes (a fixed name on a schedule trains on every run)."""
    from airflow_provider_tia.operators.base import run_suffix, suffixed

    def run(run_id: str, try_number: int = 1) -> dict:
        op = CreateJobOperator(
            task_id="train", name="nostore", cluster="ap-beijing", runtime_version="tia-1.7.0",
            package_dir=[SCRIPTS], command=["python"], args=["train.py", "--lines", "1"], poll_interval=0.2,
        )  # fmt: skip
        return op.execute({"ti": FakeTI("train", try_number=try_number, run_id=run_id)})  # no store

    before = tia_emulator.calls["CreateJob"]
    day1, day1_again, day2 = run("day1"), run("day1", try_number=2), run("day2")
    assert day1["Name"] == suffixed("nostore", run_suffix("d", "train", "day1", -1), TIA_MAX_NAME)
    assert day1_again["Id"] == day1["Id"]  # the retry re-attached
    assert (
        day2["Name"]
        == suffixed("nostore", run_suffix("d", "train", "day2", -1), TIA_MAX_NAME)
        != day1["Name"]
    )
    assert tia_emulator.calls["CreateJob"] - before == 2
