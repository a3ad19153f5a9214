"""The TI-A calls of one task execution under the lifecycle's rules, so the operator only decides.

Reads and deletes ride out transient errors until the task's deadline (``lifecycle.retry_transient``);
log reads are best effort (the job's state, not its logs, decides the task).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from airflow.sdk.exceptions import AirflowException

from airflow_provider_tia import lifecycle
from airflow_provider_tia.exceptions import JobAlreadyExists, JobNotFound, TIAError
from airflow_provider_tia.job import job_label
from airflow_provider_tia.lifecycle import Action, IfExists
from airflow_provider_tia.logs import LogCursor, LogFollower

if TYPE_CHECKING:
    from pendulum import DateTime

    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.job import Job, JobSpec

DELETE_WAIT = 300.0  # seconds a deleted job may take to disappear before replace/recreate gives up


class TaskLog(Protocol):
    def info(self, event: Any, *args: Any, **kw: Any) -> Any: ...
    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...


class TIAJobs:
    """Job calls of one execution, and the job it is about (``target``: what a kill deletes).

    Example::

        jobs = TIAJobs(hook, lifecycle.Deadline.after(3600), 30, log)
        job = jobs.perform(lifecycle.Action.CREATE, spec, None, lifecycle.IfExists.ATTACH)
    """

    def __init__(
        self,
        hook: TIAHook,
        deadline: lifecycle.Deadline,
        interval: float,
        log: TaskLog,
        delete_on_kill: bool = True,
    ) -> None:
        self.hook, self.deadline, self.interval, self.log = hook, deadline, interval, log
        self.delete_on_kill = delete_on_kill
        self.target: tuple[str, str] | None = None  # the job created, being created, or watched
        self.last: Job | None = None  # the last read of it
        self.killed = False

    def remember(self, job: Job, cluster: str) -> None:
        self.last, self.target = job, (job.name, cluster)

    def perform(self, action: Action, spec: JobSpec, existing: Job | None, if_exists: IfExists) -> Job:
        """Carry out ``lifecycle.decide``'s action; returns the job to watch."""
        label = job_label(spec.name, spec.cluster)
        if action is Action.FAIL:
            raise JobAlreadyExists(
                f"{label} already exists (if_exists='fail')", code="FailedOperation.AlreadyExists"
            )
        if existing is not None and action is Action.ATTACH:
            self.log.info("Attaching to existing %s (%s)", label, existing.state_name)
            self.remember(existing, spec.cluster)
            return existing
        if existing is not None:
            why = (
                "failed in an earlier try"
                if action is Action.RECREATE
                else "is replaced (if_exists='replace')"
            )
            self.log.info("%s %s: deleting it and creating it again", label, why)
            self.delete_and_wait(spec.name, spec.cluster)
        job = self._create(spec, if_exists)
        self.remember(job, spec.cluster)
        return job

    def _create(self, spec: JobSpec, if_exists: IfExists) -> Job:
        self.target = (spec.name, spec.cluster)  # known before the call: a kill deletes it even mid-call
        try:
            job = self.hook.create_job(spec)
        except JobAlreadyExists:
            if if_exists is IfExists.FAIL:
                raise
            self.log.info("%s appeared concurrently: attaching to it", job_label(spec.name, spec.cluster))
            job = self.read(spec.name, spec.cluster)
        if self.killed and self.delete_on_kill:  # killed while CreateJob was in flight
            self.kill()
            raise AirflowException(f"The task was killed while creating {job.label}; the job was deleted")
        return job

    def kill(self) -> None:
        """The task is killed: delete the target job (TI-A has no stop), also if CreateJob is in flight."""
        self.killed = True
        if self.target is None:
            return
        name, cluster = self.target
        self.log.info("Task killed: deleting %s", job_label(name, cluster))
        # A hook of its own: a kill may come (in a signal handler) in the middle of this hook's call.
        self.hook.copy().delete_job(name, cluster, missing_ok=True)

    def read(self, name: str, cluster: str) -> Job:
        """DescribeJob, again after transient errors until the task's deadline."""
        return lifecycle.retry_transient(
            lambda: self.hook.describe_job(name, cluster), self.deadline, self.interval, f"DescribeJob {name}"
        )

    def read_or_none(self, name: str, cluster: str) -> Job | None:
        try:
            return self.read(name, cluster)
        except JobNotFound:
            return None

    def delete_and_wait(self, name: str, cluster: str, timeout: float = DELETE_WAIT) -> None:
        """Delete the job and wait until it is gone (a name can be reused only then)."""
        lifecycle.retry_transient(
            lambda: self.hook.delete_job(name, cluster, missing_ok=True),
            self.deadline,
            self.interval,
            f"DeleteJob {name}",
        )
        gone_by = time.monotonic() + timeout
        while self.read_or_none(name, cluster) is not None:
            if time.monotonic() >= gone_by:
                raise TIAError(
                    f"{job_label(name, cluster)} was deleted but still exists after {timeout:.0f}s"
                )
            time.sleep(min(self.interval, 2.0))

    def follower(
        self, name: str, cluster: str, since: DateTime | None = None, state: dict[str, Any] | None = None
    ) -> LogFollower:
        """A follower of the job's logs into the task log: new (from ``since``), or resumed from ``state``."""
        if state is None:
            return LogFollower(self.hook.log_reader(name, cluster), LogCursor(since), self.log.info)
        reader = self.hook.log_reader(name, cluster, state.get("reader"))
        return LogFollower(reader, LogCursor.from_state(state), self.log.info)

    def poll_logs(self, follower: LogFollower | None, attempts: int = 1) -> None:
        """Print new log lines; a failed read is a warning, tried again up to ``attempts`` times."""
        for attempt in range(1, attempts + 1 if follower else 1):
            try:
                follower.poll()  # type: ignore[union-attr]
                return
            except TIAError as error:
                again = "; trying again" if attempt < attempts else ""
                self.log.warning("Could not read the job's logs (%s)%s", error, again)
                if again:
                    time.sleep(min(2.0 * attempt, self.interval))
