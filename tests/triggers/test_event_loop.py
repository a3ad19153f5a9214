"""A trigger never blocks the triggerer's event loop, proved structurally rather than by timing.

``blockbuster`` replaces every blocking call (sleep, file and socket I/O, locks, ``os`` calls...) with a
check that raises ``BlockingError`` when it is made on a running event loop from a frame of our
package. Each trigger runs in a fresh interpreter (cold imports, connection, SDK client, credentials,
as in a just-started triggerer), polls, follows live logs, fires, and its kill path runs too. A
blocking call reached from any of these steps fails the trigger, whatever the machine's load (a
module's first import is let through: it happens once per process); how long steps take is measured
in ``make bench``, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec
from tests.helpers.support import CLUSTER, script_spec

PRINT_LINES = "python -c \"import time\nfor i in range(10): print('line', i, flush=True); time.sleep(0.1)\""

RUN_TRIGGERS = textwrap.dedent(
    """
    import asyncio, json, time, traceback
    from blockbuster import BlockingError, blockbuster_ctx

    # Loaded before the loop, as in a triggerer: the trigger modules and Airflow's connection access.
    try:
        import airflow.sdk.definitions.connection, airflow.sdk.execution_time.supervisor  # noqa: E401
    except ImportError:  # Airflow 2: connections come from the metadata DB or the environment
        import airflow.models.connection  # noqa: F401
    from airflow_provider_tia.triggers.tia import JobTrigger
    from airflow_provider_tia.triggers.tione import TrainingTaskTrigger

    since = time.strftime("%%Y-%%m-%%dT%%H:%%M:%%SZ", time.gmtime(time.time() - 60))
    logs = {"since": since, "newest": None, "overlap": 5.0, "seen": [], "tail": [], "reader": {}}

    async def first_event(trigger):
        return [event.payload async for event in trigger.run()][0]

    job = {"name": "%(tia)s", "cluster": "%(cluster)s"}
    task = {"name": "%(tione)s", "id": "%(tione)s"}

    async def main():
        deadline = time.time() + 120
        tia = dict(poll_interval=0.2, deadline=deadline, not_before=0)
        tione = dict(poll_interval=0.2, deadline=deadline, not_before=0, kill_action="delete")
        events = await asyncio.gather(
            first_event(JobTrigger(job, resume={"logs": logs}, **tia)),
            first_event(JobTrigger(job, batched=False, resume={"logs": logs}, **tia)),
            first_event(TrainingTaskTrigger(task, resume={"logs": logs}, **tione)),
            first_event(TrainingTaskTrigger(task, batched=False, **tione)),
        )
        await JobTrigger(job, **tia)._end_job()
        await TrainingTaskTrigger(task, **tione)._end_job()
        return events

    with blockbuster_ctx("airflow_provider_tia") as bb:
        for function in bb.functions.values():  # a module's first import: once per process, not per poll
            function.can_block_in("<frozen importlib._bootstrap>", "_find_and_load")
        try:
            events = asyncio.run(main())
        except BlockingError as error:
            print(json.dumps({"blocking": "".join(traceback.format_exception(error))[-4000:]}))
            raise SystemExit(0)
    print(json.dumps({"blocking": None, "status": [e["status"] for e in events],
                      "lines": [len((e["resume"].get("logs") or {}).get("tail", [])) for e in events]}))
    """
)


def test_no_step_of_a_trigger_blocks_the_event_loop(tia_emulator, tia_connection) -> None:
    TIAHook(tia_connection).create_job(script_spec("loop-free", "--lines", "10", "--sleep", "0.1"))
    task_id = TIONEHook(tia_connection).create_training_task(
        TrainingTaskSpec.from_kwargs(
            name="loop-free",
            charge_type="POSTPAID_BY_HOUR",
            resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}],
            start_cmd=PRINT_LINES,
        )
    )
    script = RUN_TRIGGERS % {"tia": "loop-free", "cluster": CLUSTER, "tione": task_id}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["blocking"] is None, report["blocking"]
    assert report["status"] == ["success"] * 4, report
    assert report["lines"][0] >= 10 and report["lines"][1] >= 10  # they polled and followed the logs
