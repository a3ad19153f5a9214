"""Operators that create and delete TI-A training jobs: thin adapters over ``lifecycle``.

Nothing heavy is imported here at module level: the SDK loads only when a task runs.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from airflow_provider_tia import lifecycle, staging
from airflow_provider_tia.job import SPEC_FIELDS, job_label
from airflow_provider_tia.lifecycle import Deadline, IfExists, JobEvent, Reason
from airflow_provider_tia.operators._compat import ResumableJobMixin
from airflow_provider_tia.operators._spec import build_spec, run_suffix, suffixed
from airflow_provider_tia.operators._tia_jobs import TIAJobs
from airflow_provider_tia.operators.base import TIABaseOperator

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_tia.job import Job, JobSpec
    from airflow_provider_tia.logs import LogFollower

SPEC_ATTRS = tuple(
    field.attr for field in SPEC_FIELDS
)  # one keyword (and template field) per CreateJob parameter
ON_TIMEOUT = ("delete", "leave")
TAIL_LINES = 20
FINAL_LOG_ATTEMPTS = 3  # reads of the last log lines once the job has ended (each with the hook's retries)
GONE = "Gone"  # get_job_status of a recorded job that no longer exists (or is another job of that name)


def _seconds(value: float | timedelta | None, parameter: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError(f"{parameter} must be positive, got {value!r}")
    return seconds


def _choice(parameter: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{parameter} must be one of {allowed}, got {value!r}")
    return value


class CreateJobOperator(ResumableJobMixin, TIABaseOperator):
    """Create a TI-A training job, wait for it with its logs in the task log, return the final job.

    Example::

        CreateJobOperator(
            task_id="train", name="train-{{ run_id | lower | replace(':', '-') | replace('+', '-') }}",
            cluster="ap-beijing", runtime_version="tia-1.7.0", package_dir=["/data/code"],
            command=["python"], args=["train.py"], scale_tier="Custom", master_type="1U1G0P",
            worker_type="1U1G0P", worker_count="{{ params.workers }}", if_exists="suffix",
        )

    One keyword per CreateJob parameter (snake_case, all templated; listed below). Counts and ``debug``
    rendered as text (``"3"``, ``"true"``) are converted; anything else fails before any API call with
    ``JobSpecError``. A retry after a crash reconnects to the job this task created (Airflow 3.3's
    ``ResumableJobMixin``; by name on older versions).

    :param tia_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    :param wait_for_completion: Wait for Succeeded/Failed; False returns right after CreateJob.
    :param poll_interval: Seconds between two reads of the job (and of its logs).
    :param max_wait: The task's time budget (seconds or timedelta) from its start, transient API
        errors included; None waits forever.
    :param on_timeout: At ``max_wait``: ``"delete"`` the job (default) or ``"leave"`` it; then
        ``JobWaitTimeout`` is raised.
    :param deferrable: Wait in the triggerer (``JobTrigger``, logs still stream live) instead of a worker slot.
    :param print_logs: Copy the job's log lines (``[pod] line``) into the task log, each once.
    :param if_exists: A job with this name exists: ``"attach"`` to it (default), ``"fail"``, ``"replace"``
        it, or ``"suffix"`` the name with a hash of (dag_id, task_id, run_id, map_index), then attach.
        On attach, a Failed job fails the task on the first try and is recreated on a retry.
    :param delete_on_kill: Delete (TI-A's only way to stop) the job when the task is killed.
    :param code_dir: Local directory of training code (templated), packed and uploaded to COS
        (``airflow-provider-tia[cos]``) and mounted as the first PackageDir entry; unchanged code is not
        uploaded again. Refused before any call when missing, empty, over ``code_max_bytes`` or with a
        symlink leaving it.
    :param code_bucket: COS bucket (``<name>-<appid>``) for ``code_dir`` (templated).
    :param code_prefix: Key prefix in the bucket (templated); keys are ``<prefix>/<digest>/code.tar.gz``.
    :param code_mount_path: Where the job sees the code.
    :param code_max_bytes: Largest ``code_dir`` accepted (bytes).
    """

    template_fields = (*SPEC_ATTRS, "region", "code_dir", "code_bucket", "code_prefix")
    template_fields_renderers = {"runtime_conf": "json", "args": "json", "command": "json"}
    ui_color = "#e8f4ff"
    external_id_key = "tia_created_job"  # task_state_store key: the job this task instance created

    def __init__(
        self,
        *,
        name: str,
        cluster: str,
        runtime_version: str,
        package_dir: list[str] | None = None,
        command: list[str] | None = None,
        args: list[str] | None = None,
        scale_tier: str | None = None,
        master_type: str | None = None,
        worker_type: str | None = None,
        parameter_server_type: str | None = None,
        worker_count: int | str | None = None,
        parameter_server_count: int | str | None = None,
        debug: bool | str | None = None,
        runtime_conf: list[str] | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30,
        max_wait: float | timedelta | None = None,
        on_timeout: str = "delete",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        print_logs: bool = True,
        if_exists: str = "attach",
        delete_on_kill: bool = True,
        code_dir: str | None = None,
        code_bucket: str | None = None,
        code_prefix: str = staging.DEFAULT_PREFIX,
        code_mount_path: str = staging.DEFAULT_MOUNT_PATH,
        code_max_bytes: int = staging.DEFAULT_MAX_BYTES,
        **kwargs: Any,
    ) -> None:
        spec_values = {attr: value for attr, value in locals().items() if attr in SPEC_ATTRS}
        super().__init__(**kwargs)
        for attr, value in spec_values.items():
            setattr(self, attr, value)
        self.if_exists = IfExists(_choice("if_exists", if_exists, tuple(e.value for e in IfExists)))
        self.on_timeout = _choice("on_timeout", on_timeout, ON_TIMEOUT)
        self.poll_interval = float(_seconds(poll_interval, "poll_interval") or 0)
        self.max_wait = _seconds(max_wait, "max_wait")
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.print_logs = print_logs
        self.delete_on_kill = delete_on_kill
        self.code_dir = code_dir
        self.code_bucket = code_bucket
        self.code_prefix = code_prefix
        self.code_mount_path = code_mount_path
        self.code_max_bytes = code_max_bytes
        self._deadline = Deadline()
        self._result: dict[str, Any] | None = None
        self.final_job: dict[str, Any] | None = None  # the job as it ended (or failed), for lineage

    # ------------------------------------------------------------------------------------ execute
    @cached_property
    def jobs(self) -> TIAJobs:
        """This execution's job calls (under its deadline) and the job it is about."""
        return TIAJobs(self.hook, self._deadline, self.poll_interval, self.log, self.delete_on_kill)

    def execute(self, context: Context) -> Any:
        self._deadline = Deadline.after(self.max_wait)
        return self.execute_resumable(context)

    def build_spec(self, context: Context) -> JobSpec:
        """The JobSpec from the rendered fields (name suffixed when ``if_exists="suffix"``)."""
        spec = build_spec({attr: getattr(self, attr) for attr in SPEC_ATTRS})
        if self.if_exists is IfExists.SUFFIX:
            ti = context["ti"]
            suffix = run_suffix(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
            spec = spec.with_name(suffixed(spec.name, suffix))
        return spec

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Validate, stage code, then create or reuse the job as ``lifecycle.decide`` says."""
        spec = self.build_spec(context)  # raises JobSpecError before any API call
        if self.code_dir:
            from airflow_provider_tia.hooks.cos import COSHook

            options = {
                "prefix": self.code_prefix,
                "max_bytes": self.code_max_bytes,
                "mount_path": self.code_mount_path,
            }
            cos = COSHook(self.tia_conn_id, region=self.region)
            spec = staging.mount_code_dir(
                cos, spec, self.code_dir, self.code_bucket, task_log=self.log, **options
            )
        existing = self.jobs.read_or_none(spec.name, spec.cluster)
        action = lifecycle.decide(
            existing,
            if_exists=self.if_exists,
            owned=self._owned(existing, context),
            try_number=context["ti"].try_number,
        )
        job = self.jobs.perform(action, spec, existing, self.if_exists)
        self.push_link(context, job.name, spec.cluster)
        return {"name": job.name, "cluster": spec.cluster, "id": job.raw.get("Id")}

    def _owned(self, existing: Job | None, context: Context) -> bool:
        """Whether an earlier try of this task instance created ``existing`` (the state store's record)."""
        record = lifecycle.recorded_job(context.get("task_state_store"), self.external_id_key)
        return (
            existing is not None
            and bool(existing.raw.get("Id"))
            and record.get("id") == existing.raw.get("Id")
        )

    # ------------------------------------------------------------------ ResumableJobMixin protocol
    def get_job_status(self, external_id: Any, context: Context) -> str:
        """State of the job an earlier try recorded; ``GONE`` if it no longer exists or was replaced."""
        job = self.jobs.read_or_none(external_id["name"], external_id["cluster"])
        if job is None or (external_id.get("id") and job.raw.get("Id") != external_id.get("id")):
            return GONE
        self.jobs.remember(job, external_id["cluster"])
        return job.state_name

    def is_job_active(self, status: str) -> bool:
        return status not in (GONE, "Succeeded", "Failed")

    def is_job_succeeded(self, status: str) -> bool:
        return status == "Succeeded"

    # The mixin returns this method's value when it reconnects to a running job: it is the result.
    def poll_until_complete(self, external_id: Any, context: Context) -> dict[str, Any] | None:  # type: ignore[override]
        """Wait for the job (here, or deferred to the triggerer) and keep the result for ``get_job_result``."""
        name, cluster = external_id["name"], external_id["cluster"]
        self.push_link(context, name, cluster)
        last = self.jobs.last
        job = last if last is not None and last.name == name else self.jobs.read(name, cluster)
        self.jobs.remember(job, cluster)
        if not self.wait_for_completion:
            self._result = self.final_job = job.to_dict()
            return self._result
        follower = self.jobs.follower(name, cluster, job.create_time) if self.print_logs else None
        if job.is_terminal:
            return self._end(lifecycle.finished(job, job.label), follower)
        if self.deferrable:
            self.jobs.poll_logs(follower)
            self._defer(job, cluster, follower)
        event = lifecycle.wait(
            lambda: self.hook.describe_job(name, cluster),
            job_label(name, cluster),
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
        if event.reason in (Reason.FINISHED, Reason.TIMEOUT):
            self.jobs.poll_logs(
                follower, attempts=FINAL_LOG_ATTEMPTS if event.reason is Reason.FINISHED else 1
            )
        if event.reason is Reason.TIMEOUT:
            event = event.with_message(self._apply_on_timeout(event.message))
        tail = follower.cursor.last_lines(TAIL_LINES) if follower else []
        self.final_job = event.job
        self._result = lifecycle.finish(event, tail)
        self.log.info(
            "%s ended %s", job_label(self._result["Name"], self._result.get("Cluster")), self._result["State"]
        )
        return self._result

    def _apply_on_timeout(self, message: str) -> str:
        if self.on_timeout == "leave" or self.jobs.target is None:
            return message + "; the job was left running (on_timeout='leave')"
        name, cluster = self.jobs.target
        self.hook.delete_job(name, cluster, missing_ok=True)
        return message + "; the job was deleted (on_timeout='delete')"

    # ---------------------------------------------------------------------------------- deferral
    def _defer(self, job: Job, cluster: str, follower: LogFollower | None) -> None:
        from airflow_provider_tia.triggers.tia import JobTrigger

        resume = {"name": job.name, "cluster": cluster, "logs": follower.state() if follower else None}
        self.defer(
            trigger=JobTrigger(
                job_name=job.name,
                cluster=cluster,
                tia_conn_id=self.tia_conn_id,
                region=self.region,
                poll_interval=self.poll_interval,
                deadline=self._deadline.at,
                budget=self.max_wait,
                delete_on_kill=self.delete_on_kill,
                resume=resume,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after ``JobTrigger``: the remaining log lines, then end like the polling path.

        Everything needed travels in the event (the trigger echoes ``resume``), so no XCom is read.
        """
        received = JobEvent.from_payload(event)
        self.jobs.target = (received.resume["name"], received.resume["cluster"])
        logs = received.resume.get("logs")
        follower = (
            self.jobs.follower(*self.jobs.target, state=logs)
            if self.print_logs and logs is not None
            else None
        )
        return self._end(received, follower)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """Lineage (apache-airflow-providers-openlineage): PackageDir entries as inputs, the job as the run.

        Reads the job this execution ended with (``final_job``), not XCom: the listener may run in a
        forked process, and a failed job (no XCom) still reports its inputs and state."""
        from airflow_provider_tia.lineage import tia_job_lineage

        return tia_job_lineage(self.final_job)

    def on_kill(self) -> None:
        """TI-A has no stop: delete the job this execution created, is creating, or watches."""
        if self.delete_on_kill:
            self.jobs.kill()


_FIELD_DOCS = "\n".join(f"    :param {f.attr}: ``{f.api}``. {f.doc}" for f in SPEC_FIELDS)
CreateJobOperator.__doc__ = (
    f"{CreateJobOperator.__doc__}\n    CreateJob parameters (templated):\n\n{_FIELD_DOCS}\n"
)


class DeleteJobOperator(TIABaseOperator):
    """Delete a TI-A job (this also stops it if it runs).

    Example::

        DeleteJobOperator(task_id="cleanup", job_name="train-{{ run_id | lower }}", cluster="ap-beijing")

    :param job_name: Job name (templated).
    :param cluster: Cluster of the job (templated).
    :param missing_ok: Succeed when the job does not exist (default True).
    """

    template_fields = ("job_name", "cluster", "region")

    def __init__(self, *, job_name: str, cluster: str, missing_ok: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.cluster = cluster
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> bool:
        deleted = self.hook.delete_job(self.job_name, self.cluster, missing_ok=self.missing_ok)
        if not deleted:
            self.log.info("%s did not exist", job_label(self.job_name, self.cluster))
        return deleted
