"""What every runner shares: the Runner interface and the replicas of a job.

Runners execute jobs for the store: ``local.LocalRunner`` (real processes) and
``simulated.SimulatedRunner`` (timers only).

Interface: ``bind(store, output_root)``, ``validate(job_spec) -> error or None``, ``start(job)``,
``stop(job_id)``, ``recover(job)`` (after a restart) and ``shutdown()``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import JobStore

REPLICA_LABELS = {"master": "MASTER", "ps": "PS", "worker": "WORKER"}


def is_custom(job: dict) -> bool:
    """True when ScaleTier enables the Custom fields."""
    return str(job.get("ScaleTier") or "").upper() == "CUSTOM"


def replicas(job: dict) -> list[tuple[str, int]]:
    """(type, index) of every replica: one master, then parameter servers and workers when Custom."""
    result = [("master", 0)]
    if is_custom(job):
        result += [("ps", i) for i in range(job.get("ParameterServerCount") or 0)]
        result += [("worker", i) for i in range(job.get("WorkerCount") or 0)]
    return result


def pod_name(job: dict, rtype: str, index: int) -> str:
    """Pod name of a replica, e.g. ``test-job-worker-1``."""
    return f"{job['Name']}-{rtype}-{index}"


def replica_message(states: dict[tuple[str, int], str]) -> str:
    """TI-A style status, e.g. ``[MASTER/Running : Running/1] ;[WORKER/Running : Running/2]``."""
    parts = []
    for rtype, label in REPLICA_LABELS.items():
        sts = [s for (t, _), s in states.items() if t == rtype]
        if not sts:
            continue
        overall = "Failed" if "Failed" in sts else "Running" if "Running" in sts else sts[0]
        counts = ", ".join(f"{s}/{n}" for s, n in Counter(sts).items())
        parts.append(f"[{label}/{overall} : {counts}]")
    return " ;".join(parts)


class Runner:
    """Base class: a runner moves jobs of a bound store through their states."""

    name = "base"
    store: JobStore
    output_root: Path

    def bind(self, store: JobStore, output_root: Path) -> None:
        """Attach to the store whose jobs this runner runs."""
        self.store = store
        self.output_root = Path(output_root)

    def validate(self, spec: dict) -> str | None:
        """Return an error message if this runner cannot accept the CreateJob parameters."""
        return None

    def start(self, job: dict) -> None:
        """Begin running a freshly created job (must not block)."""
        raise NotImplementedError

    def stop(self, job_id: str) -> None:
        """Stop a job (deleted); must not block for long."""

    def recover(self, job: dict) -> None:
        """Handle an unfinished job found in the state dir after a restart."""
        self.store.finish(job["Id"], "Failed", "the emulator restarted and this runner cannot resume the job")

    def shutdown(self) -> None:
        """Stop everything this runner started."""
