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


def create_jobs(cluster: str) -> None:
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
                runtime_conf=[f"sim.duration={duration:.1f}"],
            )
        )


async def watch_all(cluster: str, batched: bool) -> dict:
    import pendulum

    from airflow_provider_tia.triggers.tia import JobTrigger

    triggers = [
        JobTrigger(
            job_name=f"job-{i}",
            cluster=cluster,
            tia_conn_id="tia_bench",
            poll_interval=INTERVAL,
            batched=batched,
        )
        for i in range(JOBS)
    ]
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
    return {
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
        for mode, batched in (("batched", True), ("per-job", False)):
            cluster = f"cls-bench-{mode}"
            create_jobs(cluster)
            results[mode] = asyncio.run(watch_all(cluster, batched))
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


if __name__ == "__main__":
    main()
