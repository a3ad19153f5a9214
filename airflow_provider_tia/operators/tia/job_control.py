"""One execution's calls on one TI-A job (``TIAJobControl``): read, create or reuse, delete, follow logs.

A TI-A job's key is ``TIAJobKey(name, cluster, id)``: TI-A addresses jobs by name. Loaded when a task
runs, not when a DAG file builds it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_tia import ending
from airflow_provider_tia.choices import EndAction, IfExists
from airflow_provider_tia.exceptions import JobAlreadyExists, TencentCloudError
from airflow_provider_tia.lifecycle import Action
from airflow_provider_tia.models.tia.job import TIAJobKey
from airflow_provider_tia.operators.control import JobControl

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tia import TIAHook, TIALogReader
    from airflow_provider_tia.models.tia.job import Job
    from airflow_provider_tia.models.tia.job_spec import JobSpec

DELETE_WAIT = 300.0  # seconds a deleted job may take to disappear before replace/recreate gives up


class TIAJobControl(JobControl[TIAJobKey]):
    """TI-A job calls of one execution: create, attach, replace, delete. TI-A has no stop: ending a
    job deletes it."""

    key_type = TIAJobKey
    final_states = ("Succeeded", "Failed")
    success_state = "Succeeded"
    state_field = "State"

    hook: TIAHook

    def key_of(self, job: Job) -> TIAJobKey:
        cluster = job.cluster or (self.target.cluster if self.target else "")
        return TIAJobKey(job.name, cluster, job.raw.get("Id"))

    def matches(self, key: TIAJobKey, job: Job) -> bool:
        return job.name == key.name and (not key.id or job.raw.get("Id") == key.id)

    def describe(self, key: TIAJobKey) -> Job:
        return self.hook.describe_job(key.name, key.cluster)

    def end(self, key: TIAJobKey, action: EndAction, *, fresh_hook: bool = False) -> None:
        """Delete the job or leave it (``ending.end_tia_job``, as the triggerer's kill does)."""
        hook = self.hook.copy() if fresh_hook else self.hook
        delete = lambda: hook.delete_job(key.name, key.cluster, missing_ok=True)  # noqa: E731
        ending.drive(ending.end_tia_job(action), {"delete": delete})

    def log_reader(
        self, key: TIAJobKey, job: Any = None, state: dict[str, Any] | None = None
    ) -> TIALogReader:
        return self.hook.log_reader(key.name, key.cluster, state)

    def perform(self, action: Action, spec: JobSpec, existing: Job | None, if_exists: IfExists) -> Job:
        """Carry out ``lifecycle.decide``'s action; returns the job to watch."""
        key = TIAJobKey(spec.name, spec.cluster)
        if action is Action.FAIL:
            raise JobAlreadyExists(
                f"{key.label} already exists (if_exists='fail')", code="FailedOperation.AlreadyExists"
            )
        if existing is not None and action is Action.ATTACH:
            self.log.info("Attaching to existing %s (%s)", key.label, existing.state_name)
            self.remember(existing, TIAJobKey(spec.name, spec.cluster, existing.raw.get("Id")))
            return existing
        if existing is not None:
            why = (
                "failed in an earlier try"
                if action is Action.RECREATE
                else "is replaced (if_exists='replace')"
            )
            self.log.info("%s %s: deleting it and creating it again", key.label, why)
            self.delete_and_wait(key)
        job = self.create_watched(key, lambda: self._create(spec, if_exists))
        self.remember(job, TIAJobKey(spec.name, spec.cluster, job.raw.get("Id")))
        return job

    def _create(self, spec: JobSpec, if_exists: IfExists) -> Job:
        """CreateJob. A job another run created under the name meanwhile is attached to only when the
        task says so (``attach``, or ``suffix``: the name is this task instance's); otherwise the refusal
        goes up and the operator decides again (``new``: this run's job gets its suffixed name)."""
        try:
            return self.hook.create_job(spec)
        except JobAlreadyExists:
            if if_exists not in (IfExists.ATTACH, IfExists.SUFFIX):
                raise
            key = TIAJobKey(spec.name, spec.cluster)
            self.log.info("%s appeared concurrently: attaching to it", key.label)
            return self.read(key)

    def delete_and_wait(self, key: TIAJobKey, timeout: float = DELETE_WAIT) -> None:
        """Delete the job and wait until it is gone (a name can be reused only then)."""
        self.retrying(lambda: self.end(key, EndAction.DELETE), f"DeleteJob {key.name}")
        gone_by = time.monotonic() + timeout
        while self.read_or_none(key) is not None:
            if time.monotonic() >= gone_by:
                raise TencentCloudError(f"{key.label} was deleted but still exists after {timeout:.0f}s")
            time.sleep(min(self.interval, 2.0))
