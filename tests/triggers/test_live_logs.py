"""Live logs while deferred, against the emulator over real HTTP: the job's state alone decides the
event, log reads go through one shared client per connection and region under one budget per action,
and across the trigger and the resumed task every line is printed exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pendulum

from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.logs import LogCursor, LogFollower
from airflow_provider_tia.models.tia.job import TIAJobKey
from airflow_provider_tia.triggers import log_clients
from airflow_provider_tia.triggers.tia import JobTrigger
from tests.helpers.support import CLUSTER, script_spec


class TaskLog:
    """A trigger's log (the task log in Airflow): keeps the job lines written to it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: object) -> None:
        text = msg % args if args else msg
        if text.startswith("["):
            self.lines.append(text)

    def warning(self, *args: object) -> None: ...
    def debug(self, *args: object) -> None: ...


def _trigger(name: str, log: TaskLog, **kwargs) -> JobTrigger:
    logs = LogCursor(pendulum.now("UTC").subtract(minutes=1)).state()
    trigger = JobTrigger(TIAJobKey(name, CLUSTER), resume={"logs": logs}, not_before=0, **kwargs)
    trigger._log = log  # type: ignore[attr-defined]
    return trigger


async def _event(trigger: JobTrigger) -> dict:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


def _printed_on_resume(name: str, position: dict) -> list[str]:
    """What the resumed task prints from the event's log position."""
    printed: list[str] = []
    reader = TIAHook().log_reader(name, CLUSTER, position.get("reader"))
    LogFollower(reader, LogCursor.from_state(position), printed.append).poll()
    return printed


def _assert_each_line_once(printed: list[str], lines: int) -> None:
    counts = Counter(printed)
    assert [line for line, count in counts.items() if count > 1] == []  # nothing repeated
    for step in range(lines):
        assert sum(f"step {step}" in line for line in counts) == 1, (step, printed)  # nothing lost
    assert sum(line.endswith(" done") for line in counts) == 1


def test_a_slow_log_service_never_holds_the_event_back(tia_emulator, tia_connection):
    """Every log read takes 6 s: the event still fires within the drain bound of the job's end, and
    the resumed task prints the lines the trigger could not."""
    hook = TIAHook(tia_connection)
    hook.create_job(script_spec("ll-slow", "--lines", "5"))
    tia_emulator.set_faults("QueryLogs: latency=1@6")
    try:

        async def scenario() -> tuple[dict, float]:
            task = asyncio.ensure_future(_event(_trigger("ll-slow", log, poll_interval=0.2)))
            while hook.describe_job("ll-slow", CLUSTER).state_name != "Succeeded":
                await asyncio.sleep(0.1)
            ended = time.monotonic()
            event = await task
            return event, time.monotonic() - ended

        log = TaskLog()
        event, waited = asyncio.run(scenario())
    finally:
        tia_emulator.set_faults(None)
    assert event["status"] == "success"
    assert waited < 5, waited  # less than one log read: the state decided (drain bound: 1 s)
    _assert_each_line_once(log.lines + _printed_on_resume("ll-slow", event["resume"]["logs"]), 5)


def test_triggers_share_one_log_client_and_one_budget_and_lose_no_line(
    tia_emulator, tia_connection, monkeypatch
):
    """Six triggers polling logs every 0.1 s would read 60 times a second: the shared budget holds
    QueryLogs to 4/s, the client is opened once and closed after the last trigger, and what the
    triggers did not print the resumed tasks do, once."""
    monkeypatch.setenv("AIRFLOW__TENCENTCLOUD__LOG_REQUESTS_PER_SECOND", "4")
    hook = TIAHook(tia_connection)
    names = [f"ll-shared-{i}" for i in range(6)]
    for name in names:
        hook.create_job(script_spec(name, "--lines", "8", "--sleep", "0.25"))
    tia_emulator.reset_counters()

    async def scenario() -> tuple[list[dict], list[TaskLog], set[tuple[int, ...]], float]:
        logs = [TaskLog() for _ in names]
        tasks = [
            asyncio.ensure_future(_event(_trigger(name, log, poll_interval=0.1)))
            for name, log in zip(names, logs, strict=True)
        ]
        started, users = time.monotonic(), set()  # users of each open log client, as sampled
        loop = asyncio.get_running_loop()
        while not all(task.done() for task in tasks):
            users.add(tuple(client.users for client in log_clients._SHARED.get(loop, {}).values()))
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        assert log_clients._SHARED[loop] == {}  # closed with its last user
        return [task.result() for task in tasks], logs, users, elapsed

    events, logs, users, elapsed = asyncio.run(scenario())
    assert (6,) in users and all(len(sample) <= 1 for sample in users)  # one client for the six
    assert tia_emulator.calls["QueryLogs"] <= 4 * elapsed + 1, (tia_emulator.calls["QueryLogs"], elapsed)
    for name, event, log in zip(names, events, logs, strict=True):
        assert event["status"] == "success"
        _assert_each_line_once(log.lines + _printed_on_resume(name, event["resume"]["logs"]), 8)
    assert sum(len(log.lines) for log in logs) > 0  # the triggers did print live


def test_tione_triggers_under_a_tight_budget_print_every_line_once(simulated_emulator, connect, monkeypatch):
    """TI-ONE (DescribeLogs, and DescribeTrainingTask for the task's run) under 3 calls/s shared by four
    triggers: the lines arrive late, some only in the resumed task, none twice."""
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec
    from airflow_provider_tia.triggers.tione.training import TrainingTaskTrigger

    monkeypatch.setenv("AIRFLOW__TENCENTCLOUD__LOG_REQUESTS_PER_SECOND", "3")
    conn = connect("tione_live_logs", simulated_emulator)
    hook = TIONEHook(conn)
    spec = {"sim.duration": "2", "sim.log_lines": "30"}
    task_ids = [
        hook.create_training_task(
            TrainingTaskSpec.from_kwargs(
                name=f"ll-tione-{i}",
                charge_type="POSTPAID_BY_HOUR",
                resource_config_infos=[
                    {"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}
                ],
                start_cmd="python train.py",
                tags=spec,
            )
        )
        for i in range(4)
    ]
    simulated_emulator.reset_counters()
    since = LogCursor(pendulum.now("UTC").subtract(minutes=1)).state()

    async def scenario() -> tuple[list[dict], list[TaskLog], float]:
        logs = [TaskLog() for _ in task_ids]
        triggers = []
        for task_id, log in zip(task_ids, logs, strict=True):
            trigger = TrainingTaskTrigger(
                {"name": task_id, "id": task_id},
                tencentcloud_conn_id=conn,
                poll_interval=0.1,
                not_before=0,
                resume={"logs": since},
            )
            trigger._log = log  # type: ignore[attr-defined]
            triggers.append(trigger)
        started = time.monotonic()
        events = await asyncio.gather(*(_event(trigger) for trigger in triggers))
        return list(events), logs, time.monotonic() - started

    events, logs, elapsed = asyncio.run(scenario())
    for action in ("DescribeLogs", "DescribeTrainingTask"):
        assert simulated_emulator.calls[action] <= 3 * elapsed + 1, (
            action,
            simulated_emulator.calls,
            elapsed,
        )
    for task_id, event, log in zip(task_ids, events, logs, strict=True):
        assert event["status"] == "success"
        position = event["resume"]["logs"]
        resumed: list[str] = []
        reader = hook.log_reader(task_id, position.get("reader"))
        LogFollower(reader, LogCursor.from_state(position), resumed.append).poll()
        printed = Counter(log.lines + resumed)
        assert [line for line, count in printed.items() if count > 1] == []
        assert all(sum(f"step {n}/30 " in line for line in printed) == 1 for n in range(1, 31)), printed
