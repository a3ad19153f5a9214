"""TI-A's job calls for one task execution (``PlatformJobs``): create, attach, replace, delete.

A TI-A job's key is ``{"name", "cluster"}`` (plus ``"id"`` once known): TI-A addresses jobs by name.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_tia import ending
from airflow_provider_tia.ending import EndAction
from airflow_provider_tia.exceptions import JobAlreadyExists, TIAError
from airflow_provider_tia.job import job_key, job_label
from airflow_provider_tia.lifecycle import Action, IfExists
from airflow_provider_tia.operators._jobs import Key, PlatformJobs, TaskLog

if TYPE_CHECKING:
    from airflow_provider_tia import lifecycle
    from airflow_provider_tia.hooks.tia import TIAHook, TIALogReader
    from airflow_provider_tia.job import Job, JobSpec

DELETE_WAIT = 300.0  # seconds a deleted job may take to disappear before replace/recreate gives up


class TIAJobs(PlatformJobs):
    """TI-A job calls of one execution. TI-A has no stop: ending a job deletes it.

    Example::

        jobs = TIAJobs(hook, lifecycle.Deadline.after(3600), 30, log)
        job = jobs.perform(lifecycle.Action.CREATE, spec, None, lifecycle.IfExists.ATTACH)
    """

    final_states = ("Succeeded", "Failed")
    success_state = "Succeeded"
    state_field = "State"

    def __init__(
        self,
        hook: TIAHook,
        deadline: lifecycle.Deadline,
        interval: float,
        log: TaskLog,
        delete_on_kill: bool = True,
    ) -> None:
        super().__init__(deadline, interval, log, delete_on_kill)
        self.hook = hook

    def key_of(self, job: Job) -> Key:
        cluster = job.cluster or (self.target or {}).get("cluster") or ""
        return job_key(job.name, cluster, job.raw.get("Id"))

    def label(self, key: Key) -> str:
        return job_label(key["name"], key.get("cluster"))

    def matches(self, key: Key, job: Job) -> bool:
        return job.name == key["name"] and (not key.get("id") or job.raw.get("Id") == key["id"])

    def describe(self, key: Key) -> Job:
        return self.hook.describe_job(key["name"], key["cluster"])

    def end(self, key: Key, how: str = "", *, fresh_hook: bool = False) -> None:
        """Delete the job (``ending.end_tia_job``, as the triggerer's kill does)."""
        hook = self.hook.copy() if fresh_hook else self.hook
        delete = lambda: hook.delete_job(key["name"], key["cluster"], missing_ok=True)  # noqa: E731
        ending.drive(ending.end_tia_job(EndAction(how or EndAction.DELETE)), {"delete": delete})

    def log_reader(self, key: Key, job: Any = None, state: dict[str, Any] | None = None) -> TIALogReader:
        return self.hook.log_reader(key["name"], key["cluster"], state)

    def perform(self, action: Action, spec: JobSpec, existing: Job | None, if_exists: IfExists) -> Job:
        """Carry out ``lifecycle.decide``'s action; returns the job to watch."""
        key = job_key(spec.name, spec.cluster)
        if action is Action.FAIL:
            raise JobAlreadyExists(
                f"{self.label(key)} already exists (if_exists='fail')", code="FailedOperation.AlreadyExists"
            )
        if existing is not None and action is Action.ATTACH:
            self.log.info("Attaching to existing %s (%s)", self.label(key), existing.state_name)
            self.remember(existing, job_key(spec.name, spec.cluster, existing.raw.get("Id")))
            return existing
        if existing is not None:
            why = (
                "failed in an earlier try"
                if action is Action.RECREATE
                else "is replaced (if_exists='replace')"
            )
            self.log.info("%s %s: deleting it and creating it again", self.label(key), why)
            self.delete_and_wait(key)
        job = self.create_watched(key, lambda: self._create(spec, if_exists))
        self.remember(job, job_key(spec.name, spec.cluster, job.raw.get("Id")))
        return job

    def _create(self, spec: JobSpec, if_exists: IfExists) -> Job:
        try:
            return self.hook.create_job(spec)
        except JobAlreadyExists:
            if if_exists is IfExists.FAIL:
                raise
            self.log.info("%s appeared concurrently: attaching to it", job_label(spec.name, spec.cluster))
            return self.read(job_key(spec.name, spec.cluster))

    def delete_and_wait(self, key: Key, timeout: float = DELETE_WAIT) -> None:
        """Delete the job and wait until it is gone (a name can be reused only then)."""
        self.retrying(lambda: self.end(key), f"DeleteJob {key['name']}")
        gone_by = time.monotonic() + timeout
        while self.read_or_none(key) is not None:
            if time.monotonic() >= gone_by:
                raise TIAError(f"{self.label(key)} was deleted but still exists after {timeout:.0f}s")
            time.sleep(min(self.interval, 2.0))
