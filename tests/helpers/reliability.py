"""Helpers of the reliability suite: drive CreateJobOperator (or CreateTrainingTaskOperator) directly
(sync and deferred), as a worker and a triggerer would, against an emulator, and check the outcome, the
jobs and the log lines."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import itertools
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.compat import TaskDeferred
from tests.helpers import airflow_compat
from tests.helpers.support import ROOT
from tests.helpers.task_state import TaskStateStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

    from airflow_provider_tia.emulator import TIAEmulator
    from airflow_provider_tia.operators.base import CreateAndWaitOperator

CLUSTER = "ap-beijing"
WORKER = "tests.reliability.tia_rel_worker"  # run as a module from the repository (ROOT)
USER_ACTION = "__airflow_user_action__"  # the triggerer's cancel message for a user action
_ids = itertools.count()


# ------------------------------------------------------------------------------------- connections
def conn_json(emu: TIAEmulator, **extra: Any) -> str:
    """``AIRFLOW_CONN_<ID>`` JSON for ``emu`` with extra fields (e.g. ``retry_backoff=0.01``)."""
    body = json.loads(emu.connection_uri_json())
    login = extra.pop("login", None)
    password = extra.pop("password", None)
    body["extra"].update(extra)
    if login is not None:
        body["login"] = login
    if password is not None:
        body["password"] = password
    return json.dumps(body)


def connect(monkeypatch: Any, emu: TIAEmulator, conn_id: str) -> str:
    """Point the connection ``conn_id`` at ``emu`` (fast retries), with no faults and fresh counters."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json(emu, retry_backoff=0.01))
    emu.set_faults(None)
    emu.reset_counters()
    return conn_id


def sim_settings(
    duration: float, outcome: str = "Succeeded", lines: int = 5, start_delay: float = 0.0
) -> dict[str, str]:
    """The simulated runner's settings of one job: TI-ONE takes them as tags, TI-A as RuntimeConf."""
    return {
        "sim.duration": str(duration),
        "sim.outcome": outcome,
        "sim.log_lines": str(lines),
        "sim.start_delay": str(start_delay),
    }


def sim_conf(
    duration: float, outcome: str = "Succeeded", lines: int = 5, start_delay: float = 0.0
) -> list[str]:
    """RuntimeConf entries of the simulated runner (TI-A)."""
    return [f"{key}={value}" for key, value in sim_settings(duration, outcome, lines, start_delay).items()]


# ------------------------------------------------------------------------------ task-instance stand-in
class FakeTI:
    """The task-instance attributes CreateJobOperator reads; XCom values go through JSON like Airflow's."""

    def __init__(
        self, dag_id: str, task_id: str, run_id: str = "manual__rel", try_number: int = 1, map_index: int = -1
    ) -> None:
        self.dag_id, self.task_id, self.run_id = dag_id, task_id, run_id
        self.try_number, self.map_index = try_number, map_index
        self.xcoms: dict[str, Any] = {}
        self.stats_tags: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))

    def xcom_pull(
        self, key: str | None = None, task_ids: Any = None, map_indexes: Any = None, **_: Any
    ) -> Any:
        return self.xcoms.get(key or "return_value")


def context_for(
    ti: FakeTI, store: TaskStateStore | None = None, *, below_3_3: bool = False
) -> dict[str, Any]:
    """A task's context as Airflow 3.3 gives it: with its ``task_state_store`` (``store``, or an empty
    one); ``below_3_3``: without one, as on older Airflow versions."""
    ctx: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": ti.run_id, "params": {}}
    if not below_3_3:
        ctx["task_state_store"] = store if store is not None else TaskStateStore()
    return ctx


# -------------------------------------------------------------------------------------- log capture
class _Sink(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.messages = messages
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.messages.append(record.getMessage())


class _TaskLogger(logging.LoggerAdapter):
    """A task log that also takes structlog-style keywords (Airflow's ResumableJobMixin logs with them)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        std = {k: v for k, v in kwargs.items() if k in ("exc_info", "stack_info", "stacklevel", "extra")}
        fields = " ".join(f"{k}={v}" for k, v in kwargs.items() if k not in std)
        return (f"{msg} {fields}" if fields else msg), std


def _sink_logger(messages: list[str]) -> logging.Logger:
    logger = logging.getLogger(f"tia.reliability.task.{next(_ids)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.handlers[:] = [_Sink(messages)]
    return logger


def capture(op: CreateAndWaitOperator, messages: list[str]) -> CreateAndWaitOperator:
    """Send ``op.log`` (its task log: job lines and operator messages) into ``messages``."""
    object.__setattr__(op, "_cached_logger", _TaskLogger(_sink_logger(messages), {}))
    return op


def served_lines(emu: TIAEmulator, name: str, cluster: str = CLUSTER) -> list[str]:
    """Every line the emulator holds for a job, formatted as the operator prints them."""
    assert emu.store is not None
    logs, _, _ = emu.store.query_logs(cluster, name, 0, 2**63 - 1, 10_000)
    return [f"[{entry['PodName']}] {entry['Log']}" for entry in logs]


def line_figures(name: str, expected: list[str], printed: list[str]) -> tuple[int, int]:
    """(lost, duplicated) job lines: expected lines never printed; extra copies and lines never served."""
    job_lines = Counter(m for m in printed if m.startswith(f"[{name}-"))
    want = Counter(expected)
    lost = sum(1 for line in want if job_lines[line] == 0)
    duplicated = sum(max(0, job_lines[line] - want[line]) for line in job_lines)
    return lost, duplicated


def count_creations(
    emu: TIAEmulator,
    store: Any = None,
    key: Callable[[dict], Any] = lambda spec: (spec["Cluster"], spec["Name"]),
) -> Counter:
    """Count jobs the emulator really created, per ``key(spec)`` (a duplicate would count twice): TI-A
    jobs per (cluster, name) by default; ``store`` names another store (``emu.tione.store``)."""
    store = store or emu.store
    assert store is not None
    counter: Counter = Counter()
    original = store.create

    def create(spec: dict, *args: Any) -> dict:
        job = original(spec, *args)
        counter[key(spec)] += 1
        return job

    store.create = create  # type: ignore[method-assign]
    return counter


# ---------------------------------------------------------------------------------------- triggerer
class TriggerXComs:
    """What the triggerer's supervisor answers to a trigger's XCom calls (GetXCom/SetXCom) and to its
    question for the task's state (GetTaskStates: ``task_state``, e.g. "failed" once a user marked
    the task failed), in memory.

    Installed as ``SUPERVISOR_COMMS`` by ``triggerer_comms``; it outlives triggerer "restarts", as the
    metadata database does.
    """

    def __init__(self, task_state: str | None = "deferred") -> None:
        self.values: dict[tuple, Any] = {}
        self.task_state = task_state

    async def asend(self, msg: Any) -> Any:
        return self.send(msg)

    def send(self, msg: Any) -> Any:
        from airflow.sdk.execution_time.comms import (
            GetTaskStates,
            GetXCom,
            SetXCom,
            TaskStatesResult,
            XComResult,
        )

        if isinstance(msg, GetTaskStates):
            name = msg.task_ids[0] if (msg.map_index or -1) < 0 else f"{msg.task_ids[0]}_{msg.map_index}"
            states = {run_id: {name: self.task_state} for run_id in msg.run_ids or ()}
            return TaskStatesResult(task_states=states)
        key = (msg.key, msg.dag_id, msg.task_id, msg.run_id, msg.map_index)
        if isinstance(msg, SetXCom):
            self.values[key] = msg.value
            return None
        if isinstance(msg, GetXCom):
            return XComResult(key=msg.key, value=self.values.get(key))
        raise NotImplementedError(type(msg).__name__)


@contextlib.contextmanager
def triggerer_comms(task_state: str | None = "deferred") -> Iterator[TriggerXComs]:
    from airflow.sdk.execution_time import task_runner

    comms, before = TriggerXComs(task_state), getattr(task_runner, "SUPERVISOR_COMMS", None)
    task_runner.SUPERVISOR_COMMS = comms  # type: ignore[attr-defined]
    try:
        yield comms
    finally:
        task_runner.SUPERVISOR_COMMS = before  # type: ignore[attr-defined]


def rebuild(trigger: Any, ti: FakeTI | None = None, printed: list[str] | None = None) -> Any:
    """A trigger recreated from ``serialize()`` as the triggerer does (through Airflow's serde); with
    ``ti`` it knows its task instance, with ``printed`` its log goes to the task log, as in Airflow."""
    serialize, deserialize = airflow_compat.first("serialize"), airflow_compat.first("deserialize")

    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**deserialize(serialize(kwargs)))
    if ti is not None:
        rebuilt.task_instance = ti
    if printed is not None:
        rebuilt._log = _TaskLogger(_sink_logger(printed), {})
    return rebuilt


async def run_like_triggerer(trigger: Any) -> list[dict]:
    """Run a trigger as Airflow 3.3's triggerer does: on_kill() only on a user action, cleanup() always."""
    events: list[dict] = []
    try:
        async for event in trigger.run():
            events.append(event.payload)
    except asyncio.CancelledError as error:
        if error.args and error.args[0] == USER_ACTION:
            await trigger.on_kill()
        raise
    finally:
        with contextlib.suppress(Exception):
            await trigger.cleanup()
    return events


class Triggerer:
    """One event loop in a background thread running many triggers, like a triggerer process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rel-triggerer", daemon=True)
        self.thread.start()

    def run(self, trigger: Any, timeout: float = 120) -> list[dict]:
        return asyncio.run_coroutine_threadsafe(run_like_triggerer(trigger), self.loop).result(timeout)

    def submit(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(drain(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


# ------------------------------------------------------------------------------------------- driver
@dataclasses.dataclass
class Outcome:
    """How one task try ended: its XCom return value or its error, and what it printed."""

    name: str
    result: Any = None
    error: BaseException | None = None
    deferred: bool = False
    events: list[dict] = dataclasses.field(default_factory=list)
    defer_kwargs: dict | None = None
    trigger_payload: Any = None
    printed: list[str] = dataclasses.field(default_factory=list)
    ti: FakeTI | None = None

    @property
    def state(self) -> str:
        """The job's final state as seen by the task (TI-A ``State``, TI-ONE ``Status``), ``Failed`` for
        JobFailed, or the error's class name."""
        from airflow_provider_tia.exceptions import JobFailed

        if self.error is None:
            result = self.result or {}
            return str(result.get("State", result.get("Status")))
        if isinstance(self.error, JobFailed):
            return "Failed"
        return type(self.error).__name__


def drive(
    make_op: Callable[[], CreateAndWaitOperator],
    ti: FakeTI,
    triggerer: Triggerer | None = None,
    store: TaskStateStore | None = None,
    name: str | None = None,
    below_3_3: bool = False,
) -> Outcome:
    """Run one try of the task: ``execute``; if it defers, the trigger (rebuilt from ``serialize()``) in
    ``triggerer``, then ``execute_complete`` on a fresh operator, as on a fresh worker."""
    ctx = context_for(ti, store, below_3_3=below_3_3)
    first = make_op()
    outcome = Outcome(name=name or first.name, ti=ti)
    capture(first, outcome.printed)
    try:
        outcome.result = first.execute(ctx)
    except TaskDeferred as deferred:
        assert triggerer is not None, "a deferrable task needs a triggerer"
        assert deferred.method_name == "execute_complete"
        outcome.deferred = True
        outcome.defer_kwargs = deferred.kwargs
        outcome.trigger_payload = deferred.trigger.serialize()
        outcome.events = triggerer.run(rebuild(deferred.trigger, ti, outcome.printed))
        resumed = capture(make_op(), outcome.printed)
        try:
            assert len(outcome.events) == 1, outcome.events
            outcome.result = resumed.execute_complete(ctx, outcome.events[0])
        except Exception as error:
            outcome.error = error
    except Exception as error:
        outcome.error = error
    if outcome.result is not None:
        ti.xcom_push("return_value", outcome.result)
    return outcome


# ------------------------------------------------------------------------------------------ crashes
class Spy:
    """Counts calls of an async method of one trigger instance (cleanup, on_kill) and still runs it."""

    def __init__(self, trigger: Any, method: str) -> None:
        self.calls = 0
        original = getattr(trigger, method)

        async def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await original(*args, **kwargs)

        setattr(trigger, method, spy)


def run_worker_until_job_line(args: list[str], line_prefix: str) -> list[str]:
    """Start a worker process (``tests/reliability/tia_rel_worker.py`` with ``args``), wait until it printed a job line
    (starting with ``line_prefix``), SIGKILL it; returns what it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", WORKER, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    printed: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                assert proc.poll() is None, f"worker exited early: {printed}"
                continue
            if line.startswith("TASK: "):
                printed.append(line[len("TASK: ") :].rstrip("\n"))
            if printed and printed[-1].startswith(line_prefix):
                break
        else:
            raise AssertionError(f"no job line from the worker: {printed}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return printed


def kill_worker_mid_wait(
    name: str, store_file: Path | None, args: list[str], line_prefix: str
) -> tuple[list[str], TaskStateStore | None]:
    """Run a worker for job ``name`` (``args``: the worker's after the store) with a task state store
    in ``store_file`` (or none) until its first job line, SIGKILL it. Returns what it printed and the
    task state store it left, as the next try gets it."""
    printed = run_worker_until_job_line([name, str(store_file) if store_file else "-", *args], line_prefix)
    return printed, TaskStateStore(json.loads(store_file.read_text())) if store_file else None


def wait_until(condition: Callable[[], Any], timeout: float = 30) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def defer(op: CreateAndWaitOperator, ti: FakeTI) -> TaskDeferred:
    """``execute`` until the task defers; its TaskDeferred (the trigger to run)."""
    try:
        op.execute(context_for(ti))
    except TaskDeferred as deferred:
        return deferred
    raise AssertionError(f"{op.task_id} did not defer")


def shut_down_mid_wait(trigger: Any, mid_wait: Callable[[], Any]) -> tuple[Spy, Spy]:
    """Run ``trigger`` in a triggerer until ``mid_wait()``, then shut that triggerer down: its tasks are
    cancelled without a user action. Returns the trigger's (cleanup, on_kill) call counters."""
    cleanup, on_kill = Spy(trigger, "cleanup"), Spy(trigger, "on_kill")
    old = Triggerer()
    try:
        running = old.submit(run_like_triggerer(trigger))
        assert wait_until(mid_wait), "the trigger never got mid-wait"
        running.cancel()
        with contextlib.suppress(Exception):
            running.result(10)
        wait_until(lambda: cleanup.calls > 0, 10)
    finally:
        old.close()
    return cleanup, on_kill


def run_recreated(trigger: Any, ti: FakeTI, printed: list[str]) -> list[dict]:
    """Another triggerer picks the trigger up from the database (``serialize()``) and runs it to its event."""
    new = Triggerer()
    try:
        second = rebuild(trigger, ti, printed)
        assert second.serialize() == trigger.serialize()
        return new.run(second)
    finally:
        new.close()


def user_kill_mid_wait(trigger: Any, mid_wait: Callable[[], Any]) -> tuple[Spy, Spy]:
    """Run ``trigger`` until ``mid_wait()``, then cancel it as the triggerer does when a user marks the
    deferred task failed. Returns its (on_kill, cleanup) call counters."""
    cleanup, on_kill = Spy(trigger, "cleanup"), Spy(trigger, "on_kill")

    async def scenario() -> None:
        task = asyncio.ensure_future(run_like_triggerer(trigger))
        deadline = time.monotonic() + 30
        while not mid_wait() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        task.cancel(USER_ACTION)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    triggerer = Triggerer()
    try:
        with triggerer_comms(task_state="failed"):  # the user marked the task failed: the API says so
            triggerer.submit(scenario()).result(60)
    finally:
        triggerer.close()
    return on_kill, cleanup


def restart_service_mid_wait(
    first: TIAEmulator,
    runs: dict[str, Callable[[Triggerer], Outcome]],
    mid_wait: Callable[[], Any],
    count: Callable[[TIAEmulator], Counter],
) -> tuple[TIAEmulator, dict[str, Outcome], Counter]:
    """Run each task (a thread each; the deferred ones in one triggerer); once ``mid_wait()``, stop the
    emulator ``first`` and start another on its port and state dir. Returns the second emulator (stopped,
    its store readable), the outcomes, and ``count(second)`` (creations there)."""
    from airflow_provider_tia.emulator import TIAEmulator

    triggerer, outcomes = Triggerer(), {}
    threads = [
        threading.Thread(target=lambda n=name, r=run: outcomes.__setitem__(n, r(triggerer)))
        for name, run in runs.items()
    ]
    second = None
    try:
        for thread in threads:
            thread.start()
        assert wait_until(mid_wait), "the tasks never got mid-wait"
        first.stop()  # the service goes away mid-wait...
        time.sleep(1.0)
        second = TIAEmulator(runner="simulated", state_dir=first.state_dir, port=first.port).start()
        creations = count(second)  # ...and comes back
        for thread in threads:
            thread.join(60)
    finally:
        triggerer.close()
        if second is not None:
            second.stop()
        first.stop()
    return second, outcomes, creations


# ------------------------------------------------------------------------------------------ secrets
def outcome_texts(outcomes: Iterable[Outcome]) -> list[str]:
    """Everything a task try leaves where a secret must not be: its task log, XCom, trigger payload and
    events, and its error (text, repr, traceback, pickle)."""
    import pickle
    import traceback

    texts: list[str] = []
    for outcome in outcomes:
        texts += outcome.printed
        texts.append(json.dumps(outcome.ti.xcoms if outcome.ti else None))
        texts.append(json.dumps([outcome.trigger_payload, outcome.defer_kwargs, outcome.events], default=str))
        if outcome.error is not None:
            texts += [str(outcome.error), repr(outcome.error), *traceback.format_exception(outcome.error)]
            texts.append(pickle.dumps(outcome.error).decode("latin-1"))
    return texts


def expected_states(errors: dict[str, type[BaseException] | None], success: str) -> dict[str, str]:
    """``Outcome.state`` each task should end with: ``success``, ``Failed`` (JobFailed) or the error's name."""
    from airflow_provider_tia.exceptions import JobFailed

    return {
        name: success if error is None else "Failed" if error is JobFailed else error.__name__
        for name, error in errors.items()
    }
