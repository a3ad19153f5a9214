"""TI-ONE training in Airflow: the operators that create and wait, stop and delete a training task.

The wait, the deferral, the resume and the kill are ``CreateAndWaitOperator``'s (shared with TI-A);
``TIONETaskControl`` says how a training task is made and found again. Nothing heavy is imported at
module level.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.choices import EndAction, IfExists
from airflow_provider_tia.models.tione.training_spec import (
    MAX_NAME_LENGTH,
    TRAINING_SPEC_FIELDS,
    TrainingTaskSpec,
)
from airflow_provider_tia.operators.base import (
    SUFFIX_LENGTH,
    CreateAndWaitOperator,
    choice,
    suffixed,
    task_instance_hash,
    with_param_docs,
)
from airflow_provider_tia.operators.tione.base import TIONEBaseOperator

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_tia.models.tione.training_task import TrainingTaskKey
    from airflow_provider_tia.operators.tione.training_control import TIONETaskControl
    from airflow_provider_tia.triggers.tione import TrainingTaskTrigger


SPEC_ATTRS = tuple(field.attr for field in TRAINING_SPEC_FIELDS)
TAG_LENGTH = 32


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
    :param code_prefix: Key prefix in the bucket (templated; default ``staging.DEFAULT_PREFIX``).
    :param code_max_bytes: Largest ``code_dir`` accepted (bytes; default ``staging.DEFAULT_MAX_BYTES``).
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
        code_prefix: str | None = None,
        code_max_bytes: int | None = None,
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
        from airflow_provider_tia.operators.tione.training_control import TIONETaskControl

        return TIONETaskControl(self.hook, self._deadline, self.poll_interval, self.log, self.on_kill_action)

    def build_spec(self, context: Context) -> tuple[TrainingTaskSpec, str]:
        """The spec from the rendered fields, and this task instance's idempotency tag."""
        from airflow_provider_tia.operators.tione.training_control import TASK_KEY_TAG

        tag = task_instance_hash(context["ti"], TAG_LENGTH)
        values = {attr: getattr(self, attr) for attr in (*SPEC_ATTRS, "start_cmd")}
        if self.if_exists is IfExists.SUFFIX:
            values["name"] = suffixed(str(values["name"]), tag[:SUFFIX_LENGTH], MAX_NAME_LENGTH)
        # Raises JobSpecError naming the field, before any API call.
        spec = TrainingTaskSpec.from_kwargs(
            **{attr: value for attr, value in values.items() if value is not None}
        )
        return spec.with_tags({TASK_KEY_TAG: tag}), tag

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Validate, stage code, then find this task instance's task (by tag) or decide to create one."""
        from airflow_provider_tia import lifecycle
        from airflow_provider_tia.models.tione.training_task import TrainingTaskKey

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
        return TrainingTaskKey(task.name or task.id, task.id, tag).to_json()

    def _stage_code(self, spec: TrainingTaskSpec) -> TrainingTaskSpec:
        from airflow_provider_tia import staging
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

    def push_job_link(self, context: Context, key: TrainingTaskKey) -> None:
        self.push_link(context, training_task_id=key.task_id)

    def make_trigger(self, key: TrainingTaskKey, resume: dict[str, Any]) -> TrainingTaskTrigger:
        from airflow_provider_tia.triggers.tione import TrainingTaskTrigger

        return TrainingTaskTrigger(key, **self.trigger_kwargs(resume))

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
        from airflow_provider_tia.lifecycle import Deadline
        from airflow_provider_tia.models.tione.training_task import TrainingTaskKey
        from airflow_provider_tia.operators.tione.training_control import TIONETaskControl

        tasks = TIONETaskControl(self.hook, Deadline(), 5.0, self.log, EndAction.DELETE)
        key = TrainingTaskKey(self.training_task_id, self.training_task_id)
        if not self.missing_ok and tasks.read_or_none(key) is None:
            tasks.describe(key)  # raises JobNotFound naming the task
        tasks.delete(key)
        return True
