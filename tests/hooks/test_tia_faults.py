"""TIAHook under injected faults: retries come from the SDK, lost CreateJob replies are reconciled."""

from __future__ import annotations

import pytest

from airflow_provider_tia.exceptions import InvalidParameter, JobAlreadyExists, NetworkError, TransientError
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job import JobState
from airflow_provider_tia.models.tia.job_spec import JobSpec

CLUSTER = "ap-shanghai"


@pytest.fixture
def faulty_emulator(simulated_emulator):
    return simulated_emulator


@pytest.fixture
def hook(faulty_emulator, connect) -> TIAHook:
    connect("tia_faulty", faulty_emulator, extra={"retry_backoff": 0.01, "max_attempts": 6})
    faulty_emulator.set_faults(None)
    faulty_emulator.reset_counters()
    yield TIAHook("tia_faulty")
    faulty_emulator.set_faults(None)


def spec(name: str) -> JobSpec:
    return JobSpec(name=name, cluster=CLUSTER, runtime_version="tia-1.7.0", command=["python"])


@pytest.mark.parametrize(
    "fault", ["RequestLimitExceeded", "InternalError", "FailedOperation.TimeOut", "http5xx", "drop"]
)
def test_reads_survive_transient_faults(hook, faulty_emulator, fault) -> None:
    hook.create_job(spec(f"reads-{fault.lower().replace('.', '-')}"))
    faulty_emulator.set_faults(f"DescribeJob:{fault}=0.5", seed=7)
    for _ in range(20):
        assert hook.describe_job(f"reads-{fault.lower().replace('.', '-')}", CLUSTER).name
    injected = sum(
        n for (action, _kind), n in faulty_emulator.fault_counts.items() if action == "DescribeJob"
    )
    assert injected >= 5  # the faults really happened, and every call still succeeded


def test_persistent_fault_gives_a_typed_transient_error(hook, faulty_emulator) -> None:
    faulty_emulator.set_faults("DescribeJob:InternalError=1")
    with pytest.raises(TransientError) as caught:
        hook.describe_job("anything", CLUSTER)
    assert caught.value.code == "InternalError"
    assert faulty_emulator.calls["DescribeJob"] == 6  # max_attempts from the connection
    faulty_emulator.set_faults("DescribeJob:drop=1")
    with pytest.raises(NetworkError):
        hook.describe_job("anything", CLUSTER)


def test_create_job_reply_lost_after_the_job_was_created_is_reconciled(hook, faulty_emulator) -> None:
    faulty_emulator.set_faults("CreateJob:drop_after=1")
    job = hook.create_job(spec("lost-reply"))
    faulty_emulator.set_faults(None)
    assert job.name == "lost-reply"
    assert [j.name for j in hook.list_jobs(CLUSTER)].count("lost-reply") == 1
    assert hook.wait_for_job("lost-reply", CLUSTER, poll_interval=0.1, timeout=30).state is JobState.SUCCEEDED


def test_reconcile_refuses_a_different_job_of_the_same_name(hook, faulty_emulator) -> None:
    hook.create_job(JobSpec(name="other-job", cluster=CLUSTER, runtime_version="tia-1.6.0"))
    faulty_emulator.set_faults("CreateJob:InternalError=1")
    with pytest.raises(JobAlreadyExists, match="different job"):
        hook.create_job(spec("other-job"))


def test_api_refusal_is_not_retried(hook, faulty_emulator) -> None:
    with pytest.raises(InvalidParameter):
        hook.call("CreateJob", {"Name": "x", "Cluster": CLUSTER, "RuntimeVersion": "r", "WorkerCount": 2})
    assert faulty_emulator.calls["CreateJob"] == 1
