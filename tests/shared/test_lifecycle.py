"""The lifecycle's pure decisions, as tables (no emulator): decide, assess, events, finish, deadlines."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from airflow_provider_tia import lifecycle
from airflow_provider_tia.exceptions import (
    AuthFailure,
    JobFailed,
    JobNotFound,
    JobVanished,
    JobWaitTimeout,
    NetworkError,
    TencentCloudError,
)
from airflow_provider_tia.lifecycle import Action, IfExists, Reason, Status


@dataclasses.dataclass
class FakeJob:
    """A job as the lifecycle sees any platform's job."""

    state_name: str
    message: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state_name in ("Succeeded", "Failed")

    @property
    def succeeded(self) -> bool:
        return self.state_name == "Succeeded"

    @property
    def failed(self) -> bool:
        return self.state_name == "Failed"

    def to_dict(self) -> dict[str, Any]:
        return {"State": self.state_name, "Message": self.message}


RUNNING, FAILED, DONE = FakeJob("Running"), FakeJob("Failed", "oom"), FakeJob("Succeeded")


@pytest.mark.parametrize(
    ("existing", "if_exists", "owned", "try_number", "action"),
    [
        (None, IfExists.NEW, False, 1, Action.CREATE),
        (None, IfExists.ATTACH, False, 1, Action.CREATE),
        (None, IfExists.FAIL, False, 3, Action.CREATE),
        # Another run's job holds the name: by default this run trains anew under a suffixed name.
        (RUNNING, IfExists.NEW, False, 1, Action.RENAME),
        (DONE, IfExists.NEW, False, 1, Action.RENAME),
        (FAILED, IfExists.NEW, False, 2, Action.RENAME),
        (RUNNING, IfExists.NEW, True, 2, Action.ATTACH),  # our own job from an earlier try
        (FAILED, IfExists.NEW, True, 2, Action.RECREATE),
        (FAILED, IfExists.NEW, True, 1, Action.ATTACH),
        # Attaching to another run's job is opt-in, and that job is never restarted.
        (RUNNING, IfExists.ATTACH, False, 1, Action.ATTACH),
        (DONE, IfExists.ATTACH, False, 2, Action.ATTACH),
        (FAILED, IfExists.ATTACH, False, 1, Action.ATTACH),  # reports the failure
        (FAILED, IfExists.ATTACH, False, 2, Action.ATTACH),  # a retry does not restart another run's job
        (FAILED, IfExists.ATTACH, True, 2, Action.RECREATE),  # only its own
        (RUNNING, IfExists.FAIL, False, 1, Action.FAIL),
        (FAILED, IfExists.FAIL, False, 2, Action.FAIL),
        (RUNNING, IfExists.FAIL, True, 2, Action.ATTACH),
        (FAILED, IfExists.FAIL, True, 2, Action.RECREATE),
        (RUNNING, IfExists.REPLACE, False, 1, Action.REPLACE),
        (FAILED, IfExists.REPLACE, False, 2, Action.REPLACE),
        (RUNNING, IfExists.REPLACE, True, 2, Action.ATTACH),
        (RUNNING, IfExists.SUFFIX, False, 1, Action.ATTACH),
        (FAILED, IfExists.SUFFIX, True, 2, Action.RECREATE),
    ],
)
def test_decide_picks_the_action_from_the_job_found_the_policy_and_the_try(
    existing, if_exists, owned, try_number, action
) -> None:
    assert lifecycle.decide(existing, if_exists=if_exists, owned=owned, try_number=try_number) is action


def test_assess_gives_each_kind_of_read_its_outcome_and_never_swallows_a_bug() -> None:
    label = "TI-A job j in c"
    assert lifecycle.assess(RUNNING, label) is None
    assert lifecycle.assess(NetworkError("boom", code="ClientNetworkError"), label) is None  # transient
    done = lifecycle.assess(DONE, label)
    assert done is not None and (done.status, done.reason, done.message) == (
        Status.SUCCESS,
        Reason.FINISHED,
        "TI-A job j in c succeeded",
    )
    failed = lifecycle.assess(FAILED, label)
    assert failed is not None and (failed.status, failed.message) == (
        Status.FAILED,
        "TI-A job j in c failed: oom",
    )
    gone = lifecycle.assess(JobNotFound("x", code="ResourceNotFound"), label)
    assert gone is not None and (gone.status, gone.reason) == (Status.ERROR, Reason.VANISHED)
    denied = lifecycle.assess(AuthFailure("bad key", code="AuthFailure.SignatureFailure"), label)
    assert denied is not None and denied.reason is Reason.API_ERROR and "bad key" in denied.message
    with pytest.raises(ZeroDivisionError):  # not an API error: a bug, never swallowed
        lifecycle.assess(ZeroDivisionError("x"), label)


def test_an_event_survives_its_payload_and_an_unreadable_payload_is_refused() -> None:
    event = lifecycle.finished(FAILED, "TI-A job j in c", {"name": "j", "logs": {"since": "x"}})
    assert lifecycle.JobEvent.from_payload(event.to_payload()) == event
    for bad in ({}, {"status": "success"}, {"status": "nope", "reason": "finished"}, None):
        with pytest.raises(TencentCloudError, match="Unreadable trigger event"):
            lifecycle.JobEvent.from_payload(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event", "error", "text"),
    [
        (lifecycle.finished(FAILED, "J"), JobFailed, "J failed: oom\nLast log lines:\n[p] tail"),
        (lifecycle.timed_out("J", 30), JobWaitTimeout, "J did not finish within 30s"),
        (lifecycle.timed_out("J", None), JobWaitTimeout, "J did not finish before the deadline"),
        (lifecycle.assess(JobNotFound("x"), "J"), JobVanished, "J no longer exists"),
        (lifecycle.assess(AuthFailure("denied"), "J"), TencentCloudError, "Could not read J: denied"),
    ],
)
def test_finish_raises_the_typed_error(event, error, text) -> None:
    with pytest.raises(error) as info:
        lifecycle.finish(event, ["[p] tail"])
    assert type(info.value) is error and text in str(info.value)


def test_finish_returns_the_job_of_a_success() -> None:
    assert lifecycle.finish(lifecycle.finished(DONE, "J")) == {"State": "Succeeded", "Message": None}


def test_transient_errors_are_retried_until_the_deadline_and_others_raise_at_once() -> None:
    assert lifecycle.Deadline().remaining() is None and not lifecycle.Deadline().expired
    soon = lifecycle.Deadline.after(0.3)
    assert 0 < (soon.remaining() or 0) <= 0.3 and soon.sleep_for(10) <= 0.3
    answers = iter([NetworkError("a"), NetworkError("b"), "ok"])

    def read() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert lifecycle.retry_transient(read, lifecycle.Deadline.after(30), 0.01, "read") == "ok"

    def always() -> str:
        raise NetworkError("down", code="ClientNetworkError")

    started = time.monotonic()
    with pytest.raises(JobWaitTimeout, match="gave up at the task's deadline after transient errors"):
        lifecycle.retry_transient(always, lifecycle.Deadline.after(0.3), 0.05, "read")
    assert time.monotonic() - started < 5
    with pytest.raises(AuthFailure):  # not transient: at once
        lifecycle.retry_transient(
            lambda: (_ for _ in ()).throw(AuthFailure("no")), lifecycle.Deadline(), 0.01, "r"
        )


def test_wait_ends_on_the_first_event_or_the_deadline() -> None:
    reads = iter([NetworkError("blip"), RUNNING, DONE])

    def read() -> FakeJob:
        answer = next(reads)
        if isinstance(answer, Exception):
            raise answer
        return answer

    seen: list[str] = []
    event = lifecycle.wait(
        read, "J", deadline=lifecycle.Deadline(), interval=0.01, on_poll=lambda j: seen.append(j.state_name)
    )
    assert event.status is Status.SUCCESS and seen == ["Running", "Succeeded"]
    late = lifecycle.wait(
        lambda: RUNNING, "J", deadline=lifecycle.Deadline.after(0.2), interval=0.05, budget=0.2
    )
    assert late.reason is Reason.TIMEOUT and late.job == RUNNING.to_dict()
