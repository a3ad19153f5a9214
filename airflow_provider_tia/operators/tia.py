"""Operators that create and delete TI-A training jobs.

Nothing heavy is imported here at module level: the SDK loads only when a task runs.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf

from airflow_provider_tia.exceptions import (
    JobAlreadyExists,
    JobFailed,
    JobNotFound,
    JobVanished,
    JobWaitTimeout,
    TIAError,
    TransientError,
)
from airflow_provider_tia.job import API_NAMES
from airflow_provider_tia.links.tia import XCOM_KEY, TIAJobLink
from airflow_provider_tia.operators._spec import build_spec, run_suffix, suffixed

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.job import Job, JobSpec
    from airflow_provider_tia.logs import LogFollower

SPEC_FIELDS = tuple(API_NAMES)  # one keyword (and template field) per CreateJob parameter
IF_EXISTS = ("attach", "fail", "replace", "suffix")
ON_TIMEOUT = ("delete", "leave")
STATE_KEY = "tia_created_job"  # task_state_store key: the job this task instance created
RESUME_KEY = "tia_resume"  # XCom copy of defer(kwargs=), for runners that drop them
TAIL_LINES = 20
FINAL_LOG_ATTEMPTS = 3  # reads of the last log lines once the job has ended (each with the SDK's retries)


def _seconds(value: float | timedelta | None, parameter: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError(f"{parameter} must be positive, got {value!r}")
    return seconds


class CreateJobOperator(BaseOperator):
    """Create a TI-A training job, wait for it with its logs in the task log, return the final job.

    Example::

        CreateJobOperator(
            task_id="train", name="train-{{ ds_nodash }}", cluster="ap-beijing", runtime_version="tia-1.7.0",
            package_dir=["/data/code"], command=["python"], args=["train.py"], scale_tier="Custom",
            master_type="1U1G0P", worker_type="1U1G0P", worker_count="{{ params.workers }}",
        )

    One keyword per CreateJob parameter (snake_case, all templated). Counts and ``debug`` rendered as text
    (``"3"``, ``"true"``) are converted; anything else fails before any API call with ``JobSpecError``.

    :param tia_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    :param wait_for_completion: Wait for Succeeded/Failed; False returns right after CreateJob.
    :param poll_interval: Seconds between two reads of the job (and of its logs).
    :param max_wait: Longest wait (seconds or timedelta); None waits forever.
    :param on_timeout: At ``max_wait``: ``"delete"`` the job (default) or ``"leave"`` it; then
        ``JobWaitTimeout`` is raised.
    :param deferrable: Wait in the triggerer (``JobTrigger``) instead of a worker slot.
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

    template_fields = (*SPEC_FIELDS, "region", "code_dir", "code_bucket", "code_prefix")
    template_fields_renderers = {"runtime_conf": "json", "args": "json", "command": "json"}
    operator_extra_links = (TIAJobLink(),)
    ui_color = "#e8f4ff"

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
        tia_conn_id: str = "tencentcloud_default",
        region: str | None = None,
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
        code_prefix: str = "tia-code",
        code_mount_path: str = "/opt/tia/code",
        code_max_bytes: int = 200 * 1024 * 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_exists not in IF_EXISTS:
            raise ValueError(f"if_exists must be one of {IF_EXISTS}, got {if_exists!r}")
        if on_timeout not in ON_TIMEOUT:
            raise ValueError(f"on_timeout must be one of {ON_TIMEOUT}, got {on_timeout!r}")
        if float(poll_interval) <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
        self.name = name
        self.cluster = cluster
        self.runtime_version = runtime_version
        self.package_dir = package_dir
        self.command = command
        self.args = args
        self.scale_tier = scale_tier
        self.master_type = master_type
        self.worker_type = worker_type
        self.parameter_server_type = parameter_server_type
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count
        self.debug = debug
        self.runtime_conf = runtime_conf
        self.tia_conn_id = tia_conn_id
        self.region = region
        self.wait_for_completion = wait_for_completion
        self.poll_interval = float(poll_interval)
        self.max_wait = _seconds(max_wait, "max_wait")
        self.on_timeout = on_timeout
        self.deferrable = deferrable
        self.print_logs = print_logs
        self.if_exists = if_exists
        self.delete_on_kill = delete_on_kill
        self.code_dir = code_dir
        self.code_bucket = code_bucket
        self.code_prefix = code_prefix
        self.code_mount_path = code_mount_path
        self.code_max_bytes = code_max_bytes
        self._watched: tuple[str, str] | None = None  # (name, cluster) of this execution's job

    @cached_property
    def hook(self) -> TIAHook:
        from airflow_provider_tia.hooks.tia import TIAHook

        return TIAHook(self.tia_conn_id, self.region)

    # ------------------------------------------------------------------------------------ execute
    def build_spec(self, context: Context) -> JobSpec:
        """The JobSpec from the rendered fields (name suffixed when ``if_exists="suffix"``)."""
        spec = build_spec({field: getattr(self, field) for field in SPEC_FIELDS})
        if self.if_exists == "suffix":
            ti = context["ti"]
            suffix = run_suffix(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
            spec = spec.with_name(suffixed(spec.name, suffix))
        return spec

    def execute(self, context: Context) -> Any:
        spec = self.build_spec(context)  # raises JobSpecError before any API call
        if self.code_dir:
            spec = self._stage_code(spec)
        job = self._create_or_attach(spec, context)
        self._watched = (job.name, spec.cluster)
        context["ti"].xcom_push(
            key=XCOM_KEY, value={"name": job.name, "cluster": spec.cluster, "region": self._region()}
        )
        if not self.wait_for_completion:
            return job.to_dict()
        follower = self._follower(job)
        if job.is_terminal:
            return self._finish(job, follower)
        if self.deferrable:
            self._poll_logs(follower)
            self._defer(job, spec.cluster, follower, context)
        try:
            job = self.hook.wait_for_job(
                job.name,
                spec.cluster,
                poll_interval=self.poll_interval,
                timeout=self.max_wait,
                on_poll=lambda _job: self._poll_logs(follower),
            )
        except JobWaitTimeout as error:
            self._poll_logs(follower)
            self._timed_out(job.name, spec.cluster, str(error))
        return self._finish(job, follower)

    def _stage_code(self, spec: JobSpec) -> JobSpec:
        """Upload ``code_dir`` to COS (content-addressed: unchanged code is not uploaded again) and mount
        it as the first PackageDir entry, so Command/Args run in it. Local checks come before any call."""
        import dataclasses

        from airflow_provider_tia.exceptions import JobSpecError
        from airflow_provider_tia.hooks.cos import COSHook
        from airflow_provider_tia.staging import stage_code_dir

        if not self.code_bucket:
            raise JobSpecError("code_bucket", "is required with code_dir (a COS bucket such as code-1250000000)")
        staged = stage_code_dir(
            COSHook(self.tia_conn_id, region=self.region),
            self.code_dir,
            self.code_bucket,
            prefix=self.code_prefix,
            max_bytes=self.code_max_bytes,
            mount_path=self.code_mount_path,
        )
        self.log.info(
            "code_dir %s is %s (digest %s, %s)",
            self.code_dir,
            staged.uri,
            staged.digest[:16],
            "uploaded" if staged.uploaded else "already in COS, not uploaded again",
        )
        return dataclasses.replace(spec, package_dir=[staged.package_dir_entry, *(spec.package_dir or [])])

    def _region(self) -> str:
        return self.region or self.hook.settings.region

    def _create_or_attach(self, spec: JobSpec, context: Context) -> Job:
        hook = self.hook
        try:
            existing: Job | None = hook.describe_job(spec.name, spec.cluster)
        except JobNotFound:
            existing = None
        if existing is not None:
            if self._created_by_this_task(existing, context):
                self.log.info("Job %s was created by an earlier try of this task: attaching", spec.name)
            elif self.if_exists == "fail":
                raise JobAlreadyExists(
                    f"A TI-A job named {spec.name!r} already exists in {spec.cluster} (if_exists='fail')",
                    code="FailedOperation.AlreadyExists",
                )
            elif self.if_exists == "replace":
                self.log.info("Replacing existing job %s (%s)", spec.name, existing.state_name)
                self._delete_and_wait(spec.name, spec.cluster)
                return self._create(spec, context)
            if existing.failed and context["ti"].try_number > 1:
                self.log.info("Job %s failed in an earlier try: deleting it and creating it again", spec.name)
                self._delete_and_wait(spec.name, spec.cluster)
                return self._create(spec, context)
            self.log.info("Attaching to existing job %s (%s)", spec.name, existing.state_name)
            return existing
        return self._create(spec, context)

    def _create(self, spec: JobSpec, context: Context) -> Job:
        try:
            job = self.hook.create_job(spec)
        except JobAlreadyExists:
            if self.if_exists == "fail":
                raise
            self.log.info("Job %s appeared concurrently: attaching to it", spec.name)
            job = self.hook.describe_job(spec.name, spec.cluster)
        self._remember(job, context)
        return job

    def _remember(self, job: Job, context: Context) -> None:
        store = context.get("task_state_store")
        if store is None:
            return
        try:
            store.set(STATE_KEY, {"name": job.name, "cluster": job.cluster, "id": job.raw.get("Id")})
        except Exception as error:  # the store is an aid to retries, never a reason to fail
            self.log.debug("Could not record the job in the task state store: %s", error)

    def _created_by_this_task(self, job: Job, context: Context) -> bool:
        store = context.get("task_state_store")
        if store is None or not job.raw.get("Id"):
            return False
        try:
            record = store.get(STATE_KEY)
        except Exception:
            return False
        return isinstance(record, dict) and record.get("id") == job.raw.get("Id")

    def _delete_and_wait(self, name: str, cluster: str, timeout: float = 300) -> None:
        self.hook.delete_job(name, cluster, missing_ok=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.hook.describe_job(name, cluster)
            except JobNotFound:
                return
            except TransientError as error:
                self.log.warning("Could not check that %s is gone (%s)", name, error)
            time.sleep(min(self.poll_interval, 2.0))
        raise TIAError(f"TI-A job {name} in {cluster} was deleted but still exists after {timeout:.0f}s")

    # --------------------------------------------------------------------------------------- logs
    def _follower(self, job: Job) -> LogFollower | None:
        if not self.print_logs:
            return None
        from airflow_provider_tia.logs import LogFollower

        return LogFollower(
            self.hook, job.name, job.cluster or self.cluster, since=job.create_time, emit=self.log.info
        )

    def _poll_logs(self, follower: LogFollower | None, attempts: int = 1) -> None:
        """Print new log lines. Logs are best effort: the job's state, not its logs, decides the task."""
        if follower is None:
            return
        for attempt in range(1, attempts + 1):
            try:
                follower.poll()
                return
            except TIAError as error:
                if attempt == attempts:
                    self.log.warning("Could not read the job's logs (%s)", error)
                else:
                    self.log.warning("Could not read the job's logs (%s); trying again", error)
                    time.sleep(min(2.0 * attempt, self.poll_interval))

    def _finish(self, job: Job, follower: LogFollower | None, tail: list[str] | None = None) -> Any:
        self._poll_logs(follower, attempts=FINAL_LOG_ATTEMPTS)  # the last lines: try harder
        if job.failed:
            lines = list(tail or []) + (follower.last_lines(TAIL_LINES) if follower else [])
            raise JobFailed(job, lines[-TAIL_LINES:])
        self.log.info("TI-A job %s ended %s", job.name, job.state_name)
        return job.to_dict()

    def _timed_out(self, name: str, cluster: str, message: str) -> None:
        if self.on_timeout == "delete":
            self.hook.delete_job(name, cluster, missing_ok=True)
            message += "; the job was deleted (on_timeout='delete')"
        else:
            message += "; the job was left running (on_timeout='leave')"
        raise JobWaitTimeout(message)

    # ---------------------------------------------------------------------------------- deferral
    def _defer(self, job: Job, cluster: str, follower: LogFollower | None, context: Context) -> None:
        from airflow_provider_tia.triggers.tia import JobTrigger

        resume = {
            "job_name": job.name,
            "cluster": cluster,
            "log_state": follower.state() if follower else None,
            "tail": follower.last_lines(TAIL_LINES) if follower else [],
        }
        # dag.test() (Airflow 3.3.2) resumes with the event only, dropping defer(kwargs=): keep a copy.
        context["ti"].xcom_push(key=RESUME_KEY, value=resume)
        deadline = None if self.max_wait is None else time.time() + self.max_wait
        self.defer(
            trigger=JobTrigger(
                job_name=job.name,
                cluster=cluster,
                tia_conn_id=self.tia_conn_id,
                region=self.region,
                poll_interval=self.poll_interval,
                deadline=deadline,
                delete_on_kill=self.delete_on_kill,
            ),
            method_name="execute_complete",
            kwargs=resume,
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        job_name: str | None = None,
        cluster: str | None = None,
        log_state: dict[str, Any] | None = None,
        tail: list[str] | None = None,
    ) -> Any:
        """Resume after ``JobTrigger``: print the remaining log lines, then end like the polling path."""
        from airflow_provider_tia.job import Job

        if job_name is None:
            ti = context["ti"]
            saved = ti.xcom_pull(key=RESUME_KEY, task_ids=ti.task_id, map_indexes=ti.map_index) or {}
            job_name, cluster = saved["job_name"], saved["cluster"]
            log_state, tail = saved.get("log_state"), saved.get("tail")
        assert cluster is not None

        self._watched = (job_name, cluster)
        follower = None
        if self.print_logs and log_state is not None:
            from airflow_provider_tia.logs import LogFollower

            follower = LogFollower.from_state(self.hook, log_state, emit=self.log.info)
        status = event.get("status")
        if status in ("success", "failed") and event.get("job"):
            return self._finish(Job.from_api(event["job"]), follower, tail)
        self._poll_logs(follower)
        message = str(event.get("message") or "the trigger reported an error")
        if event.get("reason") == "timeout":
            self._timed_out(job_name, cluster, message)
        if event.get("reason") == "vanished":
            raise JobVanished(message)
        raise TIAError(message)

    def on_kill(self) -> None:
        """TI-A has no stop: delete the job this execution created or attached to."""
        if self.delete_on_kill and self._watched is not None:
            name, cluster = self._watched
            self.log.info("Task killed: deleting TI-A job %s in %s", name, cluster)
            self.hook.delete_job(name, cluster, missing_ok=True)


class DeleteJobOperator(BaseOperator):
    """Delete a TI-A job (this also stops it if it runs).

    Example::

        DeleteJobOperator(task_id="cleanup", job_name="train-{{ ds_nodash }}", cluster="ap-beijing")

    :param job_name: Job name (templated).
    :param cluster: Cluster of the job (templated).
    :param tia_conn_id: Airflow connection id.
    :param region: Region overriding the connection's (templated).
    :param missing_ok: Succeed when the job does not exist (default True).
    """

    template_fields = ("job_name", "cluster", "region")

    def __init__(
        self,
        *,
        job_name: str,
        cluster: str,
        tia_conn_id: str = "tencentcloud_default",
        region: str | None = None,
        missing_ok: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.cluster = cluster
        self.tia_conn_id = tia_conn_id
        self.region = region
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> bool:
        from airflow_provider_tia.hooks.tia import TIAHook

        deleted = TIAHook(self.tia_conn_id, self.region).delete_job(
            self.job_name, self.cluster, missing_ok=self.missing_ok
        )
        if not deleted:
            self.log.info("TI-A job %s in %s did not exist", self.job_name, self.cluster)
        return deleted
