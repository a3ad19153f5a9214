"""TI-ONE in Airflow (``tione`` 2021-11-11): the base of its task classes, one execution's
training-task calls (``TIONETaskControl``) and the operators that create and wait, stop and delete.

The wait, the deferral, the resume and the kill are ``CreateAndWaitOperator``'s (shared with TI-A);
this module says what a training task is made of and how it is found again. Nothing heavy is
imported at module level.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_tia import ending, lifecycle, staging
from airflow_provider_tia.ending import EndAction
from airflow_provider_tia.exceptions import JobAlreadyExists, JobNotFound
from airflow_provider_tia.lifecycle import Action, IfExists
from airflow_provider_tia.links.tione import TIONETaskLink
from airflow_provider_tia.models.tione import MAX_NAME_LENGTH, TRAINING_SPEC_FIELDS, TrainingTaskSpec
from airflow_provider_tia.operators.base import (
    SUFFIX_LENGTH,
    CreateAndWaitOperator,
    choice,
    suffixed,
    task_instance_hash,
    with_param_docs,
)
from airflow_provider_tia.operators.control import JobControl, Key
from airflow_provider_tia.task_base import TencentCloudBaseOperator

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_tia.hooks.tione import TIONEHook, TIONELogReader
    from airflow_provider_tia.models.tione import TrainingTask
    from airflow_provider_tia.triggers.tione import TrainingTaskTrigger

SPEC_ATTRS = tuple(field.attr for field in TRAINING_SPEC_FIELDS)
TAG_LENGTH = 32


class TIONEBaseOperator(TencentCloudBaseOperator):
    """Base of the TI-ONE task classes: the connection, the region, ``TIONEHook`` and the
    "TI-ONE Training Task" link.

    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``).
    :param region: Region overriding the connection's (templated).
    """

    operator_extra_links = (TIONETaskLink(),)
    hook_class_path = "airflow_provider_tia.hooks.tione.TIONEHook"
    if TYPE_CHECKING:
        hook: TIONEHook


TASK_KEY_TAG = "airflow-task-key"  # tag on every training task: hash of (dag, task, run, map index)
TERMINAL = ("SUCCEED", "FAILED", "STOPPED", "SUBMIT_FAILED")
START_WAIT = 60.0  # seconds a restarted task may take to show its new run


def task_key(task_id: str | None, name: str | None, tag: str | None = None) -> Key:
    """The JSON-safe key of a training task: its Id once known, its name, the idempotency tag."""
    return {"id": task_id, "name": name or task_id, **({"tag": tag} if tag else {})}


class TIONETaskControl(JobControl):
    """Training-task calls of one execution: find, create, stop, delete.

    A training task's key is ``{"id", "name", "tag"}``: TI-ONE addresses tasks by Id only, and the Id
    is unknown until CreateTrainingTask answers. Until then the key's ``tag`` (the idempotency tag
    every task this Airflow task instance creates carries) finds it: after a lost reply, on a retry,
    and when the task is killed while the create call is in flight.

    :param kill_action: What a kill does to the task: ``STOP`` (the record stays and can run
        again), ``DELETE`` (stop, then remove it) or ``LEAVE``.
    """

    final_states = TERMINAL
    success_state = "SUCCEED"
    state_field = "Status"

    hook: TIONEHook

    def key_of(self, job: TrainingTask) -> Key:
        return task_key(job.id, job.name, (self.target or {}).get("tag"))

    def label(self, key: Key) -> str:
        task_id = key.get("id")
        return f"TI-ONE training task {key['name']}" + (f" ({task_id})" if task_id else "")

    def matches(self, key: Key, job: TrainingTask) -> bool:
        return job.id == key.get("id")

    def describe(self, key: Key) -> TrainingTask:
        task_id = key.get("id") or self._id_by_tag(key)
        if task_id is None:
            raise JobNotFound(f"{self.label(key)} does not exist", code="ResourceNotFound")
        return self.hook.describe_training_task(task_id)

    def log_reader(
        self, key: Key, job: TrainingTask | None = None, state: dict[str, Any] | None = None
    ) -> TIONELogReader:
        return self.hook.log_reader(job if job is not None else key["id"], state)

    # ----------------------------------------------------------------------------------- finding
    def _id_by_tag(self, key: Key) -> str | None:
        own = self.find_own(key["tag"]) if key.get("tag") else None
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
        key = task_key(None, spec.name, tag)
        if action is Action.FAIL:
            raise JobAlreadyExists(
                f"{self.label(key)} already exists (if_exists='fail')", code="FailedOperation.DuplicateName"
            )
        if existing is not None and action is Action.ATTACH:
            self.log.info("Attaching to existing %s (%s)", existing.label, existing.state_name)
            # The detail, not the list item it was found as: every path returns the same shape.
            return self._remember_read(task_key(existing.id, existing.name, tag))
        if existing is not None and action is Action.RECREATE:
            self.log.info("%s failed in an earlier try: starting it again", existing.label)
            self.target = task_key(existing.id, existing.name, tag)
            self.retrying(lambda: self.hook.start_training_task(existing.id), f"Starting {existing.label}")
            return self._started_again(self.target, existing)
        if existing is not None:
            self.log.info("%s is replaced (if_exists='replace'): deleting it", existing.label)
            self.delete(task_key(existing.id, existing.name))
        task_id = self.create_watched(key, lambda: self.hook.create_training_task(spec))
        return self._remember_read(task_key(task_id, spec.name, tag))

    def _started_again(self, key: Key, before: TrainingTask, timeout: float = START_WAIT) -> TrainingTask:
        """The task once its new run shows (Start is asynchronous: a read right after it may still
        show the failed run), so the wait never ends on the old run's status."""
        shows_by = time.monotonic() + timeout
        while True:
            task = self._remember_read(key)
            new_run = task.latest_instance_id != before.latest_instance_id or not task.is_terminal
            if new_run or time.monotonic() >= shows_by:
                return task
            time.sleep(min(self.interval, 2.0))

    def _remember_read(self, key: Key) -> TrainingTask:
        self.target = key  # before the read: a kill during it ends this task
        task = self.read(key)
        self.remember(task, key)
        return task

    def end(self, key: Key, action: EndAction, *, fresh_hook: bool = False) -> None:
        if action is EndAction.LEAVE:
            return
        tasks = (
            TIONETaskControl(self.hook.copy(), self.deadline, self.interval, self.log, action)
            if fresh_hook
            else self
        )
        resolved = {**key, "id": key.get("id") or tasks._id_by_tag(key)}
        if resolved["id"] is None:
            return  # nothing was created
        tasks.end_as(resolved, action)

    def end_as(self, key: Key, action: EndAction) -> None:
        """Carry out ``ending.end_training_task`` (the triggerer's kill runs the same plan)."""
        label = self.label(key)

        def call(what: str, request: Callable[[], Any]) -> Callable[[], Any]:
            return lambda: self.retrying(request, f"{what} {label}")

        calls = {
            "stop": call("Stopping", lambda: self.hook.stop_training_task(key["id"], missing_ok=True)),
            "delete": call("Deleting", lambda: self.hook.delete_training_task(key["id"], missing_ok=True)),
            "read": lambda: self.read_or_none(key),
        }
        ending.drive(
            ending.end_training_task(action, lambda note: self.log.info("%s: %s", label, note)), calls
        )

    def stop(self, key: Key) -> None:
        self.end_as(key, EndAction.STOP)

    def delete(self, key: Key) -> None:
        """Delete the task; a running one is stopped first (the service may refuse to delete it)."""
        self.end_as(key, EndAction.DELETE)


def newest(tasks: list[TrainingTask]) -> TrainingTask:
    return max(tasks, key=lambda task: (task.create_time is not None, task.create_time or 0, task.id))


class CreateTrainingTaskOperator(CreateAndWaitOperator, TIONEBaseOperator):
    """Create a TI-ONE training task, wait for it with its logs in the task log, return the final task.

    Example::

        CreateTrainingTaskOperator(
            task_id="train", name="nightly-ddp", charge_type="POSTPAID_BY_HOUR",
            framework_name="PYTORCH", training_mode="DDP",
            resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 2}],
            code_dir="/opt/airflow/dags/train", code_bucket="ml-code-1250000000",
            start_cmd="python train.py", envs={"EPOCHS": "{{ params.epochs }}"},
            output_path={"Bucket": "ml-out-1250000000", "Region": "ap-guangzhou", "Paths": ["models/"]},
        )

    One keyword per CreateTrainingTask field (snake_case, all templated; nested objects as dicts
    with the API's field names), validated after rendering and before any call (``JobSpecError``
    names the field). Every task carries the tag ``airflow-task-key`` (a hash of dag, task, run and
    map index): a retry, a lost reply or a crash finds the task again by it, so one task instance
    never creates two training tasks. ``on_timeout``: ``"stop"`` (default), ``"delete"`` or ``"leave"``.

    :param start_cmd: One start command (templated) for every role (``StartCmdInfo``'s StartCmd and WorkerStartCmd).
    :param envs: Environment variables as a dict (templated), or the API's ``[{"Name", "Value"}]``.
    :param tags: Tags as a dict (templated), or the API's ``[{"TagKey", "TagValue"}]``.
    :param if_exists: The name is held by a task this task instance did not create (another run's):
        ``"new"`` (default) creates this run's task under ``<name>-<hash of dag, task, run, map index>``,
        so a scheduled DAG with a fixed name trains on every run; ``"attach"`` adopts the other task and
        reports its outcome (opt-in; it is never restarted); ``"fail"``; ``"replace"`` deletes it first;
        ``"suffix"`` always uses the suffixed name. The task this task instance created (found by its
        tag) is always re-attached, and a failed one is started again on a retry.
    :param code_dir: Local directory of training code (templated), packed and uploaded to COS
        (``airflow-provider-tia[cos]``) as the code package (``CodePackagePath``); unchanged code
        is not uploaded again.
    :param code_bucket: COS bucket (``<name>-<appid>``) for ``code_dir`` (templated).
    :param code_prefix: Key prefix in the bucket (templated).
    :param code_max_bytes: Largest ``code_dir`` accepted (bytes).
    """

    END_ACTIONS = (EndAction.STOP, EndAction.DELETE, EndAction.LEAVE)
    # Each field once: Airflow renders every entry, so a field listed twice is rendered twice.
    template_fields = (*SPEC_ATTRS, "start_cmd", "region", "code_dir", "code_bucket", "code_prefix")
    template_fields_renderers = {attr: "json" for attr in SPEC_ATTRS if attr not in ("name", "remark")}
    ui_color = "#e6f7ef"
    external_id_key = "tione_created_task"  # task_state_store key: the task this task instance created

    def __init__(
        self,
        *,
        name: str,
        charge_type: str = "POSTPAID_BY_HOUR",
        resource_config_infos: list[dict[str, Any]] | None = None,
        ti_project_id: str | None = None,
        framework_name: str | None = None,
        framework_version: str | None = None,
        framework_environment: str | None = None,
        resource_group_id: str | None = None,
        tags: dict[str, str] | list[dict[str, Any]] | None = None,
        image_info: dict[str, Any] | None = None,
        code_package_path: dict[str, Any] | None = None,
        start_cmd_info: dict[str, str] | None = None,
        training_mode: str | None = None,
        data_configs: list[dict[str, Any]] | None = None,
        vpc_id: str | None = None,
        subnet_id: str | None = None,
        output_path: dict[str, Any] | None = None,
        log_config: dict[str, str] | None = None,
        tuning_parameters: str | dict[str, Any] | None = None,
        log_enable: bool | str | None = None,
        remark: str | None = None,
        data_source: str | None = None,
        callback_url: str | None = None,
        encoded_start_cmd_info: dict[str, str] | None = None,
        code_repos: list[dict[str, str]] | None = None,
        expose_network_config: dict[str, Any] | None = None,
        envs: dict[str, str] | list[dict[str, Any]] | None = None,
        train_tool_config: dict[str, Any] | None = None,
        resource_supply_attribute: dict[str, str] | None = None,
        queues: list[str] | None = None,
        start_cmd: str | None = None,
        if_exists: str = IfExists.NEW.value,
        code_dir: str | None = None,
        code_bucket: str | None = None,
        code_prefix: str = staging.DEFAULT_PREFIX,
        code_max_bytes: int = staging.DEFAULT_MAX_BYTES,
        **kwargs: Any,
    ) -> None:
        # Every request field is an explicit keyword, so .partial()/.expand() accept it by name.
        api_values = {attr: value for attr, value in locals().items() if attr in SPEC_ATTRS}
        super().__init__(**kwargs)
        for attr, value in api_values.items():
            setattr(self, attr, value)
        self.start_cmd = start_cmd
        self.if_exists = IfExists(choice("if_exists", if_exists, tuple(e.value for e in IfExists)))
        self.code_dir, self.code_bucket, self.code_prefix = code_dir, code_bucket, code_prefix
        self.code_max_bytes = code_max_bytes

    @cached_property
    def jobs(self) -> TIONETaskControl:
        return TIONETaskControl(self.hook, self._deadline, self.poll_interval, self.log, self.on_kill_action)

    def build_spec(self, context: Context) -> tuple[TrainingTaskSpec, str]:
        """The spec from the rendered fields, and this task instance's idempotency tag."""
        tag = task_instance_hash(context["ti"], TAG_LENGTH)
        values = {attr: getattr(self, attr) for attr in (*SPEC_ATTRS, "start_cmd")}
        if self.if_exists is IfExists.SUFFIX:
            values["name"] = suffixed(str(values["name"]), tag[:SUFFIX_LENGTH], MAX_NAME_LENGTH)
        # Raises JobSpecError naming the field, before any API call.
        spec = TrainingTaskSpec.from_kwargs(
            **{attr: value for attr, value in values.items() if value is not None}
        )
        return spec.with_tags({TASK_KEY_TAG: tag}), tag

    def submit_job(self, context: Context) -> Key:
        """Validate, stage code, then find this task instance's task (by tag) or decide to create one."""
        spec, tag = self.build_spec(context)
        if self.code_dir:
            spec = self._stage_code(spec)
        own = self.jobs.find_own(tag)
        existing = own if own is not None else self.jobs.find_named(spec.name)
        action = lifecycle.decide(
            existing, if_exists=self.if_exists, owned=own is not None, try_number=context["ti"].try_number
        )
        if action is lifecycle.Action.RENAME:
            renamed = spec.with_name(suffixed(spec.name, tag[:SUFFIX_LENGTH], MAX_NAME_LENGTH))
            self.log.info(
                "The name %s is another run's task (%s): this run's task is %s",
                spec.name,
                existing.id if existing is not None else "?",
                renamed.name,
            )
            spec, existing, action = renamed, None, lifecycle.Action.CREATE
        task = self.jobs.perform(action, spec, existing, tag)
        self.push_link(context, training_task_id=task.id)
        return task_key(task.id, task.name, tag)

    def _stage_code(self, spec: TrainingTaskSpec) -> TrainingTaskSpec:
        from airflow_provider_tia.hooks.cos import COSHook

        cos = COSHook(self.tencentcloud_conn_id, region=self.region)
        staged = staging.stage_for_task(
            cos,
            str(self.code_dir),
            self.code_bucket,
            task_log=self.log,
            prefix=self.code_prefix,
            max_bytes=self.code_max_bytes,
        )
        # The code package is the staged object's folder: TI-ONE's CodePackagePath may name a folder or
        # an archive, and a folder works with either reading (the docs say which we assume).
        return spec.with_code_package(
            str(self.code_bucket), cos.settings.region, staged.key.rsplit("/", 1)[0] + "/"
        )

    def push_job_link(self, context: Context, key: Key) -> None:
        self.push_link(context, training_task_id=key["id"])

    def make_trigger(self, key: Key, resume: dict[str, Any]) -> TrainingTaskTrigger:
        from airflow_provider_tia.triggers.tione import TrainingTaskTrigger

        return TrainingTaskTrigger(
            training_task_id=key["id"],
            **self.trigger_kwargs(resume),
        )

    def lineage(self, job: dict[str, Any] | None) -> OperatorLineage | None:
        """The code package and DataConfigs as inputs, Output as the output, the task as the run."""
        from airflow_provider_tia.lineage import tione_task_lineage

        return tione_task_lineage(job)


CreateTrainingTaskOperator.__doc__ = with_param_docs(
    CreateTrainingTaskOperator.__doc__, "CreateTrainingTask", TRAINING_SPEC_FIELDS
)


class _TaskActionOperator(TIONEBaseOperator):
    """One call on one training task by Id (templated)."""

    template_fields = ("training_task_id", "region")

    def __init__(self, *, training_task_id: str, missing_ok: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training_task_id = training_task_id
        self.missing_ok = missing_ok


class StopTrainingTaskOperator(_TaskActionOperator):
    """Stop a TI-ONE training task (its record stays; StartTrainingTask can run it again).

    Example::

        StopTrainingTaskOperator(task_id="stop", training_task_id="{{ ti.xcom_pull('train')['Id'] }}")

    :param training_task_id: The task's Id, ``train-…`` (templated).
    :param missing_ok: Succeed when the task does not exist (default True).
    """

    def execute(self, context: Context) -> bool:
        return self.hook.stop_training_task(self.training_task_id, missing_ok=self.missing_ok)


class DeleteTrainingTaskOperator(_TaskActionOperator):
    """Delete a TI-ONE training task; a running one is stopped first.

    :param training_task_id: The task's Id, ``train-…`` (templated).
    :param missing_ok: Succeed when the task does not exist (default True).
    """

    def execute(self, context: Context) -> bool:
        tasks = TIONETaskControl(self.hook, lifecycle.Deadline(), 5.0, self.log, EndAction.DELETE)
        key = task_key(self.training_task_id, self.training_task_id)
        if not self.missing_ok and tasks.read_or_none(key) is None:
            tasks.describe(key)  # raises JobNotFound naming the task
        tasks.delete(key)
        return True
