"""Unit tests of the pure job model: validation, API mapping, states and Go-layout times."""

from __future__ import annotations

import json
import pickle

import pendulum
import pytest

from airflow_provider_tia.exceptions import JobSpecError, MalformedResponse
from airflow_provider_tia.models.common import parse_time
from airflow_provider_tia.models.tia.job import Job, JobState, LogLine, format_query_time, parse_state
from airflow_provider_tia.models.tia.job_spec import JobSpec

SEED = {
    "name": "test-job",
    "cluster": "ap-beijing",
    "runtime_version": "tia-1.7.0",
    "package_dir": ["cos://bucket-1250000000.cos.ap-beijing.myqcloud.com/code:/opt/code"],
    "command": ["python"],
    "args": ["mnist_saved_model.py"],
    "scale_tier": "Custom",
    "master_type": "1U1G0P",
    "worker_type": "1U1G0P",
    "parameter_server_type": "1U1G0P",
    "worker_count": 2,
    "parameter_server_count": 1,
}

SEED_REPLY = {
    "Args": ["mnist_saved_model.py"],
    "Cluster": "ap-beijing",
    "Command": ["python"],
    "CreateTime": "2018-05-23 10:00:00.000000000 +0800 CST m=+66666.666666666",
    "MasterType": "1U1G0P",
    "Message": "creating",
    "Name": "test-job",
    "PackageDir": ["cos://bucket-1250000000.cos.ap-beijing.myqcloud.com/code:/opt/code"],
    "ParameterServerCount": 1,
    "ParameterServerType": "1U1G0P",
    "RuntimeVersion": "tia-1.7.0",
    "ScaleTier": "Custom",
    "WorkerCount": 2,
    "WorkerType": "1U1G0P",
}


def test_seed_spec_to_request_uses_exact_api_names() -> None:
    assert JobSpec(**SEED).to_request() == {
        "Name": "test-job",
        "Cluster": "ap-beijing",
        "RuntimeVersion": "tia-1.7.0",
        "PackageDir": SEED["package_dir"],
        "Command": ["python"],
        "Args": ["mnist_saved_model.py"],
        "ScaleTier": "Custom",
        "MasterType": "1U1G0P",
        "WorkerType": "1U1G0P",
        "ParameterServerType": "1U1G0P",
        "WorkerCount": 2,
        "ParameterServerCount": 1,
    }


def test_to_request_omits_unset_optionals_and_keeps_debug_and_runtime_conf() -> None:
    spec = JobSpec(name="a", cluster="c", runtime_version="r", debug=False, runtime_conf=["k=v"])
    assert spec.to_request() == {
        "Name": "a",
        "Cluster": "c",
        "RuntimeVersion": "r",
        "Debug": False,
        "RuntimeConf": ["k=v"],
    }


def test_uppercase_custom_tier_is_accepted() -> None:
    assert JobSpec(**{**SEED, "scale_tier": "CUSTOM"}).to_request()["ScaleTier"] == "CUSTOM"


def test_tuple_arguments_become_lists() -> None:
    assert JobSpec(**{**SEED, "args": ("a.py", "--x")}).args == ["a.py", "--x"]


@pytest.mark.parametrize(
    ("change", "parameter", "fragment"),
    [
        ({"name": None}, "name", "is required"),
        ({"cluster": ""}, "cluster", "must not be empty"),
        ({"runtime_version": "  "}, "runtime_version", "must not be empty"),
        ({"runtime_version": 17}, "runtime_version", "must be a string"),
        ({"command": "python"}, "command", "write ['python']"),
        ({"args": "mnist_saved_model.py"}, "args", "list of strings"),
        ({"package_dir": "/nfs/code"}, "package_dir", "list of strings"),
        ({"args": ["a.py", 3]}, "args", "item 1 must be a string"),
        ({"command": [""]}, "command", "empty strings"),
        ({"worker_count": -1}, "worker_count", "non-negative"),
        ({"worker_count": True}, "worker_count", "got bool"),
        ({"parameter_server_count": "2"}, "parameter_server_count", "got str"),
        ({"worker_count": 2.0}, "worker_count", "got float"),
        ({"debug": "yes"}, "debug", "true or false"),
        ({"scale_tier": "custom"}, "scale_tier", "'Custom' or 'CUSTOM'"),
        ({"scale_tier": None}, "master_type", "only valid when scale_tier is 'Custom'"),
        ({"scale_tier": "BASIC"}, "master_type", "only valid when scale_tier is 'Custom'"),
        ({"master_type": None}, "master_type", "required when scale_tier is 'Custom'"),
        ({"worker_type": None}, "worker_type", "required when worker_count > 0"),
        (
            {"parameter_server_type": None},
            "parameter_server_type",
            "required when parameter_server_count > 0",
        ),
        ({"name": "Test_Job"}, "name", "not a valid job name"),
        ({"worker_type": "large"}, "worker_type", "not a machine type like 1U1G0P"),
        ({"master_type": "1u1g0p"}, "master_type", "not a machine type"),
        ({"name": "x" * 64}, "name", "not a valid job name"),
    ],
)
def test_bad_values_name_the_parameter(change: dict, parameter: str, fragment: str) -> None:
    with pytest.raises(JobSpecError) as caught:
        JobSpec.from_kwargs(**{**SEED, **change})
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)
    assert fragment in str(caught.value)


def test_non_custom_tier_without_custom_fields_is_fine() -> None:
    spec = JobSpec(name="a", cluster="c", runtime_version="r", scale_tier="STANDARD_1")
    assert spec.to_request()["ScaleTier"] == "STANDARD_1"


def test_unknown_keyword_is_refused_by_name() -> None:
    with pytest.raises(JobSpecError, match="worker_counts"):
        JobSpec.from_kwargs(**SEED, worker_counts=3)


def test_spec_error_is_an_airflow_fail_exception_and_picklable() -> None:
    from airflow_provider_tia.compat import AirflowException, AirflowFailException

    error = pickle.loads(pickle.dumps(JobSpecError("worker_count", "bad", api_name="WorkerCount")))
    assert isinstance(error, AirflowFailException) and isinstance(error, AirflowException)
    assert error.parameter == "worker_count"
    assert "worker_count (WorkerCount)" in str(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-05-23 10:00:00.000000000 +0800 CST m=+66666.666666666", "2018-05-23T02:00:00+00:00"),
        ("2018-05-23 10:00:00 +0800 CST", "2018-05-23T02:00:00+00:00"),
        ("2018-04-26 15:00:00.5 +0800 CST", "2018-04-26T07:00:00.500000+00:00"),
        ("2019-01-01 09:10:04.916553368 +0000 UTC", "2019-01-01T09:10:04.916553+00:00"),
        ("2018-09-12 20:26:02", "2018-09-12T12:26:02+00:00"),
        ("Wednesday, 19-Sep-18 11:01:29 CST", "2018-09-19T03:01:29+00:00"),
        ("2019-01-01T09:10:04.916553368Z", "2019-01-01T09:10:04.916553+00:00"),
        ("2020-02-29 23:59:59 -0500 EST", "2020-03-01T04:59:59+00:00"),
    ],
)
def test_times_parse_to_utc(text: str, expected: str) -> None:
    parsed = parse_time(text)
    assert isinstance(parsed, pendulum.DateTime)
    assert parsed.isoformat() == expected


@pytest.mark.parametrize("text", [None, "", "soon", 12, "2018-13-45 10:00:00 +0800 CST"])
def test_unreadable_times_are_none(text: object) -> None:
    assert parse_time(text) is None


def test_query_time_is_china_standard_time() -> None:
    assert format_query_time(pendulum.datetime(2019, 1, 1, 0, 0, 0, tz="UTC")) == "2019-01-01 08:00:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Created", JobState.CREATED),
        ("Running", JobState.RUNNING),
        ("Succeeded", JobState.SUCCEEDED),
        ("Succeed", JobState.SUCCEEDED),
        ("Failed", JobState.FAILED),
        ("failed", JobState.FAILED),
        ("Evicted", "Evicted"),
        (None, None),
    ],
)
def test_state_names_parse_case_blind_and_unknown_ones_are_kept(value: str | None, expected: object) -> None:
    assert parse_state(value) == expected


def test_seed_reply_round_trips_to_job() -> None:
    job = Job.from_api(SEED_REPLY)
    assert job.name == "test-job" and job.cluster == "ap-beijing"
    assert job.state is None and job.state_name == "Created" and not job.is_terminal
    assert job.create_time == pendulum.datetime(2018, 5, 23, 2, 0, 0, tz="UTC")
    assert JobSpec(**SEED).matches(job)
    assert not JobSpec(**{**SEED, "worker_count": 3}).matches(job)
    as_dict = job.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["CreateTime"] == "2018-05-23T02:00:00Z"
    assert as_dict["State"] == "Created" and as_dict["WorkerCount"] == 2 and as_dict["StartTime"] is None


def test_unknown_state_is_kept_not_terminal() -> None:
    job = Job.from_api({**SEED_REPLY, "State": "Evicted"})
    assert job.state == "Evicted" and job.state_name == "Evicted" and not job.is_terminal


def test_succeeded_and_failed_jobs_are_terminal_with_their_message() -> None:
    assert Job.from_api({**SEED_REPLY, "State": "Succeed"}).succeeded
    failed = Job.from_api({**SEED_REPLY, "State": "Failed", "Message": "[MASTER/Failed : Failed/1]"})
    assert failed.failed and failed.is_terminal and failed.message == "[MASTER/Failed : Failed/1]"


@pytest.mark.parametrize("bad", [None, [], "job", {"Cluster": "x"}, {"Name": 3}])
def test_malformed_job_is_a_clear_error(bad: object) -> None:
    with pytest.raises(MalformedResponse):
        Job.from_api(bad)


def test_to_dict_drops_values_that_are_not_json() -> None:
    job = Job.from_api({**SEED_REPLY, "Weird": object()})
    assert "Weird" not in job.to_dict()


def test_a_log_line_prints_with_its_pod_and_has_a_key_to_drop_repeats() -> None:
    line = LogLine.from_api(
        {"Time": "2019-01-01T09:10:04.916553368Z", "PodName": "test-job-worker-1", "Log": "epoch 1\n"}
    )
    assert line.format() == "[test-job-worker-1] epoch 1"
    assert line.key == ("2019-01-01T09:10:04.916553368Z", "test-job-worker-1", "", "epoch 1")
