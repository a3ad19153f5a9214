"""``JobControl``: one task execution's calls about its job, whatever the platform, under the lifecycle's rules.

A job is addressed by its *key*, the platform's frozen ``JobKey`` (TI-A: name and cluster; TI-ONE:
the task Id, or its tag until the Id is known); its JSON form is what crosses a deferral or the task
state store. Reads ride out transient errors until the task's deadline (``lifecycle.retry_transient``); log
reads are best effort (the job's state, not its logs, decides the task). A platform subclass says
how to read, create and end (``ending.EndAction``) one job.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from airflow_provider_tia import lifecycle
from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.compat import AirflowException
from airflow_provider_tia.exceptions import JobNotFound, TencentCloudError
from airflow_provider_tia.models.common import JobKey

if TYPE_CHECKING:
    from collections.abc import Callable

    from pendulum import DateTime

    from airflow_provider_tia.lifecycle import JobLike
    from airflow_provider_tia.logs import LogFollower, LogReader

T = TypeVar("T")
Key = TypeVar("Key", bound=JobKey)


class TaskLog(Protocol):
    def info(self, event: Any, *args: Any, **kw: Any) -> Any: ...
    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...


class JobControl(Generic[Key]):
    """Job calls of one execution, and the job it is about (``target``: what a kill ends).

    :param hook: The platform's hook, whose calls these are.
    :param kill_action: What a kill of the task does to the target job (``EndAction``).
    """

    key_type: type[Key]
    final_states: tuple[str, ...] = ()
    success_state = ""
    state_field = ""  # the state's name in the job's dict

    def __init__(
        self,
        hook: Any,
        deadline: lifecycle.Deadline,
        interval: float,
        log: TaskLog,
        kill_action: EndAction,
    ) -> None:
        self.hook = hook  # the platform's hook (a subclass names its type)
        self.deadline, self.interval, self.log = deadline, interval, log
        self.kill_action = kill_action
        self.target: Key | None = None  # the job created, being created, or watched
        self.last: JobLike | None = None  # the last read of it
        self.killed = False

    # ------------------------------------------------------------------- what a platform provides
    def key_of(self, job: Any) -> Key:
        raise NotImplementedError

    def matches(self, key: Key, job: Any) -> bool:
        """Whether ``job`` is the job of ``key`` (not another one created later under its name)."""
        raise NotImplementedError

    def describe(self, key: Key) -> JobLike:
        """One read of the job (the hook's retries included); raises ``TencentCloudError``."""
        raise NotImplementedError

    @staticmethod
    def read_found(key: Key, job_id: str | None, read: Callable[[str], T]) -> T:
        """``read(job_id)``: ``describe`` of a key whose id was known or looked up; ``JobNotFound``
        naming the key when neither gave one."""
        if job_id is None:
            raise JobNotFound(f"{key.label} does not exist", code="ResourceNotFound")
        return read(job_id)

    def end(self, key: Key, action: EndAction, *, fresh_hook: bool = False) -> None:
        """End the job as ``action`` says; a missing job is fine. ``fresh_hook``: a hook of its own
        (a kill may interrupt a call)."""
        raise NotImplementedError

    def log_reader(self, key: Key, job: Any = None, state: dict[str, Any] | None = None) -> LogReader:
        raise NotImplementedError

    def log_since(self, job: Any) -> DateTime | None:
        """Where the job's logs start (its creation)."""
        return getattr(job, "create_time", None)

    # ------------------------------------------------------------------------------- shared calls
    def key_from(self, data: Any) -> Key:
        """The key of its JSON form (a resume payload, the task state store's external id)."""
        return data if isinstance(data, self.key_type) else self.key_type.from_json(data)

    def remember(self, job: Any, key: Key | None = None) -> None:
        """``job`` is the one this execution is about; ``key`` (what addressed it) wins over what its
        read says (a TI-A reply may leave out its cluster)."""
        read = self.key_of(job)
        self.last, self.target = job, key.completed_by(read) if key is not None else read

    def retrying(self, call: Callable[[], T], what: str) -> T:
        """``call()``, again after transient errors until the task's deadline: a passing fault never
        fails the task while its budget lasts."""
        return lifecycle.retry_transient(call, self.deadline, self.interval, what)

    def read(self, key: Key) -> Any:
        """The job, read again after transient errors until the task's deadline."""
        return self.retrying(lambda: self.describe(key), f"Reading {key.label}")

    def read_or_none(self, key: Key) -> Any:
        try:
            return self.read(key)
        except JobNotFound:
            return None

    def is_gone(self, key: Key, job: Any) -> bool:
        """True when ``job`` is not the recorded one: missing, or another job under the same name."""
        return job is None or not self.matches(key, job)

    def is_final_state(self, state: str) -> bool:
        return state in self.final_states

    def is_success_state(self, state: str) -> bool:
        return state == self.success_state

    def state_of(self, job: dict[str, Any]) -> Any:
        return job.get(self.state_field)

    def create_watched(self, key: Key, create: Callable[[], Any]) -> Any:
        """``create()`` with ``key`` as the target before the call: a kill ends the job even mid-call."""
        self.target = key
        job = create()
        if (
            self.killed and self.kill_action is not EndAction.LEAVE
        ):  # killed while the create call was in flight
            self.kill()
            raise AirflowException(
                f"The task was killed while creating {key.label}; the job was {self.kill_action.past}"
            )
        return job

    def kill(self) -> None:
        """The task is killed: end the target job, also if its create call is in flight."""
        self.killed = True
        if self.target is None:
            return
        self.log.info("Task killed: %s %s", self.kill_action.doing, self.target.label)
        # A hook of its own: a kill may come (in a signal handler) in the middle of this hook's call.
        self.end(self.target, self.kill_action, fresh_hook=True)

    def follower(self, key: Key, job: Any = None, state: dict[str, Any] | None = None) -> LogFollower:
        """A follower of the job's logs into the task log: new (from the job's start), or from ``state``."""
        from airflow_provider_tia.logs import LogCursor, LogFollower

        if state is None:
            return LogFollower(self.log_reader(key, job), LogCursor(self.log_since(job)), self.log.info)
        reader = self.log_reader(key, state=state.get("reader"))
        return LogFollower(reader, LogCursor.from_state(state), self.log.info)

    def poll_logs(self, follower: LogFollower | None, attempts: int = 1) -> None:
        """Print new log lines; a failed read is a warning, tried again up to ``attempts`` times."""
        for attempt in range(1, attempts + 1 if follower else 1):
            try:
                follower.poll()  # type: ignore[union-attr]
                return
            except TencentCloudError as error:
                again = "; trying again" if attempt < attempts else ""
                self.log.warning("Could not read the job's logs (%s)%s", error, again)
                if again:
                    time.sleep(min(2.0 * attempt, self.interval))
