"""Log following: every line once, across polls, full windows, a resume elsewhere, and both readings of
QueryLogs' zone-less window times (UTC or +08:00: the service does not say which, so both readings are handled)."""

from __future__ import annotations

import json
import time

import pendulum
import pytest

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.logs import WINDOW_CAP, LogCursor, LogFollower
from airflow_provider_tia.models.tia.job import LogLine, QueryLogsZone
from airflow_provider_tia.models.tia.job_spec import JobSpec

CLUSTER = "ap-beijing"
SCRIPT = "import time\nfor i in range(40):\n    print(f'step {i}', flush=True)\n    time.sleep(0.05)\n"


@pytest.fixture(scope="module", params=["utc", "+08:00"])
def zoned_emulator(request):
    """An emulator reading QueryLogs' StartTime/EndTime in one zone or the other."""
    with TIAEmulator(runner="local", query_logs_zone=request.param) as emulator:
        yield emulator


def _follower(hook: TIAHook, name: str, since, emit, state=None) -> LogFollower:
    if state is None:
        return LogFollower(hook.log_reader(name, CLUSTER), LogCursor(since), emit)
    return LogFollower(hook.log_reader(name, CLUSTER, state["reader"]), LogCursor.from_state(state), emit)


def test_lines_are_emitted_once_across_polls_and_resume_in_both_zones(
    zoned_emulator, connect, tmp_path
) -> None:
    hook = TIAHook(connect("tia_zoned", zoned_emulator))
    name = f"follow-{zoned_emulator.query_logs_zone.replace(':', '').replace('+', 'p')}"
    job = hook.create_job(
        JobSpec(
            name=name,
            cluster=CLUSTER,
            runtime_version="r",
            package_dir=[str(tmp_path)],
            command=["python", "-c", SCRIPT],
        )
    )
    first: list[str] = []
    follower = _follower(hook, name, job.create_time, first.append)
    deadline = time.monotonic() + 60
    while len(first) < 10 and time.monotonic() < deadline:
        follower.poll()
        time.sleep(0.1)
    assert first, "some lines arrived while the job ran"

    # The task resumes on another worker: the position travels as JSON.
    second: list[str] = []
    state = json.loads(json.dumps(follower.state()))
    resumed = _follower(TIAHook("tia_zoned"), name, None, second.append, state)
    hook.wait_for_job(name, CLUSTER, poll_interval=0.2, timeout=60)
    resumed.poll()
    assert resumed.poll() == 0  # a poll with nothing new emits nothing
    assert first + second == [f"[{name}-master-0] step {i}" for i in range(40)]
    assert resumed.cursor.last_lines(3) == [f"[{name}-master-0] step {i}" for i in (37, 38, 39)]


def test_full_windows_are_paged_past(connect) -> None:
    """25,000 lines of a finished job come back in windows of at most 10,000: all of them, once."""
    with TIAEmulator(runner="simulated", sim_duration=5) as emulator:
        hook = TIAHook(connect("tia_many_lines", emulator))
        job = hook.create_job(
            JobSpec(
                name="many-lines",
                cluster=CLUSTER,
                runtime_version="r",
                runtime_conf=["sim.duration=5", "sim.log_lines=25000"],
            )
        )
        hook.wait_for_job("many-lines", CLUSTER, poll_interval=0.5, timeout=60)
        printed: list[str] = []
        follower = _follower(hook, "many-lines", job.create_time, printed.append)
        calls_before = emulator.calls["QueryLogs"]
        follower.poll()
        assert len(printed) == 25_000 and len(set(printed)) == 25_000
        assert emulator.calls["QueryLogs"] - calls_before >= 25  # 1,000 lines a page


def _line(second: float, text: str) -> LogLine:
    moment = pendulum.datetime(2026, 1, 1, tz="UTC").add(microseconds=int(second * 1_000_000))
    stamp = moment.isoformat().replace("+00:00", "Z")
    return LogLine.from_api({"Time": stamp, "PodName": "p", "ContainerName": "c", "Log": text})


def test_keys_inside_the_overlap_and_the_second_before_it_are_never_forgotten() -> None:
    """Windows have 1 s resolution: a re-read may return lines up to a second before its start."""
    cursor = LogCursor(pendulum.datetime(2026, 1, 1, tz="UTC"), overlap=5.0)
    lines = [_line(i * 0.01, f"l{i}") for i in range(5000)]  # 50 s of lines, more than FORGET_AFTER keys
    printed: list[str] = []
    cursor.accept(lines, cursor.window_start(), printed.append)
    start = cursor.window_start()  # newest - 5 s
    again = [line for line in lines if line.time >= start.subtract(seconds=1)]  # what a 1 s window gives back
    assert cursor.accept(again, start, printed.append) == 0
    assert len(printed) == 5000


def test_lines_older_than_the_window_are_old_news() -> None:
    cursor = LogCursor(pendulum.datetime(2026, 1, 1, tz="UTC"))
    printed: list[str] = []
    cursor.accept([_line(100, "new")], cursor.window_start(), printed.append)
    start = cursor.window_start()
    assert cursor.accept([_line(10, "8 h wide window"), _line(101, "newer")], start, printed.append) == 1
    assert printed == ["[p] new", "[p] newer"]


def test_a_full_window_within_one_second_stops_with_a_warning(caplog) -> None:
    cursor = LogCursor(pendulum.datetime(2026, 1, 1, tz="UTC"))
    start = cursor.window_start()
    crowded = [_line(2.5, f"l{i}") for i in range(WINDOW_CAP)]
    assert cursor.next_start(crowded, crowded[0].time) is None
    assert "cannot page past them" in caplog.text
    spread = [_line(i / 1000, f"l{i}") for i in range(WINDOW_CAP)]
    assert cursor.next_start(spread, start) == spread[-1].time
    assert cursor.next_start(spread[:-1], start) is None  # a short window is complete


def test_query_logs_zone_learns_the_beijing_reading() -> None:
    start = pendulum.datetime(2026, 1, 1, 12, tz="UTC")
    end = start.add(minutes=1)
    zone = QueryLogsZone()
    assert zone.window(start, end) == ("2026-01-01 12:00:00", "2026-01-01 20:01:00")  # covers both readings
    zone.learn(start.add(microseconds=500_000), [start])  # within the window's second: still open
    assert zone.reading is None
    zone.learn(start, [start.subtract(hours=3)])  # only a +08:00 reading returns this
    assert zone.reading == "+08:00"
    assert zone.window(start, end) == ("2026-01-01 20:00:00", "2026-01-01 20:01:00")
    assert QueryLogsZone("utc").window(start, end) == ("2026-01-01 12:00:00", "2026-01-01 12:01:00")
