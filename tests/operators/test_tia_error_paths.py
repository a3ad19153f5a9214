"""The error paths a user meets, each pinned to the exact error: retries, refusals, timeouts, kills, reads.

Over real HTTP against the emulator (faults injected there), with the official SDK underneath.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_tia import lifecycle
from airflow_provider_tia.compat import TaskDeferred
from airflow_provider_tia.exceptions import TIA_ERRORS, JobVanished, JobWaitTimeout, TencentCloudError
from airflow_provider_tia.hooks import sdk
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job import TIAJobKey
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.sensors.tia import JobSensor
from airflow_provider_tia.triggers.tia import JobTrigger
from tests.helpers.support import CLUSTER, SCRIPTS, FakeTI, context
from tests.helpers.support import script_spec as _spec


@pytest.fixture
def no_retry(tia_emulator, connect) -> str:
    """A connection whose calls make one attempt: the lifecycle sees every injected fault."""
    return connect("tia_no_retry", tia_emulator, extra={"max_attempts": 1})


@pytest.fixture
def faults(tia_emulator):
    yield tia_emulator.set_faults
    tia_emulator.set_faults(None)


def test_internal_error_sub_codes_are_retried() -> None:
    from tencentcloud.common.exception import TencentCloudSDKException

    policy = sdk.RetryPolicy(3, 0.0, TIA_ERRORS)
    for code in ("InternalError", "InternalError.DbError", "RequestLimitExceeded.UinLimitExceeded"):
        assert policy.should_retry(TencentCloudSDKException(code, "x")), code
    for code in ("InvalidParameter", "AuthFailure.SignatureFailure", "InternalErrorish"):
        assert not policy.should_retry(TencentCloudSDKException(code, "x")), code


def test_failed_call_reports_its_attempts(tia_emulator, connect, faults) -> None:
    conn = connect("tia_three", tia_emulator, extra={"max_attempts": 3, "retry_backoff": 0.01})
    faults("DescribeJob:InternalError.DbError=1")
    with pytest.raises(TencentCloudError) as info:
        TIAHook(conn).describe_job("x", CLUSTER)
    assert info.value.code == "InternalError.DbError" and info.value.attempts == 3


def test_transient_errors_before_create_do_not_fail_the_task(tia_emulator, no_retry, faults) -> None:
    """The DescribeJob before CreateJob (attach or create?) rides out transient errors."""
    faults("DescribeJob:InternalError=0.6", seed=1)
    op = CreateJobOperator(
        task_id="t", name="e-before", cluster=CLUSTER, runtime_version="r", package_dir=[SCRIPTS],
        command=["python"], args=["train.py", "--lines", "1"], tencentcloud_conn_id=no_retry, poll_interval=0.1,
        max_wait=60,
    )  # fmt: skip
    assert op.execute(context(FakeTI()))["State"] == "Succeeded"
    assert tia_emulator.fault_counts[("DescribeJob", "InternalError")] > 0


def test_transient_errors_until_the_deadline_time_out(tia_emulator, no_retry, faults) -> None:
    faults("DescribeJob:InternalError=1")
    op = CreateJobOperator(
        task_id="t", name="e-never", cluster=CLUSTER, runtime_version="r", tencentcloud_conn_id=no_retry,
        poll_interval=0.1, max_wait=1,
    )  # fmt: skip
    with pytest.raises(
        JobWaitTimeout, match="Reading TI-A job e-never in ap-beijing: gave up at the task's deadline"
    ):
        op.execute(context(FakeTI()))
    assert tia_emulator.calls["CreateJob"] == 0 or tia_emulator.store.get(CLUSTER, "e-never") is None


def test_on_timeout_leave_keeps_the_job_running(tia_emulator, tia_connection) -> None:
    op = CreateJobOperator(
        task_id="t", name="e-leave", cluster=CLUSTER, runtime_version="r", package_dir=[SCRIPTS],
        command=["python"], args=["train.py", "--lines", "100", "--sleep", "0.1"], poll_interval=0.2,
        max_wait=1, on_timeout="leave",
    )  # fmt: skip
    with pytest.raises(JobWaitTimeout, match=r"did not finish within 1s; the job was left running"):
        op.execute(context(FakeTI()))
    assert tia_emulator.store.get(CLUSTER, "e-leave")["State"] == "Running"
    TIAHook(tia_connection).delete_job("e-leave", CLUSTER)


def test_job_created_concurrently_is_attached(tia_emulator, tia_connection, faults) -> None:
    """Another task creates the job between our DescribeJob and our CreateJob: we attach to it."""
    hook = TIAHook(tia_connection)
    op = CreateJobOperator(
        task_id="t", name="e-race", cluster=CLUSTER, runtime_version="r", package_dir=[SCRIPTS],
        command=["python"], args=["train.py", "--lines", "1"], poll_interval=0.1,
    )  # fmt: skip
    original = op.hook.describe_job

    def describe_then_race(name: str, cluster: str):
        try:
            return original(name, cluster)
        finally:
            if not tia_emulator.store.get(CLUSTER, "e-race"):
                hook.create_job(_spec("e-race", "--lines", "1"))

    op.hook.describe_job = describe_then_race  # type: ignore[method-assign]
    assert op.execute(context(FakeTI()))["State"] == "Succeeded"
    assert tia_emulator.calls["CreateJob"] >= 2  # ours was refused with AlreadyExists


def test_deferred_vanished_and_api_error_events_fail_with_their_type(tia_connection) -> None:
    op = CreateJobOperator(task_id="t", name="e-gone", cluster=CLUSTER, runtime_version="r")
    resume = {"key": {"name": "e-gone", "cluster": CLUSTER}, "logs": None}
    gone = lifecycle.assess(JobVanished("x"), "TI-A job e-gone in ap-beijing")
    assert gone is not None
    with pytest.raises(JobVanished, match="TI-A job e-gone in ap-beijing no longer exists"):
        op.execute_complete({"ti": FakeTI()}, {**gone.to_payload(), "resume": resume})
    denied = lifecycle.JobEvent(
        lifecycle.Status.ERROR, lifecycle.Reason.API_ERROR, "Could not read: denied", None, resume
    )
    with pytest.raises(TencentCloudError, match="Could not read: denied"):
        op.execute_complete({"ti": FakeTI()}, denied.to_payload())


def test_log_read_failures_never_decide_the_task(tia_emulator, tia_connection, faults, capfd) -> None:
    faults("QueryLogs:AuthFailure.UnauthorizedOperation=1")
    op = CreateJobOperator(
        task_id="t", name="e-nologs", cluster=CLUSTER, runtime_version="r", package_dir=[SCRIPTS],
        command=["python"], args=["train.py", "--lines", "2"], poll_interval=0.1,
    )  # fmt: skip
    assert op.execute(context(FakeTI()))["State"] == "Succeeded"
    assert "Could not read the job's logs (AuthFailure.UnauthorizedOperation" in capfd.readouterr().out


def test_sensor_rides_out_transient_errors(tia_emulator, no_retry, faults) -> None:
    TIAHook(no_retry).create_job(_spec("e-sense", "--lines", "30", "--sleep", "0.1"))
    faults("DescribeJob:InternalError=1")
    sensor = JobSensor(task_id="s", job_name="e-sense", cluster=CLUSTER, tencentcloud_conn_id=no_retry)
    assert sensor.poke({}) is False
    faults(None)
    TIAHook(no_retry).delete_job("e-sense", CLUSTER)


def test_deferred_sensor_never_deletes_the_job_it_watches(tia_emulator, tia_connection) -> None:
    TIAHook(tia_connection).create_job(_spec("e-watch", "--lines", "50", "--sleep", "0.1"))
    sensor = JobSensor(task_id="s", job_name="e-watch", cluster=CLUSTER, deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": FakeTI("s")})
    trigger = deferred.value.trigger
    assert isinstance(trigger, JobTrigger) and trigger.serialize()[1]["kill_action"] == "leave"
    asyncio.run(trigger.on_kill())  # a user marks the sensor failed
    assert tia_emulator.store.get(CLUSTER, "e-watch")["State"] in ("Created", "Running")
    TIAHook(tia_connection).delete_job("e-watch", CLUSTER)


def test_a_listing_refused_for_good_ends_the_triggers(tia_emulator, tia_connection, faults) -> None:
    """The shared poller hands a non-transient ListJobs error to every trigger: none waits forever."""
    for i in range(3):
        TIAHook(tia_connection).create_job(_spec(f"e-list-{i}", "--lines", "50", "--sleep", "0.1"))
    faults("ListJobs:AuthFailure.UnauthorizedOperation=1")

    async def first_events() -> list[dict]:
        async def one(i: int) -> dict:
            key = TIAJobKey(f"e-list-{i}", CLUSTER)
            trigger = JobTrigger(key, tencentcloud_conn_id=tia_connection, poll_interval=0.2)
            return [event.payload async for event in trigger.run()][0]

        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(3))), 30)

    events = asyncio.run(first_events())
    assert [(e["status"], e["reason"]) for e in events] == [("error", "api_error")] * 3
    assert all("UnauthorizedOperation" in e["message"] for e in events)
    faults(None)
    for i in range(3):
        TIAHook(tia_connection).delete_job(f"e-list-{i}", CLUSTER)


def test_plain_http_endpoint_behind_https_says_what_to_change(monkeypatch, tia_emulator) -> None:
    conn = json.loads(tia_emulator.connection_uri_json())
    conn["extra"] = {"region": CLUSTER, "endpoint": tia_emulator.endpoint, "max_attempts": 1}  # no http://
    monkeypatch.setenv("AIRFLOW_CONN_TIA_TLS_TO_HTTP", json.dumps(conn))
    with pytest.raises(TencentCloudError, match=r"write the connection's endpoint as http://host:port"):
        TIAHook("tia_tls_to_http").describe_job("x", CLUSTER)
