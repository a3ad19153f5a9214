"""One triggerer watching 1,000 jobs: shared batched polling vs one describe call per job, per platform.

For each platform, 1,000 jobs run on the emulator's simulated runner (its own process, a fresh one
per mode) and finish at spread times; 1,000 triggers run in one event loop, as in a triggerer. Three modes on fresh job sets:
batched, per-job, batched with live logs. With live logs, every trigger reads its logs through one
shared client under the triggerer's log budget (``[tencentcloud] log_requests_per_second``); the
lines an event leaves (its ``resume["logs"]`` position) are then read as the resumed task reads
them, and every job line is counted once across both: none may be lost or repeated.

- TI-A: ``JobTrigger``; batched = ``ClusterPoller`` (paged ListJobs shared by the triggers of a
  cluster), per-job = one DescribeJob per job per interval; logs read with QueryLogs.
- TI-ONE: ``TrainingTaskTrigger``; batched = ``RegionTaskPoller`` (DescribeTrainingTasks with an Id
  filter, 50 a page, shared by the triggers of a region), per-task = one DescribeTrainingTask per task
  per interval; logs read with DescribeLogs.

Prints API calls per minute, triggerer CPU seconds, peak memory of the triggers, the delay from a
job's end to its event (also in poll intervals), and, with live logs, each action's calls per second
(mean, and the busiest second) against the budget. ``BENCH_TRIGGER_PLATFORMS`` (e.g. ``tione``)
runs only some platforms.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import importlib
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

sys.path.insert(0, os.path.dirname(__file__))
from _common import emulator_process  # noqa: E402

# The wait after a deferral ([tencentcloud] min_trigger_event_delay, 30 s) is a fixed floor against
# Airflow's scheduler race, not a cost of watching: the delays measured here are without it.
os.environ.setdefault("AIRFLOW__TENCENTCLOUD__MIN_TRIGGER_EVENT_DELAY", "0")

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.triggers.base import BaseTrigger

CONN_ID = "tia_bench"
JOBS = int(os.environ.get("BENCH_TRIGGER_JOBS", "1000"))
INTERVAL = float(os.environ.get("BENCH_TRIGGER_INTERVAL", "5"))
SPREAD = (5.0, float(os.environ.get("BENCH_TRIGGER_MAX_DURATION", "35")))
LOG_LINES = int(os.environ.get("BENCH_TRIGGER_LOG_LINES", "40"))
LOG_PAGE = 1000  # QueryLogs' and DescribeLogs' largest page
CALLS: Counter[str] = Counter()
LOG_CALL_TIMES: defaultdict[str, list[float]] = defaultdict(list)  # monotonic times of each log call


def count_calls() -> None:
    """Count every async API call (the triggers' calls; creating the jobs is synchronous), and apart
    when each log call goes out: at the end of its turn in the log budget."""
    from airflow_provider_tia.hooks.base import AsyncTencentCloudClient
    from airflow_provider_tia.triggers.rate_budget import RateBudget

    original, original_turn = AsyncTencentCloudClient.call, RateBudget.turn

    async def counted(self, action, params):
        CALLS[action] += 1
        return await original(self, action, params)

    async def turn_counted(self, *, urgent=False, by=None):
        await original_turn(self, urgent=urgent, by=by)
        LOG_CALL_TIMES[self.action].append(time.monotonic())

    AsyncTencentCloudClient.call = counted  # type: ignore[method-assign]
    RateBudget.turn = turn_counted  # type: ignore[method-assign]


class LineLog:
    """A trigger's log (the task log in Airflow): keeps the job lines it writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: object) -> None:
        text = msg % args if args else msg
        if text.startswith("["):
            self.lines.append(text)

    def warning(self, *args: object) -> None: ...
    def debug(self, *args: object) -> None: ...


def sim_settings(log_lines: int) -> list[dict[str, str]]:
    """What the simulated runner does with each job (the same durations on every platform)."""
    rng = random.Random(7)
    return [
        {"sim.duration": f"{rng.uniform(*SPREAD):.1f}", "sim.log_lines": str(log_lines)} for _ in range(JOBS)
    ]


def create_tia_jobs(scope: str, log_lines: int) -> list[str]:
    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.models.tia.job_spec import JobSpec

    hook = TIAHook(CONN_ID)
    names = []
    for i, sim in enumerate(sim_settings(log_lines)):
        names.append(f"job-{i}")
        hook.create_job(
            JobSpec(
                name=names[-1],
                cluster=scope,
                runtime_version="tia-1.7.0",
                runtime_conf=[f"{key}={value}" for key, value in sim.items()],
            )
        )
    return names


def tia_trigger_args(name: str, scope: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """JobTrigger's own arguments (the job's key, once) and what its task hands over in ``resume``."""
    return {"key": {"name": name, "cluster": scope}, "tencentcloud_conn_id": CONN_ID}, {}


def tia_rest_of_logs(name: str, scope: str, state: dict[str, Any]) -> list[str]:
    """What the resumed task prints from the event's log position (``CreateAndWaitOperator`` on resume)."""
    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.logs import LogCursor, LogFollower

    printed: list[str] = []
    reader = TIAHook(CONN_ID).log_reader(name, scope, state.get("reader"))
    LogFollower(reader, LogCursor.from_state(state), printed.append).poll()
    return printed


def create_tione_tasks(scope: str, log_lines: int) -> list[str]:
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec

    hook = TIONEHook(CONN_ID)
    return [
        hook.create_training_task(
            TrainingTaskSpec.from_kwargs(
                name=f"{scope}-{i}",
                charge_type="POSTPAID_BY_HOUR",
                resource_config_infos=[
                    {"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}
                ],
                start_cmd="python train.py",
                tags=sim,
            )
        )
        for i, sim in enumerate(sim_settings(log_lines))
    ]


def tione_trigger_args(task_id: str, scope: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """TrainingTaskTrigger's own arguments (the task's key, once) and what its task hands over in ``resume``."""
    return {"key": {"id": task_id, "name": task_id}, "tencentcloud_conn_id": CONN_ID}, {}


def tione_rest_of_logs(task_id: str, scope: str, state: dict[str, Any]) -> list[str]:
    """What the resumed task prints from the event's log position (``CreateAndWaitOperator`` on resume)."""
    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.logs import LogCursor, LogFollower

    printed: list[str] = []
    reader = TIONEHook(CONN_ID).log_reader(task_id, state.get("reader"))
    LogFollower(reader, LogCursor.from_state(state), printed.append).poll()
    return printed


@dataclasses.dataclass(frozen=True)
class Platform:
    """What differs between platforms in this benchmark; the modes, the measures and the report do not."""

    name: str
    key: str  # RESULT names: "" for TI-A (the names the README quotes), "tione_" for TI-ONE
    job: str  # what one trigger watches: "job", "task"
    logs_action: str
    create: Callable[[str, int], list[str]]  # (scope, log lines) -> what the triggers watch
    trigger: str  # the trigger class
    trigger_args: Callable[[str, str], tuple[dict[str, Any], dict[str, Any]]]  # (watched, scope)
    rest_of_logs: Callable[[str, str, dict[str, Any]], list[str]]  # (watched, scope, position) -> lines
    delay_note: str = ""  # what the measured delay includes besides the wait

    def make_trigger(
        self, watched: str, scope: str, batched: bool, logs: dict[str, Any] | None
    ) -> BaseTrigger:
        module, _, name = self.trigger.rpartition(".")
        own, resume = self.trigger_args(watched, scope)
        return getattr(importlib.import_module(module), name)(
            **own, poll_interval=INTERVAL, batched=batched, resume={**resume, "logs": logs}
        )


PLATFORMS = {
    "tia": Platform(
        "TI-A",
        "",
        "job",
        "QueryLogs",
        create_tia_jobs,
        "airflow_provider_tia.triggers.tia.JobTrigger",
        tia_trigger_args,
        tia_rest_of_logs,
    ),
    "tione": Platform(
        "TI-ONE",
        "tione_",
        "task",
        "DescribeLogs",
        create_tione_tasks,
        "airflow_provider_tia.triggers.tione.TrainingTaskTrigger",
        tione_trigger_args,
        tione_rest_of_logs,
        "; EndTime is to the second, truncated: up to 1 s of each delay is that",
    ),
}


async def watch_all(
    platform: Platform, watched: list[str], scope: str, batched: bool, live_logs: bool
) -> dict:
    import pendulum

    from airflow_provider_tia.logs import LogCursor

    since = pendulum.now("UTC").subtract(minutes=10)
    logs_state = LogCursor(since).state() if live_logs else None
    triggers = [platform.make_trigger(name, scope, batched, logs_state) for name in watched]
    logs = [LineLog() for _ in triggers]
    for trigger, log in zip(triggers, logs, strict=True):
        trigger._log = log  # type: ignore[attr-defined]
    delays: list[float] = []
    events: Counter[str] = Counter()
    positions: dict[str, dict[str, Any] | None] = {}

    async def run_one(name: str, trigger) -> None:
        count = 0
        async for event in trigger.run():
            count += 1
            now = time.time()
            events[event.payload["status"]] += 1
            positions[name] = (event.payload.get("resume") or {}).get("logs")
            end = (event.payload.get("job") or {}).get("EndTime")
            if end:
                delays.append(now - pendulum.parse(end).timestamp())
        assert count == 1, "each trigger yields exactly one event"

    CALLS.clear()
    LOG_CALL_TIMES.clear()
    tracemalloc.start()
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(run_one(name, t) for name, t in zip(watched, triggers, strict=True)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rates = {action: (len(times) / wall, busiest_second(times)) for action, times in LOG_CALL_TIMES.items()}
    delays.sort()
    lost = repeated = live_lines = resumed_lines = 0
    if live_logs:
        with ThreadPoolExecutor(8) as pool:  # the resumed tasks, each printing what its trigger left
            rests = list(
                pool.map(
                    lambda name: platform.rest_of_logs(name, scope, positions[name] or logs_state), watched
                )
            )
        for log, rest in zip(logs, rests, strict=True):
            live_lines += len(log.lines)
            resumed_lines += len(rest)
            got = Counter(log.lines + rest)
            lost += sum(1 for n in range(1, LOG_LINES + 1) if not any(f"step {n}/" in line for line in got))
            repeated += sum(count - 1 for count in got.values())
    return {
        "lost": lost,
        "repeated": repeated,
        "live_lines": live_lines,
        "resumed_lines": resumed_lines,
        "calls": sum(CALLS.values()),
        "calls_per_min": sum(CALLS.values()) / wall * 60,
        "by_action": dict(CALLS),
        "rates": rates,
        "cpu": cpu,
        "wall": wall,
        "peak_mb": peak / 1e6,
        "p95": delays[int(0.95 * (len(delays) - 1))] if delays else float("nan"),
        "median": statistics.median(delays) if delays else float("nan"),
        "events": dict(events),
    }


def busiest_second(times: list[float]) -> int:
    """The most calls within any one second (a window starting at each call)."""
    times = sorted(times)
    return max((bisect.bisect_left(times, start + 1.0) - i for i, start in enumerate(times)), default=0)


def measure(platform: Platform) -> dict[str, dict]:
    """The three modes, each on a fresh emulator and jobs: the emulator's replies slow down as it holds
    more jobs, which would otherwise weigh on whichever mode runs last."""
    results = {}
    for mode, batched, live in (
        ("batched", True, False),
        (f"per-{platform.job}", False, False),
        ("batched + live logs", True, True),
    ):
        scope = f"cls-bench-{mode.split()[0]}{'-logs' if live else ''}"
        with emulator_process("--runner", "simulated", conn_id=CONN_ID):
            watched = platform.create(scope, LOG_LINES if live else 2)
            results[mode] = asyncio.run(watch_all(platform, watched, scope, batched, live))
    return results


def report(platform: Platform, results: dict[str, dict]) -> None:
    per = f"per-{platform.job}"
    b, p, live = results["batched"], results[per], results["batched + live logs"]
    key = platform.key
    print(
        f"## {JOBS:,} {platform.name} triggers in one event loop "
        f"(poll interval {INTERVAL:.0f} s, {platform.job}s end {SPREAD[0]:.0f}-{SPREAD[1]:.0f} s)"
    )
    print(
        "| polling | API calls | calls/min | triggerer CPU s | peak MB (tracemalloc) | p50 / p95 delay s | events |"
    )
    print("|---|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(
            f"| {mode} | {r['calls']:,} {r['by_action']} | {r['calls_per_min']:,.0f} | {r['cpu']:.1f} | "
            f"{r['peak_mb']:.1f} | {r['median']:.2f} / {r['p95']:.2f} | {r['events']} |"
        )
    print(
        f"RESULT {key}trigger_api_calls {per}/batched = {p['calls'] / max(1, b['calls']):.1f}x fewer "
        f"(target >= 20x)"
    )
    print(f"RESULT {key}trigger_cpu {per}/batched = {p['cpu'] / max(1e-9, b['cpu']):.1f}x")
    print(
        f"RESULT {key}trigger_p95_delay batched = {b['p95']:.2f} s "
        f"(target <= {INTERVAL:.0f} s{platform.delay_note})"
    )
    print(f"RESULT {key}trigger_peak_memory batched = {b['peak_mb']:.1f} MB (target < 50 MB)")
    floor = JOBS * -(-LOG_LINES // LOG_PAGE)  # one page of logs per job at the least
    log_calls = live["by_action"].get(platform.logs_action, 0)
    print(
        f"RESULT {key}live_logs {platform.logs_action} calls = {log_calls:,} vs paging floor {floor:,} "
        f"({log_calls / floor:.1f}x); state reads {live['calls'] - log_calls:,}; "
        f"lines printed by the triggers {live['live_lines']:,}, by the resumed tasks {live['resumed_lines']:,}"
    )
    print(
        f"RESULT {key}live_logs_event_p95 = {live['p95'] / INTERVAL:.2f} poll intervals "
        f"({live['p95']:.2f} s; without logs {b['p95'] / INTERVAL:.2f}) (target <= 1.5)"
    )
    budget = log_budget()
    for action, (mean, busiest) in sorted(live["rates"].items()):
        print(
            f"RESULT {key}live_logs_calls_per_second {action} (log reads) = {mean:.1f} mean, "
            f"{busiest} in the busiest second (budget {budget:g}/s)"
        )
    print(f"RESULT {key}live_logs_lines lost {live['lost']}, repeated {live['repeated']} (target 0, 0)")
    print(f"RESULT {key}live_logs_peak_memory = {live['peak_mb']:.1f} MB (target < 25 MB)")


def log_budget() -> float:
    from airflow_provider_tia.triggers.log_clients import log_requests_per_second

    return log_requests_per_second()


def main() -> None:
    chosen = os.environ.get("BENCH_TRIGGER_PLATFORMS", ",".join(PLATFORMS)).split(",")
    count_calls()
    measured = {name: measure(PLATFORMS[name]) for name in chosen}
    for name, results in measured.items():
        report(PLATFORMS[name], results)


if __name__ == "__main__":
    main()
