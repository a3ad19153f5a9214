"""Register a trained model: ``RegisterModelVersionOperator`` imports a training task's output into the
TI-ONE model repository as a new version and waits until it is imported.

The wait, the deferral, the resume, the timeout and the kill are ``CreateAndWaitOperator``'s: an import is
a job like a training task (created once, read until it ends, ended on a kill), with no logs to follow.
``ModelImportControl`` (``repository_control``) says how a version is read, found again and deleted.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.exceptions import InvalidParameter, JobNotFound, JobSpecError
from airflow_provider_tia.links.tione import ModelVersionLink
from airflow_provider_tia.models.tione.repository import (
    FRAMEWORKS,
    REPOSITORY_SPEC_FIELDS,
    ModelVersion,
    ModelVersionKey,
    SourceTask,
    TrainingModelSpec,
    next_version_label,
    version_of_task,
)
from airflow_provider_tia.operators.base import CreateAndWaitOperator, with_param_docs
from airflow_provider_tia.operators.tione.base import TIONEBaseOperator

if TYPE_CHECKING:
    from datetime import timedelta

    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_tia.operators.tione.repository_control import ModelImportControl
    from airflow_provider_tia.triggers.tione.repository import ModelVersionTrigger

# Decided by the operator, not passed: the import method, the model (model_name / model_id) and the task.
LABEL_ATTEMPTS = 5  # concurrent registrations may take the label this one computed
DERIVED = ("import_method", "training_model_name", "training_model_id", "training_job_id")
SPEC_ATTRS = tuple(f.attr for f in REPOSITORY_SPEC_FIELDS if f.attr not in DERIVED)
KEYWORD_FIELDS = tuple(f for f in REPOSITORY_SPEC_FIELDS if f.attr not in DERIVED)


class RegisterModelVersionOperator(CreateAndWaitOperator, TIONEBaseOperator):
    """Import a training task's model into the TI-ONE model repository, wait until the version is
    imported, return the version (TrainingModelVersionDTO as a dict: TrainingModelId,
    TrainingModelVersionId, TrainingModelVersion (the label), TrainingModelStatus, ...).

    Example::

        RegisterModelVersionOperator(
            task_id="register", training_task="{{ ti.xcom_pull('train') }}", model_name="resnet50",
            model_format="PYTORCH", reasoning_environment_id="pytorch1.9.0-py38(gpu)",
            training_model_index="acc=0.91", deferrable=True,
        )

    The first run creates the model ``model_name`` (MODEL, version ``v1``); later runs add a version
    (VERSION) ``v<max+1>`` to ``model_id``, else to this task's model of an earlier run (its XCom), else
    to the newest model of that name if the service lists models (DescribeTrainingModels may be gone).

    Idempotent without a client token: before creating, the model's versions are read, and the one whose
    TrainingJobId is this training task is the one this task wants (after a retry, a crash, a lost
    reply): a running or imported one is waited for, a failed one is imported again in place (EXIST).
    A lost reply of the very first import (MODEL) is found so only where the service lists models.

    ``STATUS_FAILED`` fails the task with TrainingModelErrorMsg; ``timeout`` raises ``JobWaitTimeout``
    (the import is left running, or deleted with ``on_timeout="delete"``).

    :param training_task: The training task: its Id (``train-…``) or the dict
        ``CreateTrainingTaskOperator`` returns (templated; a rendered dict or its JSON text).
    :param model_name: The model's name (``TrainingModelName``, templated).
    :param model_id: The model (``m-…``) to add the version to (templated); found as described above
        when None.
    :param timeout: The task's time budget (seconds or timedelta), the same as ``max_wait``.
    """

    END_ACTIONS = (EndAction.LEAVE, EndAction.DELETE)
    operator_extra_links = (ModelVersionLink(),)  # type: ignore[assignment]
    template_fields = ("training_task", "model_name", "model_id", *SPEC_ATTRS, "region")
    template_fields_renderers = {attr: "json" for attr in ("training_task", *SPEC_ATTRS)}
    ui_color = "#e6f7ef"
    external_id_key = "tione_registered_version"

    def __init__(
        self,
        *,
        training_task: str | dict[str, Any],
        model_name: str,
        model_id: str | None = None,
        reasoning_environment_source: str = "SYSTEM",
        ti_project_id: str | None = None,
        training_model_version: str | None = None,
        training_model_source: str | None = "JOB",
        training_job_name: str | None = None,
        training_job_version: str | None = None,
        training_model_cos_path: dict[str, Any] | None = None,
        model_output_path: dict[str, Any] | None = None,
        model_move_mode: str | None = "COPY",
        model_format: str | None = None,
        algorithm_framework: str | None = None,
        reasoning_environment: str | None = None,
        reasoning_environment_id: str | None = None,
        reasoning_image_info: dict[str, Any] | None = None,
        training_model_index: str | dict[str, Any] | None = None,
        model_version_type: str | None = None,
        training_preference: str | None = None,
        auto_clean: str | bool | None = None,
        max_reserved_models: int | str | None = None,
        model_clean_period: int | str | None = None,
        is_qat: bool | str | None = None,
        tags: dict[str, str] | list[dict[str, Any]] | None = None,
        auto_ml_task_id: str | None = None,
        poll_interval: float = 10,
        timeout: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        # Every request field is an explicit keyword, so .partial()/.expand() accept it by name.
        api_values = {attr: value for attr, value in locals().items() if attr in SPEC_ATTRS}
        if timeout is not None:
            kwargs.setdefault("max_wait", timeout)
        super().__init__(poll_interval=poll_interval, print_logs=False, **kwargs)
        for attr, value in api_values.items():
            setattr(self, attr, value)
        self.training_task, self.model_name, self.model_id = training_task, model_name, model_id

    @cached_property
    def jobs(self) -> ModelImportControl:
        from airflow_provider_tia.operators.tione.repository_control import ModelImportControl

        return ModelImportControl(
            self.hook, self._deadline, self.poll_interval, self.log, self.on_kill_action
        )

    # ------------------------------------------------------------------------------------ submit
    def build_spec(self) -> tuple[TrainingModelSpec, SourceTask]:
        """The spec of a first import (MODEL) from the rendered fields, validated before any call."""
        task = SourceTask.of(_rendered_task(self.training_task))
        if self.model_id is not None and not isinstance(self.model_id, str):
            raise JobSpecError("model_id", f"must be a model Id (m-…), got {type(self.model_id).__name__}")
        self.model_id = (self.model_id or "").strip() or None  # a template that rendered nothing: none
        values = {attr: getattr(self, attr) for attr in SPEC_ATTRS}
        values.update(import_method="MODEL", training_model_name=self.model_name, training_job_id=task.id)
        values.setdefault("training_job_name", None)
        values["training_job_name"] = values["training_job_name"] or task.name
        if values["algorithm_framework"] is None and task.framework in FRAMEWORKS:
            values["algorithm_framework"] = task.framework
        if values["training_model_cos_path"] is None:
            values["training_model_cos_path"] = task.model_folder()
        # model_name is training_model_name: errors name the keyword the user wrote.
        try:
            spec = TrainingModelSpec.from_kwargs(**{k: v for k, v in values.items() if v is not None})
        except JobSpecError as error:
            if error.parameter != "training_model_name":
                raise
            raise JobSpecError("model_name", error.problem, api_name="TrainingModelName") from None
        return spec, task

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Find this training task's version (reuse it) or import it: a new model, a new version, or a
        failed version again."""
        spec, task = self.build_spec()
        if spec.training_model_cos_path is None:
            spec = self._with_task_detail(spec, task)
        model_id = self.model_id or self._remembered_model(context)
        versions = self._versions_or_none(model_id) if model_id else None
        if model_id and versions is None and self.model_id:
            raise JobSpecError(
                "model_id", f"names no model: {model_id} does not exist", api_name="TrainingModelId"
            )
        if versions is None:  # a new model, unless the service still lists one of that name
            model_id = self.jobs.retrying(
                lambda: self.hook.newest_model_named(self.model_name), "Listing models"
            )
            versions = self._versions_or_none(model_id) if model_id else None
        key = ModelVersionKey(name=self.model_name, task=task.id)
        from airflow_provider_tia import lifecycle  # the engines load when a task runs, not at parse

        store = context.get("task_state_store")
        self.jobs.on_created = lambda created: lifecycle.record_job(
            store, self.external_id_key, created.to_json(), self.log
        )
        if model_id is None or versions is None:
            label = spec.training_model_version or "v1"
            first = dataclasses.replace(key, version_label=label)
            version = self.jobs.create(spec.replace(training_model_version=label), first)
        else:
            version = self._version_in(dataclasses.replace(key, model_id=model_id), versions, spec)
        target = self.jobs.target or self.jobs.key_of(version)
        self.push_job_link(context, target)
        return target.to_json()

    def _version_in(
        self, key: ModelVersionKey, versions: list[ModelVersion], spec: TrainingModelSpec
    ) -> ModelVersion:
        model_id = str(key.model_id)
        existing = version_of_task(versions, str(spec.training_job_id))
        if existing is not None and not existing.failed:
            self.log.info("%s imports this training task already: using it", existing.label)
            self.jobs.remember(existing, dataclasses.replace(key, version_id=existing.id))
            return existing
        common = {"training_model_id": model_id, "training_model_name": None}
        if existing is not None:
            self.log.info("%s failed to import: importing it again", existing.label)
            again = spec.replace(
                import_method="EXIST", training_model_version=existing.version_label, **common
            )
            return self.jobs.create(again, dataclasses.replace(key, version_label=existing.version_label))
        for _ in range(LABEL_ATTEMPTS):
            label = spec.training_model_version or next_version_label(v.version_label for v in versions)
            new = spec.replace(import_method="VERSION", training_model_version=label, **common)
            try:
                return self.jobs.create(new, dataclasses.replace(key, version_label=label))
            except InvalidParameter:
                # Refused: if another registration took the label meanwhile, take the next one.
                versions = self.jobs.versions(model_id)
                if spec.training_model_version or label not in {v.version_label for v in versions}:
                    raise
                self.log.info("Version label %s was taken meanwhile; trying the next one", label)
        raise JobSpecError("training_model_version", f"no free label after {LABEL_ATTEMPTS} attempts")

    def _versions_or_none(self, model_id: str) -> list[ModelVersion] | None:
        try:
            return self.jobs.versions(model_id)
        except JobNotFound:
            return None

    def _with_task_detail(self, spec: TrainingModelSpec, task: SourceTask) -> TrainingModelSpec:
        """Given only a task Id: the model folder (and name, framework) from DescribeTrainingTask."""
        detail = self.jobs.retrying(
            lambda: self.hook.describe_training_task(task.id), f"Reading TI-ONE training task {task.id}"
        ).raw
        full = SourceTask.of(dict(detail))
        folder = full.model_folder()
        if folder is None:
            raise JobSpecError(
                "training_model_cos_path",
                f"is required: training task {task.id} has no Output to import from",
                api_name="TrainingModelCosPath",
            )
        framework = spec.algorithm_framework or (full.framework if full.framework in FRAMEWORKS else None)
        return spec.replace(
            training_model_cos_path=folder,
            training_job_name=spec.training_job_name or full.name,
            algorithm_framework=framework,
        )

    def _remembered_model(self, context: Context) -> str | None:
        """The model Id this task registered into in an earlier run under the same model name, if any."""
        try:
            earlier = context["ti"].xcom_pull(task_ids=self.task_id, include_prior_dates=True)
        except Exception as error:  # history is a help, never a reason to fail
            self.log.debug("No earlier result of this task: %s", error)
            return None
        if isinstance(earlier, list):
            earlier = next((item for item in reversed(earlier) if isinstance(item, dict)), None)
        if isinstance(earlier, dict) and earlier.get("TrainingModelName") == self.model_name:
            model_id = earlier.get("TrainingModelId")
            return model_id if isinstance(model_id, str) and model_id else None
        return None

    # ------------------------------------------------------------------------- what the base needs
    def push_job_link(self, context: Context, key: ModelVersionKey) -> None:
        if key.version_id:
            self.push_link(context, training_model_version_id=key.version_id)

    def make_trigger(self, key: ModelVersionKey, resume: dict[str, Any]) -> ModelVersionTrigger:
        from airflow_provider_tia.triggers.tione.repository import ModelVersionTrigger

        return ModelVersionTrigger(key, **self.trigger_kwargs(resume))

    def lineage(self, job: dict[str, Any] | None) -> OperatorLineage | None:
        """The training output (COS) as the input, the model version as the output."""
        from airflow_provider_tia.lineage import cos_path_info_dataset, openlineage_available

        if not isinstance(job, dict) or not openlineage_available():
            return None
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_provider_tia.models.tione.repository import model_version_dataset_name

        source = cos_path_info_dataset(job.get("TrainingModelCosPath"))
        outputs = []
        if job.get("TrainingModelId") and job.get("TrainingModelVersionId"):
            region = self.region or self.hook.settings.region
            namespace, name = model_version_dataset_name(
                region, job["TrainingModelId"], job["TrainingModelVersionId"]
            )
            outputs.append(Dataset(namespace=namespace, name=name))
        return OperatorLineage(inputs=[source] if source is not None else [], outputs=outputs)


def _rendered_task(value: Any) -> Any:
    """A rendered ``training_task``: a dict, an Id, or a dict's JSON text (a template rendered to text)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        import json

        try:
            return json.loads(value)
        except ValueError:
            import ast

            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
    return value


RegisterModelVersionOperator.__doc__ = with_param_docs(
    RegisterModelVersionOperator.__doc__, "CreateTrainingModel", KEYWORD_FIELDS
)
