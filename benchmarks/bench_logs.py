"""Log streaming: a job with 100,000 log lines paged into the task log by LogFollower.

The emulator (simulated runner, its own process) writes the lines over the job's run. The follower
streams them live while the job runs (as a task does), then a second follower re-reads the finished
job in one pass to measure throughput. Prints lines/s and QueryLogs calls vs the minimum
(lines / page limit), and checks that no line is printed twice or lost.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(__file__))
from _common import emulator_process  # noqa: E402

LINES = int(os.environ.get("BENCH_LOG_LINES", "100000"))
DURATION = int(os.environ.get("BENCH_LOG_DURATION", "40"))  # spread so a second holds < 10,000 lines
PAGE = 1000


def check(lines: list[str]) -> tuple[int, int]:
    """(duplicates, lost) against the emulator's synthetic `step i/N` lines."""
    steps = [int(line.rsplit("step ", 1)[1].split("/", 1)[0]) for line in lines]
    duplicates = len(steps) - len(set(steps))
    lost = LINES - len(set(steps) & set(range(1, LINES + 1)))
    return duplicates, lost


def main() -> None:
    from airflow_provider_tia.hooks.tia import TIAHook, TIALogReader
    from airflow_provider_tia.logs import LogCursor, LogFollower
    from airflow_provider_tia.models.tia.job import QueryLogsZone
    from airflow_provider_tia.models.tia.job_spec import JobSpec

    class CountingHook(TIAHook):
        """The bench's own tally of the hook's calls (the emulator runs in another process)."""

        def __init__(self, conn_id: str) -> None:
            super().__init__(conn_id)
            self.api_calls: Counter[str] = Counter()

        def call(self, action: str, params: dict, **options: object) -> dict:
            self.api_calls[action] += 1
            return super().call(action, params, **options)

    with emulator_process("--runner", "simulated"):
        hook = TIAHook("tia_bench")
        job = hook.create_job(
            JobSpec(
                name="bench-logs",
                cluster="ap-beijing",
                runtime_version="tia-1.7.0",
                scale_tier="Custom",
                master_type="1U1G0P",
                worker_type="1U1G0P",
                worker_count=3,
                runtime_conf=[f"sim.log_lines={LINES}", f"sim.duration={DURATION}"],
            )
        )
        live: list[str] = []
        live_hook = CountingHook("tia_bench")
        reader = TIALogReader(live_hook, "bench-logs", "ap-beijing", QueryLogsZone(), PAGE)
        follower = LogFollower(reader, LogCursor(job.create_time), live.append)
        while not hook.describe_job("bench-logs", "ap-beijing").is_terminal:
            follower.poll()
            time.sleep(2)
        follower.poll()

        replay: list[str] = []
        replay_hook = CountingHook("tia_bench")
        fresh_reader = TIALogReader(replay_hook, "bench-logs", "ap-beijing", QueryLogsZone(), PAGE)
        fresh = LogFollower(fresh_reader, LogCursor(job.create_time), replay.append)
        started = time.perf_counter()
        fresh.poll()
        elapsed = time.perf_counter() - started

    minimum = -(-LINES // PAGE)
    live_dupes, live_lost = check(live)
    dupes, lost = check(replay)
    print(f"## Log streaming ({LINES:,} lines, page limit {PAGE})")
    print("| pass | lines printed | QueryLogs calls | minimum calls | duplicates | lost |")
    print("|---|---|---|---|---|---|")
    print(
        f"| live, while the job ran ({DURATION} s) | {len(live):,} | {live_hook.api_calls['QueryLogs']} | {minimum} | {live_dupes} | {live_lost} |"
    )
    print(
        f"| one pass over the finished job | {len(replay):,} | {replay_hook.api_calls['QueryLogs']} | {minimum} | {dupes} | {lost} |"
    )
    print(f"RESULT log_lines_per_second (finished job, one pass) = {len(replay) / elapsed:,.0f}")
    print(
        f"RESULT log_calls_vs_minimum = {replay_hook.api_calls['QueryLogs'] / minimum:.2f}x (live: {live_hook.api_calls['QueryLogs'] / minimum:.2f}x)"
    )
    print(f"RESULT log_duplicates = {live_dupes + dupes}, log_lost = {live_lost + lost}")


if __name__ == "__main__":
    main()
