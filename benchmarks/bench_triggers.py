"""One triggerer watching 1,000 TI-A jobs: shared batched polling vs one DescribeJob per job.

1,000 jobs run on the emulator's simulated runner (its own process) and finish at spread times; 1,000
JobTriggers run in one event loop, as in a triggerer. Run twice, batched (ClusterPoller: paged ListJobs
shared by the triggers of a cluster) and per-job, on fresh job sets. Prints API calls per minute,
triggerer CPU seconds, peak memory of the triggers, and the delay from a job's end to its event.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections import Counter

sys.path.insert(0, os.path.dirname(__file__))
from _common import emulator_process  # noqa: E402

JOBS = int(os.environ.get("BENCH_TRIGGER_JOBS", "1000"))
INTERVAL = float(os.environ.get("BENCH_TRIGGER_INTERVAL", "5"))
SPREAD = (5.0, float(os.environ.get("BENCH_TRIGGER_MAX_DURATION", "45")))
CALLS: Counter[str] = Counter()


def count_calls() -> None:
    from airflow_provider_tia.hooks.tia import AsyncTIAClient

    original = AsyncTIAClient.call

    async def counted(self, action, params):
        CALLS[action] += 1
        return await original(self, action, params)

    AsyncTIAClient.call = counted


LOG_LINES = int(os.environ.get("BENCH_TRIGGER_LOG_LINES", "40"))


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


def create_jobs(cluster: str, log_lines: int = 2) -> None:
    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.job import JobSpec

    hook = TIAHook("tia_bench")
    rng = random.Random(7)
    for i in range(JOBS):
        duration = rng.uniform(*SPREAD)
        hook.create_job(
            JobSpec(
                name=f"job-{i}",
                cluster=cluster,
                runtime_version="tia-1.7.0",
                runtime_conf=[f"sim.duration={duration:.1f}", f"sim.log_lines={log_lines}"],
            )
        )


async def watch_all(cluster: str, batched: bool, live_logs: bool = False) -> dict:
    import pendulum

    from airflow_provider_tia.logs import LogCursor
    from airflow_provider_tia.triggers.tia import JobTrigger

    since = pendulum.now("UTC").subtract(minutes=10)
    triggers = [
        JobTrigger(
            job_name=f"job-{i}",
            cluster=cluster,
            tia_conn_id="tia_bench",
            poll_interval=INTERVAL,
            batched=batched,
            resume={
                "name": f"job-{i}",
                "cluster": cluster,
                "logs": LogCursor(since).state() if live_logs else None,
            },
        )
        for i in range(JOBS)
    ]
    logs = [LineLog() for _ in triggers]
    for trigger, log in zip(triggers, logs, strict=True):
        trigger._log = log
    delays: list[float] = []
    events: Counter[str] = Counter()

    async def run_one(trigger) -> None:
        count = 0
        async for event in trigger.run():
            count += 1
            now = time.time()
            events[event.payload["status"]] += 1
            end = (event.payload.get("job") or {}).get("EndTime")
            if end:
                delays.append(now - pendulum.parse(end).timestamp())
        assert count == 1, "each trigger yields exactly one event"

    CALLS.clear()
    tracemalloc.start()
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(run_one(t) for t in triggers))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    delays.sort()
    lost = repeated = 0
    for log in logs if live_logs else ():
        got = Counter(log.lines)
        lost += sum(1 for n in range(1, LOG_LINES + 1) if not any(f"step {n}/" in line for line in got))
        repeated += sum(count - 1 for count in got.values())
    return {
        "lost": lost,
        "repeated": repeated,
        "calls": sum(CALLS.values()),
        "calls_per_min": sum(CALLS.values()) / wall * 60,
        "by_action": dict(CALLS),
        "cpu": cpu,
        "wall": wall,
        "peak_mb": peak / 1e6,
        "p95": delays[int(0.95 * (len(delays) - 1))] if delays else float("nan"),
        "median": statistics.median(delays) if delays else float("nan"),
        "events": dict(events),
    }


def main() -> None:
    count_calls()
    results = {}
    with emulator_process("--runner", "simulated"):
        for mode, batched, live in (
            ("batched", True, False),
            ("per-job", False, False),
            ("batched + live logs", True, True),
        ):
            cluster = f"cls-bench-{mode.split()[0]}{'-logs' if live else ''}"
            create_jobs(cluster, LOG_LINES if live else 2)
            results[mode] = asyncio.run(watch_all(cluster, batched, live))
    b, p = results["batched"], results["per-job"]
    print(
        f"## {JOBS:,} triggers in one event loop (poll interval {INTERVAL:.0f} s, jobs end {SPREAD[0]:.0f}-{SPREAD[1]:.0f} s)"
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
        f"RESULT trigger_api_calls per-job/batched = {p['calls'] / max(1, b['calls']):.1f}x fewer (target >= 20x)"
    )
    print(f"RESULT trigger_cpu per-job/batched = {p['cpu'] / max(1e-9, b['cpu']):.1f}x")
    print(f"RESULT trigger_p95_delay batched = {b['p95']:.2f} s (target <= {INTERVAL:.0f} s)")
    print(f"RESULT trigger_peak_memory batched = {b['peak_mb']:.1f} MB (target < 50 MB)")
    live = results["batched + live logs"]
    floor = JOBS * -(-LOG_LINES // 1000)  # one QueryLogs page per job at the least
    polls_bound = live["calls"] - live["by_action"].get("QueryLogs", 0)
    print(
        f"RESULT live_logs QueryLogs calls = {live['by_action'].get('QueryLogs', 0):,} vs paging floor {floor:,} "
        f"({live['by_action'].get('QueryLogs', 0) / floor:.1f}x: one page sequence per job per poll); "
        f"state reads {polls_bound:,}; lost lines {live['lost']}, repeated {live['repeated']}; "
        f"peak {live['peak_mb']:.1f} MB"
    )


if __name__ == "__main__":
    main()
