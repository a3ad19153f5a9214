"""TI-A's operators that create (and wait for) and delete training jobs.

The wait, the deferral, the resume and the kill are ``CreateAndWaitOperator``'s (shared with TI-ONE);
``TIAJobControl`` (``job_control``) says how a TI-A job is made and found again. Nothing heavy is
imported at module level: a DAG file that builds these operators loads none of the engines.
"""

from __future__ import annotations

import warnings
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowProviderDeprecationWarning

from airflow_provider_tia.choices import EndAction, IfExists
from airflow_provider_tia.models.tia.job_spec import MAX_NAME_LENGTH, SPEC_FIELDS, build_spec
from airflow_provider_tia.operators.base import (
    CreateAndWaitOperator,
    choice,
    suffixed,
    task_instance_hash,
    with_param_docs,
)
from airflow_provider_tia.operators.tia.base import TIABaseOperator

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_tia.lifecycle import Action
    from airflow_provider_tia.models.tia.job import Job, TIAJobKey
    from airflow_provider_tia.models.tia.job_spec import JobSpec
    from airflow_provider_tia.operators.tia.job_control import TIAJobControl
    from airflow_provider_tia.triggers.tia import JobTrigger

SPEC_ATTRS = tuple(
    field.attr for field in SPEC_FIELDS
)  # one keyword (and template field) per CreateJob parameter


class CreateJobOperator(CreateAndWaitOperator, TIABaseOperator):
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
    ``ResumableJobMixin``; by name on older versions). ``on_kill_action`` and ``on_timeout``: ``"delete"``
    (default; TI-A has no stop) or ``"leave"``.

    :param if_exists: The name is held by a job this task instance did not create (another run's):
        ``"new"`` (default) creates this run's job under ``<name>-<hash of dag, task, run, map index>``,
        so a scheduled DAG with a fixed name trains on every run; ``"attach"`` adopts the other job and
        reports its outcome (opt-in; it is never restarted); ``"fail"``; ``"replace"`` deletes it first;
        ``"suffix"`` always uses the suffixed name. The job this task instance created is always
        re-attached (Airflow 3.3's task state store records it), and a Failed one is run again on a
        retry. Below Airflow 3.3 there is no such record and a TI-A job carries no tag, so ``"new"``
        names every run's job ``<name>-<hash>`` there, as ``"suffix"`` does. Clearing a task makes
        Airflow forget the record: the task then trains anew under ``<name>-<hash>``.
    :param delete_on_kill: Deprecated: ``on_kill_action="delete"`` (True) or ``"leave"`` (False).
    :param code_dir: Local directory of training code (templated), packed and uploaded to COS
        (``airflow-provider-tia[cos]``) and mounted as the first PackageDir entry; unchanged code is not
        uploaded again. Refused before any call when missing, empty, over ``code_max_bytes`` or with a
        symlink leaving it.
    :param code_bucket: COS bucket (``<name>-<appid>``) for ``code_dir`` (templated).
    :param code_prefix: Key prefix in the bucket (templated; default ``staging.DEFAULT_PREFIX``); keys are
        ``<prefix>/<digest>/code.tar.gz``.
    :param code_mount_path: Where the job sees the code (default ``staging.DEFAULT_MOUNT_PATH``).
    :param code_max_bytes: Largest ``code_dir`` accepted (bytes; default ``staging.DEFAULT_MAX_BYTES``).
    """

    template_fields = (*SPEC_ATTRS, "region", "code_dir", "code_bucket", "code_prefix")
    template_fields_renderers = {"runtime_conf": "json", "args": "json", "command": "json"}
    ui_color = "#e8f4ff"
    END_ACTIONS = (EndAction.DELETE, EndAction.LEAVE)  # TI-A has no stop: deleting a job ends it
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
        if_exists: str = IfExists.NEW.value,
        delete_on_kill: bool | None = None,
        code_dir: str | None = None,
        code_bucket: str | None = None,
        code_prefix: str | None = None,
        code_mount_path: str | None = None,
        code_max_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        spec_values = {attr: value for attr, value in locals().items() if attr in SPEC_ATTRS}
        if delete_on_kill is not None:
            warnings.warn(
                "CreateJobOperator: 'delete_on_kill' is deprecated, use on_kill_action='delete' or 'leave'",
                AirflowProviderDeprecationWarning,
                stacklevel=2,
            )
            kwargs.setdefault("on_kill_action", EndAction.DELETE if delete_on_kill else EndAction.LEAVE)
        super().__init__(**kwargs)
        for attr, value in spec_values.items():
            setattr(self, attr, value)
        self.if_exists = IfExists(choice("if_exists", if_exists, tuple(e.value for e in IfExists)))
        self.code_dir = code_dir
        self.code_bucket = code_bucket
        self.code_prefix = code_prefix
        self.code_mount_path = code_mount_path
        self.code_max_bytes = code_max_bytes

    @cached_property
    def jobs(self) -> TIAJobControl:
        """This execution's job calls (under its deadline) and the job it is about."""
        from airflow_provider_tia.operators.tia.job_control import TIAJobControl

        return TIAJobControl(self.hook, self._deadline, self.poll_interval, self.log, self.on_kill_action)

    def build_spec(self, context: Context) -> JobSpec:
        """The JobSpec from the rendered fields (name suffixed when ``_names_own_job``)."""
        spec = build_spec({attr: getattr(self, attr) for attr in SPEC_ATTRS})
        if self._names_own_job(context):
            spec = spec.with_name(suffixed(spec.name, task_instance_hash(context["ti"]), MAX_NAME_LENGTH))
        return spec

    def _names_own_job(self, context: Context) -> bool:
        """Whether the job's name itself must say it is this task instance's: ``"suffix"``, and
        ``"new"`` where no task state store records the job a try created (Airflow < 3.3): a TI-A job
        carries no tag, so only a per-run name tells a retry its own job from another run's."""
        return self.if_exists is IfExists.SUFFIX or (
            self.if_exists is IfExists.NEW and context.get("task_state_store") is None
        )

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Validate, stage code, then create or reuse the job as ``lifecycle.decide`` says."""
        from airflow_provider_tia.lifecycle import Action
        from airflow_provider_tia.models.tia.job import TIAJobKey

        spec = self.build_spec(context)  # raises JobSpecError before any API call
        if self.code_dir:
            from airflow_provider_tia import staging
            from airflow_provider_tia.hooks.cos import COSHook

            options = {
                "prefix": self.code_prefix,
                "max_bytes": self.code_max_bytes,
                "mount_path": self.code_mount_path,
            }
            cos = COSHook(self.tencentcloud_conn_id, region=self.region)
            spec = staging.mount_code_dir(
                cos, spec, self.code_dir, self.code_bucket, task_log=self.log, **options
            )
        job, action, owned = self._create_or_reuse(spec, context)
        self.push_link(context, job_name=job.name, cluster=spec.cluster)
        key = TIAJobKey(job.name, spec.cluster, job.raw.get("Id")).to_json()
        # The state store records this key: an adopted job (if_exists="attach") is never this task
        # instance's own, so a retry never recreates another run's job.
        return {**key, "adopted": True} if action is Action.ATTACH and not owned else key

    def _create_or_reuse(self, spec: JobSpec, context: Context) -> tuple[Job, Action, bool]:
        """The job to watch, as ``lifecycle.decide`` says, and whether this task instance owns it.

        Two runs of a fixed-name DAG may both find the name free and both create: the refused one
        decides again, now that the other run's job is there (``new``: this run's job is suffixed)."""
        from airflow_provider_tia.exceptions import JobAlreadyExists
        from airflow_provider_tia.lifecycle import Action, decide
        from airflow_provider_tia.models.tia.job import TIAJobKey, job_label

        try_number = context["ti"].try_number
        for attempt in (1, 2):
            existing = self.jobs.read_or_none(TIAJobKey(spec.name, spec.cluster))
            # A suffixed name is this task instance's own: the suffix is a hash of it.
            owned = self._names_own_job(context) or self._owned(existing, context)
            action = decide(existing, if_exists=self.if_exists, owned=owned, try_number=try_number)
            named = spec
            if action is Action.RENAME:
                named = spec.with_name(
                    suffixed(spec.name, task_instance_hash(context["ti"]), MAX_NAME_LENGTH)
                )
                self.log.info(
                    "%s is another run's job: this run's job is %s",
                    job_label(spec.name, spec.cluster),
                    named.name,
                )
                existing = self.jobs.read_or_none(TIAJobKey(named.name, spec.cluster))
                action = decide(existing, if_exists=self.if_exists, owned=True, try_number=try_number)
            try:
                return self.jobs.perform(action, named, existing, self.if_exists), action, owned
            except JobAlreadyExists:
                if attempt == 2 or action is not Action.CREATE or named is not spec:
                    raise
                self.log.info(
                    "%s was created by another run meanwhile: deciding again",
                    job_label(spec.name, spec.cluster),
                )
        raise AssertionError("unreachable")  # the loop returns or raises

    def _owned(self, existing: Job | None, context: Context) -> bool:
        """Whether an earlier try of this task instance created ``existing`` (the state store's record;
        a job it adopted is not its own)."""
        from airflow_provider_tia.lifecycle import recorded_job

        record = recorded_job(context.get("task_state_store"), self.external_id_key)
        return (
            existing is not None
            and bool(existing.raw.get("Id"))
            and record.get("id") == existing.raw.get("Id")
            and not record.get("adopted")
        )

    def push_job_link(self, context: Context, key: TIAJobKey) -> None:
        self.push_link(context, job_name=key.name, cluster=key.cluster)

    def make_trigger(self, key: TIAJobKey, resume: dict[str, Any]) -> JobTrigger:
        from airflow_provider_tia.triggers.tia import JobTrigger

        return JobTrigger(key, **self.trigger_kwargs(resume))

    def lineage(self, job: dict[str, Any] | None) -> OperatorLineage | None:
        """PackageDir entries as inputs, the job as the run."""
        from airflow_provider_tia.lineage import tia_job_lineage

        return tia_job_lineage(job)


CreateJobOperator.__doc__ = with_param_docs(CreateJobOperator.__doc__, "CreateJob", SPEC_FIELDS)


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
        from airflow_provider_tia.models.tia.job import job_label

        deleted = self.hook.delete_job(self.job_name, self.cluster, missing_ok=self.missing_ok)
        if not deleted:
            self.log.info("%s did not exist", job_label(self.job_name, self.cluster))
        return deleted
