"""What every "create a training job and wait for it" operator does, whatever the platform.

Submit (the platform operator's ``submit_job``), then wait here or in the triggerer with the job's
logs in the task log, and end with the job's dict or a typed error. Airflow 3.3's
``ResumableJobMixin`` reconnects a retry to the job an earlier try created (below 3.3 a stand-in
submits on every try, and ``submit_job`` finds the job by name or tag: ``lifecycle.decide``). A
platform operator gives its ``jobs`` (``JobControl``), its trigger, its link and its lineage. Run
suffixes (``run_suffix``) make a name unique to one task instance.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.compat import ResumableJobMixin, conf
from airflow_provider_tia.task_base import TencentCloudBaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_tia.lifecycle import Deadline, JobEvent
    from airflow_provider_tia.logs import LogFollower
    from airflow_provider_tia.models.common import JobKey
    from airflow_provider_tia.operators.control import JobControl

TAIL_LINES = 20
FINAL_LOG_ATTEMPTS = 3  # reads of the last log lines once the job has ended (each with the hook's retries)
GONE = "Gone"  # get_job_status of a recorded job that no longer exists (or is another job of that name)
SUFFIX_LENGTH = 8


def run_suffix(
    dag_id: str, task_id: str, run_id: str, map_index: int | None, length: int = SUFFIX_LENGTH
) -> str:
    """A short hash, the same for every try of one task instance, different across runs."""
    key = "\0".join((dag_id, task_id, run_id, str(-1 if map_index is None else map_index)))
    return hashlib.sha256(key.encode()).hexdigest()[:length]


def task_instance_hash(ti: Any, length: int = SUFFIX_LENGTH) -> str:
    """``run_suffix`` of a running task instance (its dag, task, run and map index)."""
    return run_suffix(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1), length)


def suffixed(name: str, suffix: str, max_length: int) -> str:
    """``name-suffix``, trimming ``name`` so the result stays within the platform's ``max_length``."""
    head = name[: max_length - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


def seconds(value: float | timedelta | None, parameter: str) -> float | None:
    if value is None:
        return None
    total = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if total <= 0:
        raise ValueError(f"{parameter} must be positive, got {value!r}")
    return total


def choice(parameter: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{parameter} must be one of {allowed}, got {value!r}")
    return value


def end_action(parameter: str, value: str | EndAction, allowed: tuple[EndAction, ...]) -> EndAction:
    """``on_kill_action`` / ``on_timeout`` as an ``EndAction`` this platform can do."""
    return EndAction(choice(parameter, str(getattr(value, "value", value)), tuple(a.value for a in allowed)))


def with_param_docs(doc: str | None, action: str, fields: Sequence[Any]) -> str:
    """A platform operator's docstring + the shared parameters + one line per request field."""
    shared = (CreateAndWaitOperator.__doc__ or "").split("\n\n", 1)[1].rstrip()
    request = "\n".join(f"    :param {f.attr}: ``{f.api}``. {f.doc}" for f in fields)
    return f"{(doc or '').rstrip()}\n{shared}\n\n    {action} parameters (templated):\n\n{request}\n"


class CreateAndWaitOperator(ResumableJobMixin, TencentCloudBaseOperator):
    """Base of the operators that create a training job and wait for it (see the subclasses).

    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    :param wait_for_completion: Wait for the job to end; False returns right after creating it.
    :param poll_interval: Seconds between two reads of the job (and of its logs).
    :param max_wait: The task's time budget (seconds or timedelta) from its start, transient API
        errors included; None waits forever.
    :param on_kill_action: What killing the Airflow task (a user marking it failed, a timeout of
        Airflow's) does to the job: an ``ending.EndAction`` of ``END_ACTIONS``, the first by default.
    :param on_timeout: What happens to the job at ``max_wait`` (an ``EndAction`` of ``END_ACTIONS``,
        the first by default); then ``JobWaitTimeout`` is raised.
    :param deferrable: Wait in the triggerer (logs still stream live) instead of a worker slot.
    :param print_logs: Copy the job's log lines (``[pod] line``) into the task log, each once.
    """

    END_ACTIONS: tuple[EndAction, ...] = ()  # how this platform can end a job, the default first

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        poll_interval: float = 30,
        max_wait: float | timedelta | None = None,
        on_kill_action: str | EndAction | None = None,
        on_timeout: str | EndAction | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        print_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        default = self.END_ACTIONS[0]
        self.on_kill_action = end_action("on_kill_action", on_kill_action or default, self.END_ACTIONS)
        self.on_timeout = end_action("on_timeout", on_timeout or default, self.END_ACTIONS)
        self.poll_interval = float(seconds(poll_interval, "poll_interval") or 0)
        self.max_wait = seconds(max_wait, "max_wait")
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.print_logs = print_logs
        self._result: dict[str, Any] | None = None
        self.final_job: dict[str, Any] | None = None  # the job as it ended (or failed), for lineage

    @cached_property
    def _deadline(self) -> Deadline:
        """No limit until ``execute`` sets ``max_wait``'s (a task resumed from the triggerer has the trigger's).

        Made on first use, like everything that acts on a job: an operator is built on every parse of
        its DAG file, so its ``__init__`` imports none of the engines."""
        from airflow_provider_tia.lifecycle import Deadline

        return Deadline()

    # ----------------------------------------------------------------- what a platform provides
    @cached_property
    def jobs(self) -> JobControl:
        """This execution's job calls (under its deadline) and the job it is about."""
        raise NotImplementedError

    def make_trigger(self, key: Any, resume: dict[str, Any]) -> BaseTrigger:
        raise NotImplementedError

    def push_job_link(self, context: Context, key: Any) -> None:
        raise NotImplementedError

    def lineage(self, job: dict[str, Any] | None) -> OperatorLineage | None:
        return None

    def trigger_kwargs(self, resume: dict[str, Any]) -> dict[str, Any]:
        """What every platform's trigger takes from this task: connection, region, interval, budget,
        kill action, resume."""
        return {
            "tencentcloud_conn_id": self.tencentcloud_conn_id,
            "kill_action": self.on_kill_action.value,
            "region": self.region,
            "poll_interval": self.poll_interval,
            "deadline": self._deadline.at,
            "budget": self.max_wait,
            "resume": resume,
        }

    # ------------------------------------------------------------------------------------ execute
    def execute(self, context: Context) -> Any:
        from airflow_provider_tia.lifecycle import Deadline

        self._deadline = Deadline.after(self.max_wait)
        return self.execute_resumable(context)

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """State of the job an earlier try recorded; ``GONE`` if it no longer exists or was replaced."""
        key = self.jobs.key_from(external_id)
        job = self.jobs.read_or_none(key)
        if self.jobs.is_gone(key, job):
            return GONE
        self.jobs.remember(job, key)
        return job.state_name

    def is_job_active(self, status: str) -> bool:
        return status != GONE and not self.jobs.is_final_state(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.jobs.is_success_state(status)

    # The mixin returns this method's value when it reconnects to a running job: it is the result.
    def poll_until_complete(self, external_id: Any, context: Context) -> dict[str, Any] | None:  # type: ignore[override]
        """Wait for the job (here, or deferred to the triggerer) and keep the result for ``get_job_result``."""
        from airflow_provider_tia import lifecycle

        key: JobKey = self.jobs.key_from(external_id)
        self.push_job_link(context, key)
        last = self.jobs.last
        job = last if last is not None and not self.jobs.is_gone(key, last) else self.jobs.read(key)
        self.jobs.remember(job, key)
        if not self.wait_for_completion:
            self._result = self.final_job = job.to_dict()
            return self._result
        follower = self.jobs.follower(key, job) if self.print_logs else None
        label = key.label
        if job.is_terminal:
            return self._end(lifecycle.finished(job, label), follower)
        if self.deferrable:
            from airflow_provider_tia.logs import CHECKPOINT_KEY

            self.jobs.poll_logs(follower)
            target = self.jobs.target or key
            resume = {"logs": follower.state() if follower else None}  # the trigger takes the key
            if follower is not None:  # the trigger's checkpoint exists from the start
                context["ti"].xcom_push(key=CHECKPOINT_KEY, value=resume["logs"])
            self.defer(trigger=self.make_trigger(target, resume), method_name="execute_complete")
        event = lifecycle.wait(
            lambda: self.jobs.describe(key),
            label,
            deadline=self._deadline,
            interval=self.poll_interval,
            budget=self.max_wait,
            on_poll=lambda _job: self.jobs.poll_logs(follower),
        )
        return self._end(event, follower)

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        if self._result is None:  # the job had succeeded before this try: report it (and its logs) now
            self.poll_until_complete(external_id, context)
        return self._result

    def _end(self, event: JobEvent, follower: LogFollower | None) -> dict[str, Any]:
        """Print the last lines, apply ``on_timeout``, then return the job dict or raise the typed error."""
        from airflow_provider_tia import lifecycle
        from airflow_provider_tia.lifecycle import Reason

        if event.reason in (Reason.FINISHED, Reason.TIMEOUT):
            self.jobs.poll_logs(
                follower, attempts=FINAL_LOG_ATTEMPTS if event.reason is Reason.FINISHED else 1
            )
        if event.reason is Reason.TIMEOUT:
            event = event.with_message(self._apply_on_timeout(event.message))
        tail = follower.cursor.last_lines(TAIL_LINES) if follower else []
        self.final_job = event.job
        self._result = lifecycle.finish(event, tail)
        if self.jobs.target is not None:
            self.log.info("%s ended %s", self.jobs.target.label, self.jobs.state_of(self._result))
        return self._result

    def _apply_on_timeout(self, message: str) -> str:
        action = self.on_timeout
        if action is EndAction.LEAVE or self.jobs.target is None:
            return message + "; the job was left running (on_timeout='leave')"
        self.jobs.end(self.jobs.target, action)
        return message + f"; the job was {action.past} (on_timeout={action.value!r})"

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: the remaining log lines, then end like the polling path.

        Everything needed travels in the event (the trigger echoes ``resume``), so no XCom is read.
        """
        from airflow_provider_tia.lifecycle import JobEvent

        received = JobEvent.from_payload(event)
        self.jobs.target = key = self.jobs.key_from(received.resume["key"])
        self.push_job_link(context, key)  # this worker's operator is new: the link is published again
        logs = received.resume.get("logs")
        if logs is not None:
            from airflow_provider_tia.logs import CHECKPOINT_KEY, newest_state

            # a trigger moved to another triggerer may have printed past the event
            logs = newest_state(logs, context["ti"].xcom_pull(key=CHECKPOINT_KEY))
        follower = self.jobs.follower(key, state=logs) if self.print_logs and logs is not None else None
        return self._end(received, follower)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """Lineage (apache-airflow-providers-openlineage) of the job this execution ended with.

        Reads ``final_job``, not XCom: the listener may run in a forked process, and a failed job
        (no XCom) still reports its inputs and state."""
        return self.lineage(self.final_job)

    def on_kill(self) -> None:
        """End the job this execution created, is creating, or watches (as the task asked)."""
        if self.jobs.kill_action is not EndAction.LEAVE:
            self.jobs.kill()
