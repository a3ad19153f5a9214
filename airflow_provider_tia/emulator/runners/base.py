"""What every runner shares: the Runner interface, the store interface runners report to, and the replica
status line both services' runners write.

A runner executes the jobs of one service: ``local.LocalRunner`` (real processes) and
``simulated.SimulatedRunner`` (timers only), each specialised by a service (``tia.runners``,
``tione.runners``), which says what one job's replicas are and how they start.

Interface: ``bind(store, output_root)``, ``validate(job_spec) -> error or None``, ``start(job)``,
``stop(job_id)``, ``recover(job)`` (after a restart) and ``shutdown()``. A job is a dict with at least ``Id``,
``Name``, ``State`` (``Created``, ``Running`` or an end) and ``RuntimeConf`` (``key=value`` strings).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable

REPLICA_LABELS = {"master": "MASTER", "ps": "PS", "worker": "WORKER"}


class RunStore(Protocol):
    """What a runner reads and reports, by job ``Id``: the store of its service, or an adapter of it."""

    def get_by_id(self, job_id: str) -> dict | None:
        """The job (at least its ``State``), or None when it is gone."""
        ...

    def meta(self, job_id: str) -> dict | None:
        """Wall-clock nanoseconds ``create_ns`` and ``start_ns`` (None until it runs) of the job."""
        ...

    def mark_running(self, job_id: str, message: str) -> bool:
        """Created -> Running."""
        ...

    def set_message(self, job_id: str, message: str) -> bool:
        """A new status message of a running job."""
        ...

    def finish(self, job_id: str, state: str, message: str) -> bool:
        """The job ended by itself, ``Succeeded`` or ``Failed``."""
        ...

    def append_logs(self, job_id: str, lines: Iterable[tuple[str, str]]) -> int:
        """``(pod name, text)`` lines of the job's log; returns how many were kept."""
        ...


def summarize(states: dict[tuple[str, int], str]) -> dict[str, Counter[str]]:
    """Per-replica states -> how many replicas of each type are in each state."""
    summary: dict[str, Counter[str]] = {}
    for (rtype, _), state in states.items():
        summary.setdefault(rtype, Counter())[state] += 1
    return summary


def replica_message(summary: dict[str, Counter[str]]) -> str:
    """TI-A style status from ``summarize()``-shaped counts, e.g.
    ``[MASTER/Running : Running/1] ;[WORKER/Running : Running/2]`` (types other than master, ps and worker
    are left out)."""
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
    """Base class: a runner moves the jobs of a bound store through their states."""

    name = "base"
    store: RunStore
    output_root: Path

    def bind(self, store: RunStore, output_root: Path) -> None:
        """Attach to the store whose jobs this runner runs."""
        self.store = store
        self.output_root = Path(output_root)

    def validate(self, spec: dict) -> str | None:
        """Return an error message if this runner cannot accept the job's parameters."""
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
