"""JobTrigger against the emulator over real HTTP: serialisation, events, transient errors, on_kill/cleanup."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from tia_test_support import CLUSTER, script_spec

from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.triggers.tia import JobTrigger


def _create(hook: TIAHook, name: str, *args: str) -> None:
    hook.create_job(script_spec(name, *args))


async def _first_event(trigger: JobTrigger) -> dict:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


@pytest.fixture
def hook(tia_connection) -> TIAHook:
    return TIAHook(tia_connection)


def test_serialize_round_trip():
    resume = {"key": {"name": "job-a", "cluster": CLUSTER}, "logs": None}
    trigger = JobTrigger(
        "job-a",
        CLUSTER,
        "my_conn",
        "ap-guangzhou",
        2.5,
        1700000000.0,
        False,
        batched=False,
        budget=60,
        resume=resume,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_tia.triggers.tia.JobTrigger"
    assert kwargs == {
        "job_name": "job-a",
        "cluster": CLUSTER,
        "tia_conn_id": "my_conn",
        "region": "ap-guangzhou",
        "poll_interval": 2.5,
        "deadline": 1700000000.0,
        "delete_on_kill": False,
        "batched": False,
        "budget": 60,
        "resume": resume,
    }
    import importlib

    from airflow.sdk.serde import deserialize, serialize

    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**deserialize(serialize(kwargs)))
    assert again.serialize() == (classpath, kwargs)


def test_events_success_failed_vanished_timeout(hook, tia_emulator):
    _create(hook, "g-ok", "--lines", "2", "--sleep", "0.3")
    _create(hook, "g-bad", "--fail", "true")
    _create(hook, "g-slow", "--lines", "100", "--sleep", "0.1")

    async def scenario() -> list[dict]:
        return await asyncio.gather(
            _first_event(JobTrigger("g-ok", CLUSTER, poll_interval=0.2)),
            _first_event(JobTrigger("g-bad", CLUSTER, poll_interval=0.2)),
            _first_event(JobTrigger("g-none", CLUSTER, poll_interval=0.2)),
            _first_event(JobTrigger("g-slow", CLUSTER, poll_interval=0.2, deadline=time.time() + 1)),
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
    assert ok["resume"] == {"key": {"name": "g-ok", "cluster": CLUSTER}}
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
    trigger = JobTrigger("g-flaky", CLUSTER, "tia_no_retry", poll_interval=0.1, deadline=time.time() + 30)
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "success"
    assert tia_emulator.fault_counts[("DescribeJob", "InternalError")] >= 3  # several failed polls, then on


def test_on_kill_deletes_job_cleanup_does_not(hook, tia_emulator):
    _create(hook, "g-kill", "--lines", "100", "--sleep", "0.1")
    _create(hook, "g-keep", "--lines", "100", "--sleep", "0.1")

    async def scenario() -> None:
        for name, kill in (("g-keep", False), ("g-kill", True)):
            trigger = JobTrigger(name, CLUSTER, poll_interval=0.2)
            task = asyncio.ensure_future(_first_event(trigger))
            await asyncio.sleep(0.5)
            task.cancel("__airflow_user_action__" if kill else None)
            with pytest.raises(asyncio.CancelledError):
                await task
            await trigger.cleanup()  # the triggerer calls it on every exit, restarts included
            if kill:
                await trigger.on_kill()  # Airflow 3.3+: only on a user action

    asyncio.run(scenario())
    assert tia_emulator.store.get(CLUSTER, "g-kill") is None
    assert tia_emulator.store.get(CLUSTER, "g-keep")["State"] == "Running"
    hook.delete_job("g-keep", CLUSTER)
