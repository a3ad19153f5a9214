"""One triggerer waiting for 1,000 TI-ONE service rollouts: one shared batched reader vs one call per
service per interval.

1,000 service groups serve model version A on the emulator's simulated runner (its own process). 1,000
``ModelServiceTrigger`` s run in one event loop, as in a triggerer, each waiting for its group to serve
version B, while a thread rolls the groups to B (ModifyModelService with the whole configuration) at spread
times. Batched: ``RegionServicePoller`` reads every watched group with DescribeModelServiceGroups (an Id
filter, 100 a page) once per interval; per-service: one DescribeModelServiceGroup per wait per interval.
The second mode rolls the same groups back to A.

Prints the API calls of each mode and the delay from a service becoming "served" to its event, in poll
intervals, for every group: exact, from the emulator's own record of the moment each service's roll was
over (``ServedNs``, kept in its state directory, which the bench reads after each mode).
``BENCH_SERVICE_WAITS`` and ``BENCH_SERVICE_INTERVAL`` change the size and the interval.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from _common import emulator_process  # noqa: E402

os.environ.setdefault("AIRFLOW__TENCENTCLOUD__MIN_TRIGGER_EVENT_DELAY", "0")  # a fixed floor, not a cost

CONN_ID = "tione_service_bench"
WAITS = int(os.environ.get("BENCH_SERVICE_WAITS", "1000"))
INTERVAL = float(os.environ.get("BENCH_SERVICE_INTERVAL", "5"))
SPREAD = (5.0, float(os.environ.get("BENCH_SERVICE_MAX_ROLL", "35")))
STATE = Path(tempfile.mkdtemp(prefix="tia-bench-service-waits-"))  # the emulator's state directory
CALLS: Counter[str] = Counter()


def count_calls() -> None:
    """Count every async API call (the triggers'; setting up and rolling are synchronous)."""
    from airflow_provider_tia.hooks.base import AsyncTencentCloudClient

    original = AsyncTencentCloudClient.call

    async def counted(self: Any, action: str, params: dict[str, Any]) -> dict[str, Any]:
        CALLS[action] += 1
        return await original(self, action, params)

    AsyncTencentCloudClient.call = counted  # type: ignore[method-assign]


class Quiet:
    """A trigger's log that keeps nothing."""

    def info(self, *args: object) -> None: ...
    def warning(self, *args: object) -> None: ...
    def debug(self, *args: object) -> None: ...


def import_version(hook: Any) -> str:
    """A model version (the simulated runner imports an empty folder at once)."""
    reply = hook.call("CreateTrainingModel", {
        "ImportMethod": "MODEL", "TrainingModelName": f"bench-{random.randrange(10**9)}",
        "ReasoningEnvironmentSource": "SYSTEM", "ReasoningEnvironment": "tiinfer:py38", "TrainingModelSource": "COS",
        "TrainingModelCosPath": {"Bucket": "b-1250000000", "Region": "ap-beijing", "Paths": ["m/"]},
        "ModelFormat": "PYTORCH", "ModelMoveMode": "COPY",
    })  # fmt: skip
    version_id = str(reply["TrainingModelVersionId"])
    while (hook.call("DescribeTrainingModelVersion", {"TrainingModelVersionId": version_id})["TrainingModelVersion"]
           ["TrainingModelStatus"]) == "STATUS_RUNNING":  # fmt: skip
        time.sleep(0.05)
    return version_id


def config(service_id: str, version_id: str) -> dict[str, Any]:
    """The whole configuration of a group's one service, on ``version_id``."""
    return {"ServiceId": service_id, "ModelInfo": {"ModelVersionId": version_id},
            "InstanceType": "TI.S.MEDIUM.POST", "Replicas": 1}  # fmt: skip


def deploy(hook: Any, version_id: str) -> list[Any]:
    from airflow_provider_tia.models.tione.service_spec import ModelServiceSpec

    def one(i: int) -> Any:
        return hook.copy().create_model_service(ModelServiceSpec(
            service_group_name=f"bench-{i}", charge_type="POSTPAID_BY_HOUR", instance_type="TI.S.MEDIUM.POST",
            replicas=1, model_info={"ModelVersionId": version_id},
        ))  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        services = list(pool.map(one, range(WAITS)))
    wait_serving(hook, [s.group_id for s in services], version_id)
    return services


def wait_serving(hook: Any, group_ids: list[str], version_id: str) -> None:
    from airflow_provider_tia.models.tione.service_state import rollout_state

    while True:
        groups = hook.find_model_service_groups(ids=group_ids)
        if all(rollout_state(s, version_id) == "serving" for g in groups for s in g.services):
            return
        time.sleep(0.5)


def roll_all(hook: Any, services: list[Any], version_id: str, started: float) -> threading.Thread:
    """Roll every service to ``version_id`` at its own time within SPREAD of ``started`` (a thread)."""
    rng = random.Random(11)
    plan = sorted((started + rng.uniform(*SPREAD), s.id) for s in services)

    def run() -> None:
        with ThreadPoolExecutor(8) as pool:
            for at, service_id in plan:
                time.sleep(max(0.0, at - time.monotonic()))
                pool.submit(hook.copy().modify_model_service, config(service_id, version_id))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def served_at() -> dict[str, float]:
    """Each group's moment its service's last roll was over (epoch seconds), as the emulator recorded it."""
    out = {}
    for path in (STATE / "tione" / "services").glob("ms-*.json"):
        group = json.loads(path.read_text(encoding="utf-8"))
        stamps = [s["ServedNs"] for s in group["Services"] if s.get("ServedNs")]
        if stamps:
            out[group["Id"]] = max(stamps) / 1e9
    return out


async def watch_all(hook: Any, services: list[Any], version_id: str, batched: bool) -> dict[str, Any]:

    from airflow_provider_tia.triggers.tione.services import ModelServiceTrigger

    triggers = [
        ModelServiceTrigger(s.group_id, version_id, tencentcloud_conn_id=CONN_ID, poll_interval=INTERVAL,
                            batched=batched)
        for s in services
    ]  # fmt: skip
    for trigger in triggers:
        trigger._log = Quiet()  # type: ignore[attr-defined]  # a thousand task logs are not the point here
    fired: dict[str, float] = {}
    statuses: Counter[str] = Counter()

    async def run_one(trigger: ModelServiceTrigger) -> None:
        async for event in trigger.run():
            statuses[event.payload["status"]] += 1
            fired[trigger.service_group_id] = time.time()

    CALLS.clear()
    wall = time.monotonic()
    roller = roll_all(hook, services, version_id, wall)
    await asyncio.gather(*(run_one(t) for t in triggers))
    roller.join()
    reference = served_at()
    delays = sorted(fired[g] - reference[g] for g in fired if g in reference)
    return {
        "calls": sum(CALLS.values()),
        "by_action": dict(CALLS),
        "wall": time.monotonic() - wall,
        "events": dict(statuses),
        "p95": delays[int(0.95 * (len(delays) - 1))] if delays else float("nan"),
        "median": statistics.median(delays) if delays else float("nan"),
        "measured": len(delays),
    }


def main() -> None:
    from airflow_provider_tia.hooks.tione import TIONEHook

    count_calls()
    with emulator_process("--runner", "simulated", "--state-dir", str(STATE), conn_id=CONN_ID):
        hook = TIONEHook(CONN_ID)
        version_a, version_b = import_version(hook), import_version(hook)
        services = deploy(hook, version_a)
        results = {"batched": asyncio.run(watch_all(hook, services, version_b, batched=True))}
        results["per-service"] = asyncio.run(watch_all(hook, services, version_a, batched=False))
    print(f"## {WAITS:,} TI-ONE service waits in one event loop (poll interval {INTERVAL:.0f} s, "
          f"rolls end {SPREAD[0]:.0f}-{SPREAD[1]:.0f} s)")  # fmt: skip
    print("| polling | API calls | p50 / p95 delay s | events |")
    print("|---|---|---|---|")
    for mode, r in results.items():
        print(
            f"| {mode} | {r['calls']:,} {r['by_action']} | {r['median']:.2f} / {r['p95']:.2f} | {r['events']} |"
        )
    b, p = results["batched"], results["per-service"]
    print(f"RESULT service_wait_api_calls per-service/batched = {p['calls'] / max(1, b['calls']):.1f}x fewer "
          f"(target >= 20x)")  # fmt: skip
    print(f"RESULT service_wait_p95_delay batched = {b['p95'] / INTERVAL:.2f} poll intervals ({b['p95']:.2f} s, "
          f"exact, {b['measured']} groups) (target <= 1)")  # fmt: skip
    print(f"RESULT service_wait_events batched {b['events']}, per-service {p['events']} (target all success)")


if __name__ == "__main__":
    main()
