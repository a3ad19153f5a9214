"""A trigger never blocks the triggerer's event loop: not on its first run in a fresh process (cold
imports, connection, SDK client, credentials), not while polling, not while following logs.

asyncio's debug mode reports every callback that holds the loop longer than ``slow_callback_duration``
(0.1 s here); the trigger runs in a fresh interpreter, as in a just-started triggerer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.job import JobSpec

SCRIPTS = str(Path(__file__).resolve().parent / "dags" / "scripts")

RUN_TRIGGER = textwrap.dedent(
    """
    import asyncio, json, logging, sys, time

    # Loaded before the loop, as in a triggerer: the trigger's module and Airflow's connection access.
    import airflow.sdk.definitions.connection, airflow.sdk.execution_time.supervisor  # noqa: E401
    from airflow_provider_tia.triggers.tia import JobTrigger

    slow = []

    class Slow(logging.Handler):
        def emit(self, record):
            if "took" in record.getMessage():
                slow.append(record.getMessage())

    logging.getLogger("asyncio").addHandler(Slow())
    logs = {"since": "%(since)s", "newest": None, "overlap": 5.0, "seen": [], "tail": [], "reader": {}}

    async def main():
        asyncio.get_running_loop().slow_callback_duration = 0.1
        trigger = JobTrigger(
            "%(name)s", "ap-beijing", poll_interval=0.2, deadline=time.time() + 120,
            resume={"name": "%(name)s", "cluster": "ap-beijing", "logs": logs},
        )
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(main(), debug=True)
    print(json.dumps({"slow": slow, "status": events[0]["status"], "lines": len(events[0]["resume"]["logs"]["tail"])}))
    """
)


def test_no_step_of_a_trigger_blocks_the_event_loop(tia_emulator, tia_connection) -> None:
    job = TIAHook(tia_connection).create_job(
        JobSpec(
            name="loop-free",
            cluster="ap-beijing",
            runtime_version="r",
            package_dir=[SCRIPTS],
            command=["python"],
            args=["train.py", "--lines", "10", "--sleep", "0.1"],
        )
    )
    script = RUN_TRIGGER % {"name": "loop-free", "since": job.create_time.isoformat()}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["status"] == "success" and report["lines"] >= 10  # it polled and followed the logs
    assert report["slow"] == [], report["slow"]
