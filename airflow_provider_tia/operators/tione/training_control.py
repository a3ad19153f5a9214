"""One execution's training-task calls (``TIONETaskControl``): find, create, stop, delete, and how a
training task is found again after a retry, a crash or a lost reply (its idempotency tag)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_tia import ending
from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.exceptions import JobAlreadyExists
from airflow_provider_tia.lifecycle import Action
from airflow_provider_tia.models.tione.training_task import TrainingTaskKey
from airflow_provider_tia.operators.control import JobControl

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_tia.hooks.tione import TIONEHook, TIONELogReader
    from airflow_provider_tia.models.tione.training_spec import (
        TrainingTaskSpec,
    )
    from airflow_provider_tia.models.tione.training_task import TrainingTask


TASK_KEY_TAG = "airflow-task-key"  # tag on every training task: hash of (dag, task, run, map index)
TERMINAL = ("SUCCEED", "FAILED", "STOPPED", "SUBMIT_FAILED")
START_WAIT = 60.0  # seconds a restarted task may take to show its new run


class TIONETaskControl(JobControl[TrainingTaskKey]):
    """Training-task calls of one execution: find, create, stop, delete.

    A training task's key is a ``TrainingTaskKey`` (Id, name, tag): TI-ONE addresses tasks by Id only, and the Id
    is unknown until CreateTrainingTask answers. Until then the key's ``tag`` (the idempotency tag
    every task this Airflow task instance creates carries) finds it: after a lost reply, on a retry,
    and when the task is killed while the create call is in flight.

    :param kill_action: What a kill does to the task: ``STOP`` (the record stays and can run
        again), ``DELETE`` (stop, then remove it) or ``LEAVE``.
    """

    key_type = TrainingTaskKey
    final_states = TERMINAL
    success_state = "SUCCEED"
    state_field = "Status"

    hook: TIONEHook

    def key_of(self, job: TrainingTask) -> TrainingTaskKey:
        return TrainingTaskKey(job.name or job.id, job.id, self.target.tag if self.target else None)

    def matches(self, key: TrainingTaskKey, job: TrainingTask) -> bool:
        return job.id == key.id

    def describe(self, key: TrainingTaskKey) -> TrainingTask:
        return self.read_found(key, key.id or self._id_by_tag(key), self.hook.describe_training_task)

    def log_reader(
        self, key: TrainingTaskKey, job: TrainingTask | None = None, state: dict[str, Any] | None = None
    ) -> TIONELogReader:
        return self.hook.log_reader(job if job is not None else key.task_id, state)

    # ----------------------------------------------------------------------------------- finding
    def _id_by_tag(self, key: TrainingTaskKey) -> str | None:
        own = self.find_own(key.tag) if key.tag else None
        return own.id if own is not None else None

    def find_tagged(self, tag: str) -> list[TrainingTask]:
        """The tasks carrying this task instance's tag (DescribeTrainingTasks, riding out transient errors)."""
        return self.retrying(
            lambda: self.hook.find_training_tasks(tags={TASK_KEY_TAG: tag}), f"Finding tasks tagged {tag}"
        )

    def find_own(self, tag: str) -> TrainingTask | None:
        """The task an earlier try of this task instance created (carries its tag), if any."""
        found = self.find_tagged(tag)
        return newest(found) if found else None

    def find_named(self, name: str) -> TrainingTask | None:
        """The newest task of exactly this name (the service's name filter may be fuzzy)."""
        named = self.retrying(lambda: self.hook.find_training_tasks(name=name), f"Finding tasks named {name}")
        found = [task for task in named if task.name == name]
        return newest(found) if found else None

    # ----------------------------------------------------------------------------------- acting
    def perform(
        self, action: Action, spec: TrainingTaskSpec, existing: TrainingTask | None, tag: str
    ) -> TrainingTask:
        """Carry out ``lifecycle.decide``'s action; returns the task to watch.

        RECREATE (this task instance's own task failed in an earlier try) runs the same task again
        with StartTrainingTask: TI-ONE keeps the record and gives the run a new instance.
        """
        key = TrainingTaskKey(spec.name, tag=tag)
        if action is Action.FAIL:
            raise JobAlreadyExists(
                f"{key.label} already exists (if_exists='fail')", code="FailedOperation.DuplicateName"
            )
        if existing is not None and action is Action.ATTACH:
            self.log.info("Attaching to existing %s (%s)", existing.label, existing.state_name)
            # The detail, not the list item it was found as: every path returns the same shape.
            return self._remember_read(TrainingTaskKey(existing.name or existing.id, existing.id, tag))
        if existing is not None and action is Action.RECREATE:
            self.log.info("%s failed in an earlier try: starting it again", existing.label)
            self.target = TrainingTaskKey(existing.name or existing.id, existing.id, tag)
            self.retrying(lambda: self.hook.start_training_task(existing.id), f"Starting {existing.label}")
            return self._started_again(self.target, existing)
        if existing is not None:
            self.log.info("%s is replaced (if_exists='replace'): deleting it", existing.label)
            self.delete(TrainingTaskKey(existing.name or existing.id, existing.id))
        task_id = self.create_watched(key, lambda: self.hook.create_training_task(spec))
        return self._remember_read(TrainingTaskKey(spec.name, task_id, tag))

    def _started_again(
        self, key: TrainingTaskKey, before: TrainingTask, timeout: float = START_WAIT
    ) -> TrainingTask:
        """The task once its new run shows (Start is asynchronous: a read right after it may still
        show the failed run), so the wait never ends on the old run's status."""
        shows_by = time.monotonic() + timeout
        while True:
            task = self._remember_read(key)
            new_run = task.latest_instance_id != before.latest_instance_id or not task.is_terminal
            if new_run or time.monotonic() >= shows_by:
                return task
            time.sleep(min(self.interval, 2.0))

    def _remember_read(self, key: TrainingTaskKey) -> TrainingTask:
        self.target = key  # before the read: a kill during it ends this task
        task = self.read(key)
        self.remember(task, key)
        return task

    def end(self, key: TrainingTaskKey, action: EndAction, *, fresh_hook: bool = False) -> None:
        if action is EndAction.LEAVE:
            return
        tasks = (
            TIONETaskControl(self.hook.copy(), self.deadline, self.interval, self.log, action)
            if fresh_hook
            else self
        )
        task_id = key.id or tasks._id_by_tag(key)
        if task_id is None:
            return  # nothing was created
        tasks.end_as(dataclasses.replace(key, id=task_id), action)

    def end_as(self, key: TrainingTaskKey, action: EndAction) -> None:
        """Carry out ``ending.end_training_task`` (the triggerer's kill runs the same plan)."""
        label, task_id = key.label, key.task_id

        def call(what: str, request: Callable[[], Any]) -> Callable[[], Any]:
            return lambda: self.retrying(request, f"{what} {label}")

        calls = {
            "stop": call("Stopping", lambda: self.hook.stop_training_task(task_id, missing_ok=True)),
            "delete": call("Deleting", lambda: self.hook.delete_training_task(task_id, missing_ok=True)),
            "read": lambda: self.read_or_none(key),
        }
        ending.drive(
            ending.end_training_task(action, lambda note: self.log.info("%s: %s", label, note)), calls
        )

    def stop(self, key: TrainingTaskKey) -> None:
        self.end_as(key, EndAction.STOP)

    def delete(self, key: TrainingTaskKey) -> None:
        """Delete the task; a running one is stopped first (the service may refuse to delete it)."""
        self.end_as(key, EndAction.DELETE)


def newest(tasks: list[TrainingTask]) -> TrainingTask:
    return max(tasks, key=lambda task: (task.create_time is not None, task.create_time or 0, task.id))
