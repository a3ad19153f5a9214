"""What every runner shares: the Runner interface and the replicas of a job.

Runners execute jobs for the store: ``local.LocalRunner`` (real processes) and
``simulated.SimulatedRunner`` (timers only).

Interface: ``bind(store, output_root)``, ``validate(job_spec) -> error or None``, ``start(job)``,
``stop(job_id)``, ``recover(job)`` (after a restart) and ``shutdown()``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .store import JobStore

REPLICA_LABELS = {"master": "MASTER", "ps": "PS", "worker": "WORKER"}
SHOWN_REPLICAS = 64  # replicas listed on the console page


def is_custom(job: dict) -> bool:
    """True when ScaleTier enables the Custom fields."""
    return str(job.get("ScaleTier") or "").upper() == "CUSTOM"


def replica_counts(job: dict) -> dict[str, int]:
    """How many replicas of each type a job declares: one master, then parameter servers and workers when
    Custom. Arithmetic only, so a huge declared count costs nothing."""
    counts = {"master": 1}
    if is_custom(job):
        counts.update(ps=job.get("ParameterServerCount") or 0, worker=job.get("WorkerCount") or 0)
    return {rtype: n for rtype, n in counts.items() if n > 0}


def replicas(job: dict) -> list[tuple[str, int]]:
    """(type, index) of every replica (the local runner's validate bounds how many it starts)."""
    return list(iter_replicas(job))


def iter_replicas(job: dict) -> Iterator[tuple[str, int]]:
    """(type, index) of every replica, lazily."""
    return ((rtype, i) for rtype, n in replica_counts(job).items() for i in range(n))


def pod_name(job: dict, rtype: str, index: int) -> str:
    """Pod name of a replica, e.g. ``test-job-worker-1``."""
    return f"{job['Name']}-{rtype}-{index}"


def summarize(states: dict[tuple[str, int], str]) -> dict[str, Counter[str]]:
    """Per-replica states -> how many replicas of each type are in each state."""
    summary: dict[str, Counter[str]] = {}
    for (rtype, _), state in states.items():
        summary.setdefault(rtype, Counter())[state] += 1
    return summary


def replica_message(summary: dict[str, Counter[str]]) -> str:
    """TI-A style status from ``summarize()``-shaped counts, e.g.
    ``[MASTER/Running : Running/1] ;[WORKER/Running : Running/2]``."""
    parts = []
    for rtype, label in REPLICA_LABELS.items():
        counts = summary.get(rtype)
        if not counts:
            continue
        overall = "Failed" if counts["Failed"] else "Running" if counts["Running"] else next(iter(counts))
        text = ", ".join(f"{s}/{n}" for s, n in counts.items() if n)
        parts.append(f"[{label}/{overall} : {text}]")
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

    def replica_states(self, job: dict) -> list[tuple[str, str]]:
        """(pod name, state) of the job's first SHOWN_REPLICAS replicas, for the console page; here every
        replica is taken to be in the job's state."""
        state = "Pending" if job["State"] == "Created" else job["State"]
        shown = itertools.islice(iter_replicas(job), SHOWN_REPLICAS)
        return [(pod_name(job, rtype, i), state) for rtype, i in shown]
