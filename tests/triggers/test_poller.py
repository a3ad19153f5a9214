"""Shared batched polling: many JobTriggers of one cluster in one event loop share one ListJobs poller."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job import TIAJobKey
from airflow_provider_tia.models.tia.job_spec import JobSpec
from airflow_provider_tia.triggers.poller import ClusterPoller
from airflow_provider_tia.triggers.tia import JobTrigger

CONN = "tia_poller"


@pytest.fixture
def hook(simulated_emulator, connect) -> TIAHook:
    connect(CONN, simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.set_faults(None)
    return TIAHook(CONN)


def create(hook: TIAHook, cluster: str, name: str, duration: float, outcome: str = "Succeeded") -> None:
    hook.create_job(
        JobSpec(
            name=name,
            cluster=cluster,
            runtime_version="r",
            runtime_conf=[f"sim.duration={duration}", f"sim.outcome={outcome}"],
        )
    )


def watch(name: str, cluster: str, **kwargs) -> JobTrigger:
    return JobTrigger(TIAJobKey(name, cluster), tencentcloud_conn_id=CONN, **kwargs)


async def events_of(triggers: list[JobTrigger]) -> list[list[dict]]:
    async def collect(trigger: JobTrigger) -> list[dict]:
        return [event.payload async for event in trigger.run()]

    return await asyncio.gather(*(collect(t) for t in triggers))


def test_triggers_of_a_cluster_share_one_listing(hook, simulated_emulator) -> None:
    cluster = "cls-shared"
    for i in range(40):
        create(hook, cluster, f"job-{i}", 0.3 + (i % 8) * 0.25, "Failed" if i % 10 == 3 else "Succeeded")
    simulated_emulator.reset_counters()
    triggers = [watch(f"job-{i}", cluster, poll_interval=0.5) for i in range(40)]
    results = asyncio.run(events_of(triggers))
    assert all(len(events) == 1 for events in results)  # exactly one event each
    for i, (event,) in enumerate(results):
        expected = "failed" if i % 10 == 3 else "success"
        assert event["status"] == expected and event["job"]["Name"] == f"job-{i}"
    # One ListJobs per sweep for all 40 jobs, not 40 DescribeJob per interval.
    assert simulated_emulator.calls["ListJobs"] <= 12
    assert simulated_emulator.calls["DescribeJob"] <= 3
    assert not any(loop_pollers for loop_pollers in _live_pollers())


def test_cancelling_one_trigger_leaves_the_others_alone(hook) -> None:
    cluster = "cls-cancel"
    for i in range(4):
        create(hook, cluster, f"c-{i}", 1.5)

    async def scenario() -> tuple[list[dict], bool]:
        triggers = [watch(f"c-{i}", cluster, poll_interval=0.3) for i in range(4)]
        tasks = [asyncio.ensure_future(_first(t)) for t in triggers]
        await asyncio.sleep(0.5)
        tasks[0].cancel()
        done = await asyncio.gather(*tasks[1:])
        return done, tasks[0].cancelled()

    done, cancelled = asyncio.run(scenario())
    assert cancelled
    assert [event["status"] for event in done] == ["success"] * 3


def test_job_missing_from_the_listing_is_described_then_vanishes(hook, simulated_emulator) -> None:
    cluster = "cls-vanish"
    for i in range(4):
        create(hook, cluster, f"v-{i}", 30)

    async def scenario() -> list[dict]:
        triggers = [watch(f"v-{i}", cluster, poll_interval=0.3) for i in range(4)]
        tasks = [asyncio.ensure_future(_first(t)) for t in triggers]
        await asyncio.sleep(0.8)
        await asyncio.to_thread(hook.delete_job, "v-2", cluster)
        vanished = await tasks[2]
        for task in tasks:
            task.cancel()
        return [vanished]

    (event,) = asyncio.run(scenario())
    assert event["status"] == "error" and event["reason"] == "vanished"
    assert simulated_emulator.calls["DescribeJob"] >= 1  # the fallback confirmed it is gone
    for i in (0, 1, 3):
        hook.delete_job(f"v-{i}", cluster)


def test_transient_listing_errors_keep_the_triggers_waiting(hook, simulated_emulator) -> None:
    cluster = "cls-flaky"
    for i in range(5):
        create(hook, cluster, f"f-{i}", 1.0)
    simulated_emulator.set_faults("ListJobs:InternalError=0.5", seed=3)
    try:
        results = asyncio.run(events_of([watch(f"f-{i}", cluster, poll_interval=0.3) for i in range(5)]))
    finally:
        simulated_emulator.set_faults(None)
    assert [events[0]["status"] for events in results] == ["success"] * 5


def test_unbatched_triggers_read_their_own_job(hook, simulated_emulator) -> None:
    cluster = "cls-alone"
    for i in range(3):
        create(hook, cluster, f"a-{i}", 0.5)
    simulated_emulator.reset_counters()
    results = asyncio.run(
        events_of([watch(f"a-{i}", cluster, poll_interval=0.3, batched=False) for i in range(3)])
    )
    assert [events[0]["status"] for events in results] == ["success"] * 3
    assert simulated_emulator.calls["ListJobs"] == 0 and simulated_emulator.calls["DescribeJob"] >= 3


async def _first(trigger: JobTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("no event")


def _live_pollers() -> list[dict]:
    from airflow_provider_tia.triggers import poller

    return [dict(pollers) for pollers in poller._POLLERS.values()]


def test_poller_is_shared_per_cluster_and_interval() -> None:
    async def scenario() -> tuple[bool, bool]:
        async def factory():  # never called: no watch starts
            raise AssertionError

        a = ClusterPoller.shared("c", None, "x", 1, factory)
        b = ClusterPoller.shared("c", None, "x", 1, factory)
        c = ClusterPoller.shared("c", None, "y", 1, factory)
        return a is b, a is c

    same, other = asyncio.run(scenario())
    assert same and not other
