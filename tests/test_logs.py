"""LogFollower against the emulator: every line once, across polls, windows and a resume elsewhere."""

from __future__ import annotations

import time

from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.job import JobSpec
from airflow_provider_tia.logs import LogFollower

CLUSTER = "ap-beijing"
SCRIPT = "import time\nfor i in range(40):\n    print(f'step {i}', flush=True)\n    time.sleep(0.05)\n"


def test_lines_of_a_running_job_are_emitted_once_across_polls_and_resume(tia_connection, tmp_path) -> None:
    hook = TIAHook(tia_connection)
    job = hook.create_job(
        JobSpec(
            name="follow-me",
            cluster=CLUSTER,
            runtime_version="r",
            package_dir=[str(tmp_path)],
            command=["python", "-c", SCRIPT],
        )
    )
    first: list[str] = []
    follower = LogFollower(hook, "follow-me", CLUSTER, since=job.create_time, emit=first.append, page_size=7)
    polls = 0
    while not hook.describe_job("follow-me", CLUSTER).is_terminal and polls < 200:
        follower.poll()
        polls += 1
        if len(first) >= 10:
            break
        time.sleep(0.1)
    assert first, "some lines arrived while the job ran"

    # The task resumes on another worker: the position travels as JSON-safe state.
    second: list[str] = []
    resumed = LogFollower.from_state(
        TIAHook(tia_connection), follower.state(), emit=second.append, page_size=7
    )
    hook.wait_for_job("follow-me", CLUSTER, poll_interval=0.2, timeout=60)
    resumed.poll()
    resumed.poll()  # a poll with nothing new emits nothing
    everything = first + second
    assert everything == [f"[follow-me-master-0] step {i}" for i in range(40)]
    assert resumed.last_lines(3) == [f"[follow-me-master-0] step {i}" for i in (37, 38, 39)]
    assert resumed.calls >= 2
