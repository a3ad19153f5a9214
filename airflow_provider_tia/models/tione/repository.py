"""TI-ONE's model repository as data: the CreateTrainingModel request (``TrainingModelSpec``, one field
table), a model version (``ModelVersion``, TrainingModelVersionDTO), the import's outcome decided once
(``import_outcome``), and the next version label (``next_version_label``). No Airflow, no network.

Assumptions where the service's rules are not published (either answer works with this code):

* Labels are ours to choose; ``v<max+1>`` over the labels of the form ``v<int>`` (as Tencent's own
  client computes them). A label the service derives itself is read back from the reply.
* A version whose status is null or empty is still importing, unless its progress reached 100: then
  the import is taken as done (old and COS imports may carry no status).
* A training task's model files are under ``<Output path><task Id>/`` (see ``output_prefix``); the
  request names that folder explicitly, so a service that does not derive it from the task still works.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_tia.exceptions import JobSpecError, MalformedResponse
from airflow_provider_tia.models import checks as c
from airflow_provider_tia.models.common import (
    JobBase,
    JobKey,
    RequestSpec,
    SpecField,
    json_safe_dict,
    reply_text,
)
from airflow_provider_tia.models.tione.training_spec import (
    COS_PATH,
    IMAGE_INFO,
    NAME_PATTERN,
    NAME_RULES,
    TAG,
)
from airflow_provider_tia.secrets import masked

STATUS_RUNNING, STATUS_SUCCESS, STATUS_FAILED = "STATUS_RUNNING", "STATUS_SUCCESS", "STATUS_FAILED"
STATUS_UNKNOWN = "STATUS_UNKNOWN"  # a reply with no status (null or "")
IMPORT_METHODS = ("MODEL", "VERSION", "EXIST")
ENVIRONMENT_SOURCES = ("SYSTEM", "CUSTOM")
MODEL_SOURCES = ("JOB", "COS", "CFS")
MOVE_MODES = ("COPY", "CUT")
VERSION_TYPES = ("NORMAL", "ACCELERATE", "TAIJI_HY")
MODEL_FORMATS = (
    "PYTORCH", "TORCH_SCRIPT", "DETECTRON2", "SAVED_MODEL", "FROZEN_GRAPH", "PMML", "MMDETECTION", "ONNX",
    "HUGGING_FACE_BERT", "HUGGING_FACE_STABLE_DIFFUSION", "HUGGING_FACE_STABLE_DIFFUSION_LORA",
    "WEB_UI_STABLE_DIFFUSION",
)  # fmt: skip
FRAMEWORKS = ("PYTORCH", "TENSORFLOW", "DETECTRON2", "PMML", "MMDETECTION", "ONNX")
MAX_MODEL_NAME = 60
MAX_INDEX_CHARS = 1000
LABEL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}"  # fullmatch, compiled on first use
_LABEL_NUMBER = r"v([0-9]+)"
VERSION_TIMES = ("TrainingModelCreateTime", "CreateTime")

_STR = c.text()
# Every CreateTrainingModel request field (a test compares this with the SDK's request model).
REPOSITORY_SPEC_FIELDS: tuple[SpecField, ...] = tuple(
    SpecField(attr, api, kind, doc, required=required, check=check)
    for attr, api, kind, doc, required, check in (
        ("import_method", "ImportMethod", "str", "``MODEL`` (new model and its first version), ``VERSION`` (new version of training_model_id) or ``EXIST`` (re-import a version).", True, c.text(choices=IMPORT_METHODS)),
        ("reasoning_environment_source", "ReasoningEnvironmentSource", "str", "Inference environment: ``SYSTEM`` (a platform image) or ``CUSTOM`` (reasoning_image_info).", True, c.text(choices=ENVIRONMENT_SOURCES)),
        ("ti_project_id", "TiProjectId", "str", "TI workspace (omit for the default one).", False, _STR),
        ("training_model_name", "TrainingModelName", "str", "Model name (with ``MODEL``): <= 60 letters (Chinese/English), digits, '_', '-'.", False, c.text(max_len=MAX_MODEL_NAME, pattern=NAME_PATTERN, rules=NAME_RULES)),
        ("training_model_id", "TrainingModelId", "str", "The model (``m-…``) a ``VERSION``/``EXIST`` import adds to.", False, _STR),
        ("training_model_version", "TrainingModelVersion", "str", "Version label, e.g. ``v3`` (default: the next ``v<n>``).", False, c.text(pattern=LABEL_PATTERN, rules="1-32 letters, digits, '.', '_' or '-', e.g. v3")),
        ("training_model_source", "TrainingModelSource", "str", "``JOB`` (a training task's output, default), ``COS`` or ``CFS``.", False, c.text(choices=MODEL_SOURCES)),
        ("training_job_id", "TrainingJobId", "str", "The source training task (``train-…``).", False, _STR),
        ("training_job_name", "TrainingJobName", "str", "The source training task's name.", False, _STR),
        ("training_job_version", "TrainingJobVersion", "str", "The source task's version, e.g. ``v3``.", False, _STR),
        ("training_model_cos_path", "TrainingModelCosPath", "dict", "The model files' COS folder ``{'Bucket', 'Region', 'Paths': [one path ending in '/']}`` (default: the task's output folder).", False, COS_PATH),
        ("model_output_path", "ModelOutputPath", "dict", "Where the repository keeps the version (CosPathInfo).", False, COS_PATH),
        ("model_move_mode", "ModelMoveMode", "str", "``COPY`` (keep the source) or ``CUT`` (move it).", False, c.text(choices=MOVE_MODES)),
        ("model_format", "ModelFormat", "str", "e.g. ``TORCH_SCRIPT``, ``PYTORCH``, ``SAVED_MODEL``, ``ONNX``.", False, c.text(choices=MODEL_FORMATS)),
        ("algorithm_framework", "AlgorithmFramework", "str", "e.g. ``PYTORCH``, ``TENSORFLOW`` (default: the task's framework).", False, c.text(choices=FRAMEWORKS)),
        ("reasoning_environment", "ReasoningEnvironment", "str", "SYSTEM: the inference image URL.", False, _STR),
        ("reasoning_environment_id", "ReasoningEnvironmentId", "str", "SYSTEM: the inference image Id, e.g. ``pytorch1.9.0-py38(gpu)``.", False, _STR),
        ("reasoning_image_info", "ReasoningImageInfo", "dict", "CUSTOM: the inference image ``{'ImageType', 'ImageUrl', ...}`` (its password is masked).", False, IMAGE_INFO),
        ("training_model_index", "TrainingModelIndex", "str", f"Metrics text, e.g. ``acc=0.91`` (<= {MAX_INDEX_CHARS} characters; a dict is written as JSON).", False, c.json_text(max_len=MAX_INDEX_CHARS)),
        ("model_version_type", "ModelVersionType", "str", "``NORMAL`` (default) or ``ACCELERATE``.", False, c.text(choices=VERSION_TYPES)),
        ("training_preference", "TrainingPreference", "str", "Model preference, e.g. ``BALANCE``, ``HIGH_SPEED``.", False, _STR),
        ("auto_clean", "AutoClean", "str", "SAVED_MODEL hot update: ``true``/``false`` (sent as text).", False, lambda value, path: "true" if c.boolean(value, path) else "false"),
        ("max_reserved_models", "MaxReservedModels", "int", "Models kept by the auto-clean, in [1, 24].", False, c.integer(low=1, high=24)),
        ("model_clean_period", "ModelCleanPeriod", "int", "Auto-clean period in minutes, in [1, 1440].", False, c.integer(low=1, high=1440)),
        ("is_qat", "IsQAT", "bool", "A quantisation-aware-trained model.", False, c.boolean),
        ("tags", "Tags", "dict | list[dict]", "Tags: a dict, or the API's ``[{'TagKey', 'TagValue'}]``.", False, c.pairs(c.items(TAG), "TagKey", "TagValue")),
        ("auto_ml_task_id", "AutoMLTaskId", "str", "AutoML task (deprecated by the service).", False, _STR),
    )
)  # fmt: skip
REPOSITORY_API_NAMES: dict[str, str] = {f.attr: f.api for f in REPOSITORY_SPEC_FIELDS}


class TrainingModelSpec(RequestSpec):
    """Every CreateTrainingModel field, validated (and converted) on construction.

    Example::

        spec = TrainingModelSpec(
            import_method="VERSION", reasoning_environment_source="SYSTEM",
            training_model_id="m-1511805105118762624", training_model_version="v7",
            training_job_id="train-1208038387393233920", max_reserved_models="3",
        )
        spec.to_request()["MaxReservedModels"]  # 3

    Across fields: ``MODEL`` needs training_model_name, ``VERSION``/``EXIST`` training_model_id, ``EXIST``
    training_model_version, ``CUSTOM`` reasoning_image_info. The image password is registered as a secret.
    """

    ACTION = "CreateTrainingModel"
    FIELDS = REPOSITORY_SPEC_FIELDS

    def cross_check(self, values: dict[str, Any]) -> None:
        needs = {"MODEL": "training_model_name", "VERSION": "training_model_id", "EXIST": "training_model_id"}
        method = values["import_method"]
        if values.get(needs[method]) is None:
            raise JobSpecError(
                needs[method],
                f"is required with import_method {method}",
                api_name=REPOSITORY_API_NAMES[needs[method]],
            )
        if method == "EXIST" and values.get("training_model_version") is None:
            raise JobSpecError(
                "training_model_version",
                "is required with import_method EXIST",
                api_name="TrainingModelVersion",
            )
        if values["reasoning_environment_source"] == "CUSTOM" and values.get("reasoning_image_info") is None:
            raise JobSpecError(
                "reasoning_image_info",
                "is required with reasoning_environment_source CUSTOM",
                api_name="ReasoningImageInfo",
            )

    def secrets(self) -> list[str | None]:
        return [((self.reasoning_image_info or {}).get("ImageSecret") or {}).get("Password")]


# ------------------------------------------------------------------------------------ the outcome
def import_outcome(status: str | None, progress: Any) -> str:
    """The import's state: ``STATUS_SUCCESS``, ``STATUS_FAILED``, or running (also for unknown values).

    The one place that decides "is the import done / failed" for the operator, the trigger and a sensor.
    A missing status with progress 100 is taken as done (see the module's assumptions).
    """
    if status in (STATUS_SUCCESS, STATUS_FAILED, STATUS_RUNNING):
        return status
    if not status and isinstance(progress, int) and not isinstance(progress, bool) and progress >= 100:
        return STATUS_SUCCESS
    return status or STATUS_UNKNOWN


def next_version_label(existing_labels: Iterable[str | None]) -> str:
    """``v<max+1>`` over the labels of the form ``v<int>``; ``v1`` when there is none.

    Example::

        next_version_label(["v1", "v10", "best", None])  # 'v11'
    """
    numbers = [
        int(match[1]) for label in existing_labels if label and (match := re.fullmatch(_LABEL_NUMBER, label))
    ]
    return f"v{max(numbers, default=0) + 1}"


@dataclasses.dataclass(frozen=True)
class ModelVersion(JobBase):
    """One model version (TrainingModelVersionDTO); satisfies ``lifecycle.JobLike``.

    Example::

        version = ModelVersion.from_api({"TrainingModelVersionId": "mv-v2-1", "TrainingModelVersion": "v2",
                                         "TrainingModelStatus": "STATUS_RUNNING", "TrainingModelProgress": 40})
        version.state_name, version.is_terminal, version.progress  # ('STATUS_RUNNING', False, 40)
    """

    SUCCESS = frozenset({STATUS_SUCCESS})
    FAILURE = frozenset({STATUS_FAILED})

    id: str
    model_id: str | None
    version_label: str | None
    status: str
    raw: Mapping[str, Any]

    @classmethod
    def from_api(cls, data: Any) -> ModelVersion:
        """Parse a TrainingModelVersionDTO; anything else raises ``MalformedResponse``."""
        if not isinstance(data, Mapping):
            raise MalformedResponse(
                f"expected a model version object in the reply, got {type(data).__name__}"
            )
        version_id = reply_text(data.get("TrainingModelVersionId"))
        if version_id is None:
            raise MalformedResponse("the reply's model version has no TrainingModelVersionId")
        return cls(
            id=version_id,
            model_id=reply_text(data.get("TrainingModelId")),
            version_label=reply_text(data.get("TrainingModelVersion")),
            status=import_outcome(
                reply_text(data.get("TrainingModelStatus")), data.get("TrainingModelProgress")
            ),
            raw=dict(data),
        )

    @property
    def state_name(self) -> str:
        return self.status

    @property
    def model_name(self) -> str | None:
        return reply_text(self.raw.get("TrainingModelName"))

    @property
    def training_job_id(self) -> str | None:
        return reply_text(self.raw.get("TrainingJobId"))

    @property
    def progress(self) -> int | None:
        value = self.raw.get("TrainingModelProgress")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def label(self) -> str:
        """How messages name it: ``TI-ONE model resnet version v2 (mv-v2-…)``."""
        return version_label(self.model_name, self.version_label, self.id)

    @property
    def message(self) -> str | None:
        """Why the import failed (TrainingModelErrorMsg)."""
        return reply_text(self.raw.get("TrainingModelErrorMsg"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom: the API's field names, times in ISO 8601 (UTC), the status as
        decided, and the image password a reply may echo masked."""
        out: dict[str, Any] = masked(json_safe_dict(self.raw, VERSION_TIMES))
        out["TrainingModelStatus"] = self.status
        return out


def version_label(model_name: str | None, label: str | None, version_id: str | None) -> str:
    """How messages name a version: ``TI-ONE model resnet version v2 (mv-v2-…)``."""
    model = f"TI-ONE model {model_name}" if model_name else "TI-ONE model"
    return f"{model} version {label or '?'}" + (f" ({version_id})" if version_id else "")


@dataclasses.dataclass(frozen=True)
class ModelVersionKey(JobKey):
    """A model version as Airflow addresses it: the model and version Ids once known, the model's name,
    the label, and the training task it imports (which finds the version again after a lost reply)."""

    name: str | None = None
    model_id: str | None = None
    version_id: str | None = None
    version_label: str | None = None
    task: str | None = None

    @property
    def label(self) -> str:
        return version_label(self.name, self.version_label, self.version_id)


def version_of_task(versions: Iterable[ModelVersion], training_job_id: str) -> ModelVersion | None:
    """The version imported from this training task (a retry's, a lost reply's); the newest if several,
    one still good (running or done) before a failed one."""
    found = [v for v in versions if v.training_job_id == training_job_id]
    if not found:
        return None
    return max(found, key=lambda v: (not v.failed, v.create_time is not None, v.create_time or 0, v.id))


# ------------------------------------------------------------------------------ the training task
@dataclasses.dataclass(frozen=True)
class SourceTask:
    """The training task a version is imported from: its Id, and what its detail says when given."""

    id: str
    name: str | None = None
    framework: str | None = None
    output: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, value: Any, parameter: str = "training_task") -> SourceTask:
        """A training task Id (``train-…``), or the dict ``CreateTrainingTaskOperator`` returns;
        ``JobSpecError`` naming ``parameter`` otherwise."""
        if isinstance(value, str) and value.strip():
            return cls(value.strip())
        if isinstance(value, Mapping) and reply_text(value.get("Id")):
            output = value.get("Output")
            return cls(
                str(value["Id"]),
                reply_text(value.get("Name")),
                reply_text(value.get("FrameworkName")),
                output if isinstance(output, Mapping) else None,
            )
        raise JobSpecError(
            parameter,
            f"must be a training task Id or the dict of a training task with its Id, got {type(value).__name__}",
        )

    def model_folder(self) -> dict[str, Any] | None:
        """The COS folder of the task's model files (``output_prefix``), None when the task has no Output."""
        # A reply model's module: loaded when a task runs, not when a DAG file is parsed.
        from airflow_provider_tia.models.tione.training_task import output_prefix

        if not self.output or not self.output.get("Bucket"):
            return None
        prefix = output_prefix({"Id": self.id, "Output": self.output})
        return {"Bucket": self.output["Bucket"], "Region": self.output.get("Region") or "", "Paths": [prefix]}


def model_version_dataset_name(region: str | None, model_id: str, version_id: str) -> tuple[str, str]:
    """A model version's OpenLineage dataset (namespace, name): ``tione://<region>``,
    ``/models/<model Id>/versions/<version Id>``, so the service that serves it names the same dataset."""
    return f"tione://{region or ''}", f"/models/{model_id}/versions/{version_id}"
