"""The runners as TI-A runs a job: its replicas (one master, then parameter servers and workers when
``ScaleTier`` is Custom), named ``<Name>-<type>-<index>``; the local runner's PackageDir, Command and TIA_*
environment; the simulated runner's log pods; the replica states the console page shows.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from ..core.limits import LOCAL_MAX_REPLICAS, LOCAL_MAX_RUNNING_JOBS, SIM_LOG_PODS
from ..runners.local import LocalRunner
from ..runners.processes import REPLICA_PATH, JobSetupError, base_env, tf_cluster
from ..runners.simulated import SimulatedRunner

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..runners.base import Runner
    from ..runners.processes import LocalJob, Replica

SHOWN_REPLICAS = 64  # replicas listed on the console page
PackageResolver = Callable[[str, Path], str]


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


def replica_states(runner: Runner, job: dict) -> list[tuple[str, str]]:
    """(pod name, state) of the job's first SHOWN_REPLICAS replicas, for the console page: as the local runner
    saw them, else every replica taken to be in the job's state."""
    states = runner.replica_states_of(job["Id"]) if isinstance(runner, LocalRunner) else None
    if states:
        return [(pod_name(job, t, i), s) for (t, i), s in list(states.items())[:SHOWN_REPLICAS]]
    state = "Pending" if job["State"] == "Created" else job["State"]
    shown = itertools.islice(iter_replicas(job), SHOWN_REPLICAS)
    return [(pod_name(job, rtype, i), state) for rtype, i in shown]


def _strip_mount(path: str) -> str:
    """``/data/pkg:/opt/ml/code`` -> ``/data/pkg`` (the optional mount path is ignored)."""
    return path.split(":", 1)[0]


def replica_env(job: dict, rtype: str, index: int, output_dir: Path, tf_config: dict) -> dict[str, str]:
    """The whole environment of a replica: what a TI-A container gives, nothing of the emulator's own.

    PATH (REPLICA_PATH), HOME (the job's output dir), LANG=C.UTF-8, PYTHONUNBUFFERED=1, TF_CONFIG,
    TIA_JOB_NAME, TIA_JOB_ID, TIA_CLUSTER, TIA_REPLICA_TYPE, TIA_REPLICA_INDEX, TIA_OUTPUT_DIR.
    """
    return {
        **base_env(output_dir),
        "TF_CONFIG": json.dumps({**tf_config, "task": {"type": rtype, "index": index}}),
        "TIA_JOB_NAME": job["Name"], "TIA_JOB_ID": job["Id"], "TIA_CLUSTER": job["Cluster"],
        "TIA_REPLICA_TYPE": rtype, "TIA_REPLICA_INDEX": str(index), "TIA_OUTPUT_DIR": str(output_dir),
    }  # fmt: skip


class TiaLocalRunner(LocalRunner):
    """Runs every replica of a TI-A job as a local process (no shell) with TF_CONFIG and TIA_* variables, in
    the first PackageDir entry; the job succeeds when its master exits 0.

    ``package_resolvers`` maps a URL scheme (e.g. ``"cos"``) to ``callable(entry, dest_dir) -> local path``
    so remote PackageDir entries can be fetched; without one, such entries fail the job.
    ``python``/``python3`` as the first Command item runs with the emulator's ``sys.executable``.
    """

    def __init__(
        self,
        package_resolvers: dict[str, PackageResolver] | None = None,
        kill_grace: float = 2.0,
        poll_interval: float = 0.05,
        max_replicas: int = LOCAL_MAX_REPLICAS,
        max_running: int = LOCAL_MAX_RUNNING_JOBS,
    ) -> None:
        super().__init__(kill_grace, poll_interval, max_replicas, max_running)
        self.package_resolvers = dict(package_resolvers or {})

    def validate(self, spec: dict) -> str | None:
        count = sum(replica_counts(spec).values())
        if count > self.max_replicas:
            return (
                f"`WorkerCount` + `ParameterServerCount` + 1 master = {count} replicas; the local runner "
                f"starts at most {self.max_replicas} per job"
            )
        return None

    def resolve_entry(self, entry: str, dest: Path) -> str:
        """Local directory for one PackageDir entry; JobSetupError if unsupported or missing."""
        if "://" in entry:
            scheme, rest = entry.split("://", 1)
            scheme = scheme.lower()
            if scheme == "file":
                if not rest.startswith("/"):  # file://host/path
                    rest = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
                path = unquote(_strip_mount(rest))
            elif scheme in self.package_resolvers:
                dest.mkdir(parents=True, exist_ok=True)
                try:
                    path = str(self.package_resolvers[scheme](entry, dest))
                except Exception as exc:
                    raise JobSetupError(f"PackageDir entry {entry!r} could not be fetched: {exc}") from exc
            else:
                supported = ", ".join(
                    ["file://", "absolute paths", *(f"{s}://" for s in self.package_resolvers)]
                )
                raise JobSetupError(
                    f"PackageDir entry {entry!r}: scheme {scheme}:// is not supported by the local runner "
                    f"(supported: {supported})"
                )
        elif entry.startswith("/"):
            path = _strip_mount(entry)
        else:
            raise JobSetupError(f"PackageDir entry {entry!r} is neither an absolute local path nor a URL")
        if not os.path.isdir(path):
            raise JobSetupError(f"PackageDir entry {entry!r}: local directory {path!r} does not exist")
        return path

    def output_dir(self, job: dict) -> Path:
        """Per-job directory given to replicas as TIA_OUTPUT_DIR."""
        path = (
            self.output_root / f"{quote(job['Cluster'], safe='')}@{quote(job['Name'], safe='')}-{job['Id']}"
        )
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _argv(self, job: dict, cwd: str) -> list[str]:
        """Command + Args with the program resolved to an absolute path (on REPLICA_PATH, or from ``cwd``)."""
        command = list(job.get("Command") or [])
        if not command:
            raise JobSetupError("Command is empty: the local runner needs a command to run")
        program = command[0]
        if program in ("python", "python3"):
            found: str | None = sys.executable
        elif os.sep in program:
            found = os.path.join(cwd, program)
            found = found if os.path.isfile(found) and os.access(found, os.X_OK) else None
        else:
            found = shutil.which(program, path=REPLICA_PATH)
        if found is None:
            raise JobSetupError(
                f"Command {program!r} could not start: not an executable file "
                f"(looked in {cwd if os.sep in program else REPLICA_PATH})"
            )
        return [found, *command[1:], *(job.get("Args") or [])]

    def _execute(self, job: dict, lj: LocalJob) -> None:
        out = self.output_dir(job)
        cwd = str(out)
        for i, entry in enumerate(job.get("PackageDir") or []):
            path = self.resolve_entry(entry, out / "package" / str(i))
            cwd = path if i == 0 else cwd
        argv = self._argv(job, cwd)
        reps = replicas(job)
        cluster = tf_cluster(reps)
        for rtype, index in reps:
            env = replica_env(job, rtype, index, out, {"cluster": cluster})
            if not self._spawn(lj, rtype, index, pod_name(job, rtype, index), argv, cwd, env):
                return
        self._run_replicas(job, lj)

    @staticmethod
    def _job_succeeded(ended: Replica, states: dict[tuple[str, int], str]) -> bool:
        """In TI-A a job succeeds when its master exits 0."""
        return ended.rtype == "master"


class TiaSimulatedRunner(SimulatedRunner):
    """Timers only; log lines come from the master and the first workers (SIM_LOG_PODS pods at most,
    whatever WorkerCount says)."""

    def replica_counts(self, job: dict) -> dict[str, int]:
        return replica_counts(job)

    def _log_pods(self, job: dict) -> list[str]:
        workers = min(replica_counts(job).get("worker", 0), SIM_LOG_PODS - 1)
        return [pod_name(job, "master", 0)] + [pod_name(job, "worker", i) for i in range(workers)]
