"""Crash and restart: a worker SIGKILLed mid-wait, a triggerer restarted mid-wait, a deferred task marked
failed by a user, the TI-A service (emulator with --state-dir) restarted mid-wait."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.models.tia.job_spec import MAX_NAME_LENGTH as TIA_MAX_NAME
from airflow_provider_tia.operators.base import suffixed, task_instance_hash
from airflow_provider_tia.operators.tia import CreateJobOperator
from tests.helpers.reliability import (
    CLUSTER,
    USER_ACTION,
    FakeTI,
    Outcome,
    Spy,
    Triggerer,
    capture,
    conn_json,
    connect,
    context_for,
    count_creations,
    defer,
    drive,
    kill_worker_mid_wait,
    line_figures,
    rebuild,
    restart_service_mid_wait,
    run_like_triggerer,
    run_recreated,
    served_lines,
    shut_down_mid_wait,
    sim_conf,
    user_kill_mid_wait,
    wait_until,
)

if TYPE_CHECKING:
    from collections.abc import Callable

CONN = "tia_rel_crash"


@pytest.fixture(scope="module")
def crash_emu() -> TIAEmulator:
    with TIAEmulator(runner="simulated", sim_duration=1.0) as emu:
        yield emu


@pytest.fixture
def crash_conn(crash_emu, monkeypatch) -> str:
    return connect(monkeypatch, crash_emu, CONN)


def make_op(name: str, duration: float, lines: int, deferrable: bool = False, **kwargs) -> CreateJobOperator:
    return CreateJobOperator(
        task_id="train",
        name=name,
        cluster=CLUSTER,
        runtime_version="tia-1.7.0",
        command=["python"],
        runtime_conf=sim_conf(duration, lines=lines),
        tencentcloud_conn_id=CONN,
        poll_interval=0.2,
        deferrable=deferrable,
        **kwargs,
    )


# ------------------------------------------------------------------------------- worker SIGKILL
@pytest.mark.parametrize("state_store", [True, False], ids=["task-state-store", "name-only"])
def test_worker_killed_mid_wait_retry_reattaches(
    crash_emu, crash_conn, tmp_path, state_store, reliability_results
) -> None:
    given = f"rel-kill-{'store' if state_store else 'name'}"
    # Below Airflow 3.3 (no store) a run's job is named <name>-<hash of the task instance>.
    ti = FakeTI("tia_rel_crash", "train", "manual__crash", try_number=2)
    name = given if state_store else suffixed(given, task_instance_hash(ti), TIA_MAX_NAME)
    creations = count_creations(crash_emu)
    store_file = tmp_path / "task_state_store.json" if state_store else None
    first_try, store = kill_worker_mid_wait(given, store_file, ["4", "40"], f"[{name}-")
    job = crash_emu.store.get(CLUSTER, name)
    assert job["State"] == "Running"  # SIGKILL: no on_kill, the job goes on
    if store is not None:
        assert store.data["tia_created_job"]["id"] == job["Id"]

    retry = drive(lambda: make_op(given, 4, 40), ti, store=store, name=name, below_3_3=not state_store)
    lost, duplicated = line_figures(name, served_lines(crash_emu, name), retry.printed)
    duplicated += max(0, creations[(CLUSTER, name)] - 1)
    false_failures = int(retry.state != "Succeeded" or retry.result["Id"] != job["Id"])
    reliability_results.record(
        f"crash: worker SIGKILLed, try 2 reattaches ({'state store' if state_store else 'by name'})",
        1,
        faults=1,
        false_failures=false_failures,
        duplicates=duplicated,
        lost_lines=lost,
    )
    assert retry.error is None and retry.state == "Succeeded" and retry.result["Id"] == job["Id"]
    assert (crash_emu.calls["CreateJob"], crash_emu.calls["DeleteJob"]) == (1, 0)
    assert creations == {(CLUSTER, name): 1}
    message = (
        # Airflow's ResumableJobMixin reconnects through the state store; without it, the name is found.
        "Reconnecting to existing job"
        if state_store
        else f"Attaching to existing TI-A job {name} in {CLUSTER}"
    )
    assert sum(message in m for m in retry.printed) == 1
    assert (false_failures, duplicated, lost) == (0, 0, 0)
    assert len(served_lines(crash_emu, name)) == 40
    assert any(m.startswith(f"[{name}-") for m in first_try)


# ------------------------------------------------------------------------------- triggerer restart
def _defer(name: str, printed: list[str], ti: FakeTI, duration: float = 3, lines: int = 30):
    return defer(capture(make_op(name, duration, lines, deferrable=True), printed), ti)


def _printed_a_line(printed: list[str], name: str) -> Callable[[], bool]:
    return lambda: any(m.startswith(f"[{name}-") for m in printed)


def test_triggerer_restart_mid_wait_recreates_trigger_and_keeps_job(
    crash_emu, crash_conn, reliability_results, trigger_xcoms
) -> None:
    name = "rel-triggerer-restart"
    creations = count_creations(crash_emu)
    ti = FakeTI("tia_rel_crash", "train", "manual__restart")
    printed: list[str] = []
    deferred = _defer(name, printed, ti)
    payload = deferred.trigger.serialize()
    assert payload[1]["tencentcloud_conn_id"] == CONN and payload[1]["key"]["name"] == name

    first = rebuild(deferred.trigger, ti, printed)
    cleanup, on_kill = shut_down_mid_wait(first, _printed_a_line(printed, name))
    assert (cleanup.calls, on_kill.calls) == (1, 0)
    assert crash_emu.store.get(CLUSTER, name)["State"] == "Running"  # not deleted by a restart

    events = run_recreated(first, ti, printed)  # another triggerer picks the trigger up from the database
    resumed = capture(make_op(name, 3, 30, deferrable=True), printed)
    result = resumed.execute_complete(context_for(ti), events[0])
    assert trigger_xcoms.values, "the first trigger checkpointed its log position"
    job = crash_emu.store.get(CLUSTER, name)
    lost, duplicated = line_figures(name, served_lines(crash_emu, name), printed)
    duplicated += max(0, creations[(CLUSTER, name)] - 1)
    false_failures = int(len(events) != 1 or result["State"] != "Succeeded" or job is None)
    reliability_results.record(
        "crash: triggerer restarted mid-wait",
        1,
        faults=1,
        false_failures=false_failures,
        duplicates=duplicated,
        lost_lines=lost,
    )
    assert len(events) == 1 and events[0]["status"] == "success"
    assert result["State"] == "Succeeded" and job["State"] == "Succeeded" and result["Id"] == job["Id"]
    assert (crash_emu.calls["CreateJob"], crash_emu.calls["DeleteJob"]) == (1, 0)
    assert (false_failures, duplicated, lost) == (0, 0, 0)


def test_trigger_moved_to_another_triggerer_keeps_job_and_loses_no_line(
    crash_emu, crash_conn, reliability_results, trigger_xcoms
) -> None:
    """HA triggerers: Airflow 3.3.2 starts the trigger on another triggerer and cancels it on the old one
    with the user-action message, so ``on_kill`` runs there; the task is still deferred: nothing ends.

    The new run takes the log checkpoint over and the old one stops printing at its next poll: a line
    is printed twice only if the old run printed it after the new one had started (at most one poll)."""
    name = "rel-trigger-moved"
    ti = FakeTI("tia_rel_crash", "train", "manual__moved")
    printed, old_printed, new_printed = [], [], []
    deferred = _defer(name, printed, ti, duration=4, lines=40)
    old_run, new_run = rebuild(deferred.trigger, ti, old_printed), rebuild(deferred.trigger, ti, new_printed)
    on_kill = Spy(old_run, "on_kill")
    old, new = Triggerer(), Triggerer()
    try:
        moved: list = []
        handover: list[int] = []  # how many lines the old run had printed when the new one started

        async def reassigned() -> None:
            task = asyncio.ensure_future(run_like_triggerer(old_run))
            deadline = time.monotonic() + 30
            while not _printed_a_line(old_printed, name)() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            handover.append(len(old_printed))
            moved.append(new.submit(run_like_triggerer(new_run)))  # the other triggerer picks it up
            await asyncio.sleep(1.0)  # both run the trigger for a while, as in a real reassignment
            task.cancel(USER_ACTION)
            with contextlib.suppress(asyncio.CancelledError):
                await task

        old.submit(reassigned()).result(60)
        events = moved[0].result(60)
    finally:
        old.close()
        new.close()
    resumed = capture(make_op(name, 4, 40, deferrable=True), printed)
    result = resumed.execute_complete(context_for(ti), events[0])
    job = crash_emu.store.get(CLUSTER, name)
    everything = printed + old_printed + new_printed
    lost, duplicated = line_figures(name, served_lines(crash_emu, name), everything)
    after_handover = sum(m.startswith(f"[{name}-") for m in old_printed[handover[0] :])
    stopped = int(job is None or crash_emu.calls["DeleteJob"] > 0)
    reliability_results.record(
        "crash: trigger moved to another triggerer (HA)",
        1,
        faults=1,
        false_failures=stopped + int(result["State"] != "Succeeded"),
        duplicates=duplicated,
        lost_lines=lost,
    )
    assert on_kill.calls == 1 and stopped == 0  # on_kill ran and saw the task still deferred
    assert len(events) == 1 and events[0]["status"] == "success" and result["State"] == "Succeeded"
    assert lost == 0
    assert duplicated <= after_handover, (duplicated, after_handover)  # only what the old run printed late


def test_user_marks_deferred_task_failed_trigger_deletes_job(
    crash_emu, crash_conn, reliability_results
) -> None:
    name = "rel-user-kill"
    ti = FakeTI("tia_rel_crash", "train", "manual__userkill")
    printed: list[str] = []
    deferred = _defer(name, [], ti, duration=20, lines=5)
    on_kill, cleanup = user_kill_mid_wait(
        rebuild(deferred.trigger, ti, printed), _printed_a_line(printed, name)
    )
    wait_until(lambda: crash_emu.store.get(CLUSTER, name) is None, 10)
    deleted = crash_emu.store.get(CLUSTER, name) is None
    reliability_results.record(
        "crash: user marks deferred task failed", 1, faults=1, false_failures=int(not deleted)
    )
    assert deleted and (on_kill.calls, cleanup.calls) == (1, 1)
    assert (crash_emu.calls["CreateJob"], crash_emu.calls["DeleteJob"]) == (1, 1)


# ------------------------------------------------------------------------------- service restart
def test_emulator_restarted_with_state_dir_mid_wait(tmp_path, monkeypatch, reliability_results) -> None:
    first = TIAEmulator(runner="simulated", state_dir=tmp_path / "state").start()
    monkeypatch.setenv("AIRFLOW_CONN_TIA_REL_CRASH", conn_json(first, retry_backoff=0.01))
    creations = count_creations(first)
    names = {"rel-restart-sync": False, "rel-restart-deferred": True}

    def run(name: str, deferrable: bool) -> Callable[[Triggerer], Outcome]:
        return lambda triggerer: drive(
            lambda: make_op(name, 4, 40, deferrable=deferrable),
            FakeTI("tia_rel_crash", f"t-{name}", "manual__svc"),
            triggerer,
            name=name,
        )

    def mid_wait() -> bool:
        for name in names:
            first.wait_for_state(name, CLUSTER, "Running", timeout=30)
        time.sleep(1.0)  # a few polls and log lines before the service goes away
        assert [first.store.state(CLUSTER, n) for n in names] == ["Running", "Running"]
        return True

    second, outcomes, second_creations = restart_service_mid_wait(
        first, {name: run(name, deferrable) for name, deferrable in names.items()}, mid_wait, count_creations
    )
    false_failures = lost = duplicated = 0
    for name in names:
        outcome = outcomes[name]
        job = second.store.get(CLUSTER, name)
        false_failures += outcome.state != job["State"] or job["State"] != "Succeeded"
        job_lost, job_dup = line_figures(name, served_lines(second, name), outcome.printed)
        lost, duplicated = lost + job_lost, duplicated + job_dup
    duplicated += sum(n - 1 for n in (creations + second_creations).values())
    reliability_results.record(
        "crash: TI-A service restarted (state dir)",
        len(names),
        faults=1,
        false_failures=false_failures,
        duplicates=duplicated,
        lost_lines=lost,
    )
    assert [outcomes[n].state for n in names] == ["Succeeded", "Succeeded"]
    assert outcomes["rel-restart-deferred"].deferred and not outcomes["rel-restart-sync"].deferred
    assert creations == Counter({(CLUSTER, n): 1 for n in names}) and not second_creations
    assert second.calls["CreateJob"] == 0 and second.calls["DescribeJob"] + second.calls["ListJobs"] > 0
    assert (false_failures, duplicated, lost) == (0, 0, 0)
    assert all(len(served_lines(second, n)) > 0 for n in names)
