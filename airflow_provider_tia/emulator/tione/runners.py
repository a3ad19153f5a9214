"""The shared runners, running TI-ONE task instances.

``RunnerStore`` gives the runners the store interface they report to (``runners.base.RunStore``:
``mark_running``, ``finish``, ``append_logs``...), keyed by instance id and translated to TI-ONE statuses.
``TioneLocalRunner`` really runs the replicas; ``TioneSimulatedRunner`` only moves the statuses on timers
(per task, tags ``sim.duration``, ``sim.outcome`` = Succeeded/Failed, ``sim.log_lines``,
``sim.start_delay`` override its defaults).

Local container layout (what a real TI-ONE container offers under ``/opt/ml``, emulated per instance under
the emulator's output root as ``tione/<instance id>/``):

* ``code/``: the working directory. Every object under ``CodePackagePath.Paths[0]`` (or that object itself)
  is downloaded keeping its path relative to it; each ``.tar.gz``/``.tgz`` among them is unpacked in place
  (our staging uploads ``<prefix>/<digest>/code.tar.gz``).
* ``data/<i>/``: the objects under ``DataConfigs[i].COSSource`` (env ``TIONE_DATA_DIR_<i>``; the first one
  also ``TIONE_DATA_DIR``). Other data sources are not fetched.
* ``output/``: ``TIONE_OUTPUT_DIR``, shared by the replicas of the instance and uploaded to the
  ``Output`` bucket under ``<Paths[0]><task Id>/`` (``output_prefix``) when the instance ends: success,
  failure or stop. Every run of a task writes to the same folder.

Each replica runs its role's command through ``bash -c`` in ``code/``: ``PsStartCmd`` for role PS,
``WorkerStartCmd`` for WORKER, else (or when that is empty) ``StartCmd``; other roles (HEAD, DRIVER...) run
``StartCmd``, else ``WorkerStartCmd``. ``EncodedStartCmdInfo`` wins over ``StartCmdInfo`` (a null command
in it counts as empty). The environment is clean (``runners.processes.base_env``) plus ``TIONE_TASK_ID``,
``TIONE_TASK_NAME``, ``TIONE_INSTANCE_ID``, ``TIONE_ROLE``, ``TIONE_ROLE_INDEX``, ``TIONE_OUTPUT_DIR``, the
data dirs, for DDP/MPI/HOROVOD ``MASTER_ADDR=127.0.0.1``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK`` (over
all replicas, in ResourceConfigInfos order), for PS_WORKER ``TF_CONFIG`` (cluster by lower-case role, task
type and index), then ``Envs`` as given.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from ..core.limits import SIM_LOG_PODS
from ..runners.local import LocalRunner
from ..runners.processes import JobSetupError, base_env, free_ports, tf_cluster
from ..runners.simulated import SimulatedRunner
from .schema import start_commands
from .store import TERMINAL, replicas, task_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from ..runners.cos import COSResolver
    from ..runners.processes import LocalJob, Replica
    from .store import TaskStore

RUNNING_STATES = {"SUBMITTING": "Created", "PENDING": "Created", "STARTING": "Created", "RUNNING": "Running"}
RANKED_MODES = ("DDP", "MPI", "HOROVOD")
ROLE_COMMANDS = {"PS": "PsStartCmd", "WORKER": "WorkerStartCmd"}


class RunnerStore:
    """The runners' view of the TI-ONE store (a ``RunStore``); ``wrap_up(instance id)`` runs before a run's
    end is recorded (the local runner uploads the output there)."""

    def __init__(self, store: TaskStore, wrap_up: Any) -> None:
        self.store, self.wrap_up = store, wrap_up

    def task(self, instance_id: str) -> dict | None:
        """The task an instance belongs to (whichever instance is its latest), or None."""
        return self.store.get(task_of(instance_id))

    def get_by_id(self, instance_id: str) -> dict | None:
        task = self.store.get(task_of(instance_id))
        if task is None or task["LatestInstanceId"] != instance_id:
            return None
        return {"Id": instance_id, "State": RUNNING_STATES.get(task["Status"], "Ended")}

    def meta(self, instance_id: str) -> dict | None:
        task = self.store.get(task_of(instance_id))
        return {"create_ns": task["UpdateNs"], "start_ns": task["StartNs"]} if task else None

    def starting(self, instance_id: str) -> bool:
        """PENDING -> STARTING: the instance's replicas are being set up."""
        return self.store.update(instance_id, lambda t: _move(t, ("PENDING",), "STARTING"))

    def mark_running(self, instance_id: str, message: str) -> bool:
        def fn(task: dict) -> bool:
            task.update(StartNs=time.time_ns(), ChargeStatus="BILLING")
            return _move(task, ("PENDING", "STARTING"), "RUNNING")

        return self.store.update(instance_id, fn)

    def set_message(self, instance_id: str, message: str) -> bool:
        return True  # the runners' replica summaries mean nothing in TI-ONE

    def finish(self, instance_id: str, state: str, message: str) -> bool:
        """The run ended by itself (a stop is ended by ``stop_run``): SUCCEED, or FAILED with the reason."""
        task = self.store.get(task_of(instance_id))
        if task is None or task["Status"] in TERMINAL or task["Status"] == "STOPPING":
            return False
        self.wrap_up(instance_id)
        status, reason = ("SUCCEED", "") if state == "Succeeded" else ("FAILED", message)
        return self.end(instance_id, status, reason, "NOT_BILLING", (status, message))

    def end(self, instance_id: str, status: str, reason: str, charge: str, note: tuple[str, str]) -> bool:
        """Record the end of a run; ``note`` is (status, text) of the line the run's log ends with."""

        def fn(task: dict) -> bool:
            if task["Status"] in TERMINAL:
                return False
            task.update(Status=status, FailureReason=reason, Message=note[1], ChargeStatus=charge)
            task["EndNs"] = time.time_ns()
            return True

        return self.store.update(instance_id, fn)

    def append_logs(self, instance_id: str, lines: Iterable[tuple[str, str]]) -> int:
        return self.store.append_logs(instance_id, lines)


def _move(task: dict, sources: tuple[str, ...], target: str) -> bool:
    if task["Status"] not in sources:
        return False
    task["Status"] = target
    return True


def runner_job(task: dict) -> dict:
    """A task's latest instance as the runners take a job: Id and Name are the instance id."""
    iid = task["LatestInstanceId"]
    sim = [
        f"{t['TagKey']}={t['TagValue']}"
        for t in task["Spec"].get("Tags", [])
        if t["TagKey"].startswith("sim.")
    ]
    state = RUNNING_STATES.get(task["Status"], "Ended")
    return {"Id": iid, "Name": iid, "State": state, "RuntimeConf": sim, "Task": task}


def commands_of(spec: dict) -> dict[str, str]:
    """The task's start commands; JobSetupError when its EncodedStartCmdInfo does not decode (Create refuses
    such a task, but one saved by an earlier emulator may hold one)."""
    try:
        return start_commands(spec)
    except ValueError as exc:
        raise JobSetupError(f"EncodedStartCmdInfo.StartCmdInfo {exc}") from None


def output_prefix(path: str, task_id: str) -> str:
    """Where a task's outputs go in the Output bucket: ``<Paths[0]><task Id>/``, one ``/`` between them.

    Tencent's own client (tikit) imports a task's model from ``Paths[0] + task Id + "/"``: the service keeps
    each task's outputs in a folder named by its Id, so several tasks can share one Output path."""
    base = path.rstrip("/")
    return f"{base}/{task_id}/" if base else f"{task_id}/"


def role_command(cmds: dict[str, str], role: str) -> str:
    """The command of a role: its own (PS, WORKER) when set, else StartCmd. A role with no field of its own
    (a RAY task's HEAD, SPARK's DRIVER and EXECUTOR) falls back to WorkerStartCmd last: Tencent's own client
    sends a RAY task's command only there."""
    own = ROLE_COMMANDS.get(role.upper())
    if own:
        return cmds.get(own) or cmds.get("StartCmd") or ""
    return cmds.get("StartCmd") or cmds.get("WorkerStartCmd") or ""


class ShutdownHooks:
    """Lets the TI-ONE service stop what it runs besides tasks (the online services' replicas) when the
    emulator shuts its TI-ONE runner down."""

    def add_shutdown_hook(self, hook: Callable[[], None]) -> None:
        self.__dict__.setdefault("_shutdown_hooks", []).append(hook)

    def run_shutdown_hooks(self) -> None:
        for hook in self.__dict__.get("_shutdown_hooks", []):
            hook()


class TioneLocalRunner(ShutdownHooks, LocalRunner):
    """Runs every replica of a TI-ONE instance as a local process (see the module docstring)."""

    cos: COSResolver | None = None  # set by the emulator when it has a COS endpoint

    def validate(self, spec: dict) -> str | None:
        count = sum(res.get("InstanceNum", 1) for res in spec["ResourceConfigInfos"])
        if count > self.max_replicas:
            return f"`ResourceConfigInfos` ask for {count} replicas; the local runner starts at most {self.max_replicas}"
        return None

    def instance_dir(self, instance_id: str) -> Path:
        return self.output_root / "tione" / instance_id

    def output_dir(self, job: dict) -> Path:
        path = self.instance_dir(job["Id"]) / "output"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _cos(self, what: str) -> COSResolver:
        if self.cos is None:
            raise JobSetupError(f"{what} is on COS, but the emulator was started without a COS endpoint")
        return self.cos

    def _fetch(self, what: str, cos: dict, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        try:
            count = self._cos(what).fetch(cos["Region"], cos["Bucket"], cos["Paths"][0], dest)
        except JobSetupError:
            raise
        except Exception as exc:
            raise JobSetupError(f"{what} could not be fetched: {exc}") from exc
        if not count:
            raise JobSetupError(f"{what}: no object at or under {cos['Bucket']}/{cos['Paths'][0]}")

    def _execute(self, job: dict, lj: LocalJob) -> None:
        task, iid = job["Task"], job["Id"]
        spec = task["Spec"]
        self.store.starting(iid)  # type: ignore[attr-defined]
        root = self.instance_dir(iid)
        code = root / "code"
        code.mkdir(parents=True, exist_ok=True)
        if "CodePackagePath" in spec:
            self._fetch("CodePackagePath", spec["CodePackagePath"], code)
        env = {**base_env(self.output_dir(job)), "TIONE_TASK_ID": task["Id"], "TIONE_TASK_NAME": task["Name"],
               "TIONE_INSTANCE_ID": iid, "TIONE_OUTPUT_DIR": str(self.output_dir(job))}  # fmt: skip
        for i, data in enumerate(spec.get("DataConfigs", [])):
            if "COSSource" in data:
                self._fetch(f"DataConfigs.{i}.COSSource", data["COSSource"], root / "data" / str(i))
                env[f"TIONE_DATA_DIR_{i}"] = str(root / "data" / str(i))
                env.setdefault("TIONE_DATA_DIR", env[f"TIONE_DATA_DIR_{i}"])
        cmds = commands_of(spec)
        reps = replicas(task)
        for role, _, _ in reps:
            if not role_command(cmds, role).strip():
                raise JobSetupError(f"no start command for role {role!r} (StartCmdInfo)")
        mode = spec.get("TrainingMode", "").upper()
        if mode in RANKED_MODES:
            env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_ports(1)[0]), WORLD_SIZE=str(len(reps)))
        cluster = tf_cluster([(role.lower(), i) for role, i, _ in reps]) if mode == "PS_WORKER" else {}
        user = {e["Name"]: e.get("Value", "") for e in spec.get("Envs", []) if e.get("Name")}
        for rank, (role, index, pod) in enumerate(reps):
            own = {"TIONE_ROLE": role, "TIONE_ROLE_INDEX": str(index)}
            if mode in RANKED_MODES:
                own["RANK"] = str(rank)
            if cluster:
                own["TF_CONFIG"] = json.dumps(
                    {"cluster": cluster, "task": {"type": role.lower(), "index": index}}
                )
            argv = ["/bin/bash", "-c", role_command(cmds, role)]
            if not self._spawn(lj, role.lower(), index, pod, argv, str(code), {**env, **own, **user}):
                return
        self._run_replicas(job, lj)

    @staticmethod
    def _job_succeeded(ended: Replica, states: dict[tuple[str, int], str]) -> bool:
        return all(state == "Succeeded" for state in states.values())

    def wrap_up(self, instance_id: str) -> None:
        """Upload the instance's output dir under the task's output prefix (a failed upload is logged, not
        raised)."""
        task = self.store.task(instance_id)  # type: ignore[attr-defined]
        out = self.instance_dir(instance_id) / "output"
        if task is None or "Output" not in task["Spec"] or not out.is_dir():
            return
        target = task["Spec"]["Output"]
        prefix = output_prefix(target["Paths"][0], task["Id"])
        try:
            count = self._cos("Output").upload(target["Region"], target["Bucket"], prefix, out)
            note = f"[tione emulator] uploaded {count} output files to {target['Bucket']}/{prefix}"
        except Exception as exc:
            note = f"[tione emulator] output upload failed: {exc}"
        self.store.append_logs(instance_id, [("", note)])

    def shutdown(self) -> None:
        self.run_shutdown_hooks()
        super().shutdown()

    def wait_ended(self, instance_id: str, timeout: float) -> None:
        """Block until the instance's processes are gone (at most ``timeout`` seconds)."""
        with self._lock:
            lj = self._jobs.get(instance_id)
        if lj is not None and lj.thread is not None and lj.thread is not threading.current_thread():
            lj.thread.join(timeout)


class TioneSimulatedRunner(ShutdownHooks, SimulatedRunner):
    """Timers only; log lines come from the instance's first SIM_LOG_PODS pods."""

    def shutdown(self) -> None:
        self.run_shutdown_hooks()
        super().shutdown()

    def validate(self, spec: dict) -> str | None:
        return super().validate(runner_job({"LatestInstanceId": "", "Status": "", "Spec": spec}))

    def _log_pods(self, job: dict) -> list[str]:
        return [pod for _, _, pod in replicas(job["Task"])][:SIM_LOG_PODS]

    def wrap_up(self, instance_id: str) -> None:
        """Nothing to upload."""

    def wait_ended(self, instance_id: str, timeout: float) -> None:
        """A stopped timer is gone at once."""
