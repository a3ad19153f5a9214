"""Request shapes and rules of the model-repository actions (CreateTrainingModel, DescribeTrainingModelVersion(s),
DeleteTrainingModel(Version), and DescribeTrainingModels as an extension).

What the emulator assumes where the service's rules are not published:

* ``TrainingModelVersion`` may be omitted (the next ``v<max+1>`` is taken) and must be unique in its model; a
  label is 1-32 letters, digits, ``.``, ``_`` or ``-`` (it is part of the version Id ``mv-<label>-<digits>``).
* ``TrainingModelName`` may repeat (the service lists no duplicate-name error for this action).
* ``TrainingModelCosPath`` may be omitted with ``TrainingModelSource=JOB``: the files are then taken from the
  training task's ``Output`` folder ``<Paths[0]><task Id>/``.
* DescribeTrainingModels (gone from the public API, still called by Tencent's own client) pages by
  ``Offset``/``Limit`` (at most 100), newest first by default, and filters by the names its SDK listed;
  ``keyword`` is the model's name (one value: a substring match).
"""

from __future__ import annotations

import re
from typing import Any

from .schema import _PROJECT, COS_PATH, IMAGE, NAME_RE, TAG, check_cos_path, invalid

MAX_MODEL_NAME = 60
MAX_INDEX_CHARS = 1000
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
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
FILTER = {"Name": "str", "Values": ["str"], "Negative": "bool", "Fuzzy": "bool"}
MODEL_FILTERS = ("keyword", "TrainingModelId", "ModelVersionType", "TrainingModelSource", "ModelFormat")
MAX_MODEL_PAGE = 100
VERSION_FILTERS = ("TrainingModelVersionId", "ModelVersionType", "ModelFormat", "AlgorithmFramework")

REPO_SCHEMAS: dict[str, dict[str, Any]] = {
    "CreateTrainingModel": {
        "ImportMethod!": "str", "ReasoningEnvironmentSource!": "str", **_PROJECT,
        "TrainingModelName": "str", "TrainingModelId": "str", "TrainingModelVersion": "str",
        "TrainingModelSource": "str", "TrainingJobId": "str", "TrainingJobName": "str",
        "TrainingJobVersion": "str", "TrainingModelCosPath": COS_PATH, "ModelOutputPath": COS_PATH,
        "ModelMoveMode": "str", "ModelFormat": "str", "AlgorithmFramework": "str",
        "ReasoningEnvironment": "str", "ReasoningEnvironmentId": "str", "ReasoningImageInfo": IMAGE,
        "TrainingModelIndex": "str", "ModelVersionType": "str", "TrainingPreference": "str",
        "AutoClean": "str", "MaxReservedModels": "int", "ModelCleanPeriod": "int", "IsQAT": "bool",
        "Tags": [TAG], "AutoMLTaskId": "str",
    },
    # An extension: the action left the public API (Tencent's own client still calls it).
    "DescribeTrainingModels": {
        **_PROJECT, "Filters": [FILTER], "TagFilters": [{"TagKey": "str", "TagValues": ["str"]}],
        "OrderField": "str", "Order": "str", "Offset": "int", "Limit": "int", "WithModelVersions": "bool",
        "ModelAffiliation": "str",
    },
    "DescribeTrainingModelVersion": {"TrainingModelVersionId!": "str", **_PROJECT},
    "DescribeTrainingModelVersions": {"TrainingModelId!": "str", **_PROJECT, "Filters": [FILTER]},
    "DeleteTrainingModel": {
        "TrainingModelId!": "str", **_PROJECT, "EnableDeleteCos": "bool", "ModelVersionType": "str",
    },
    "DeleteTrainingModelVersion": {"TrainingModelVersionId!": "str", **_PROJECT, "EnableDeleteCos": "bool"},
}  # fmt: skip


def _one_of(p: dict, field: str, allowed: tuple[str, ...]) -> None:
    if field in p and p[field] not in allowed:
        raise invalid(field, f"must be one of {', '.join(allowed)}")


def check_create_model(p: dict) -> None:
    """The rules of CreateTrainingModel beyond types (errors name the field)."""
    _one_of(p, "ImportMethod", IMPORT_METHODS)
    _one_of(p, "ReasoningEnvironmentSource", ENVIRONMENT_SOURCES)
    for field, allowed in (
        ("TrainingModelSource", MODEL_SOURCES), ("ModelMoveMode", MOVE_MODES),
        ("ModelVersionType", VERSION_TYPES), ("ModelFormat", MODEL_FORMATS),
        ("AlgorithmFramework", FRAMEWORKS), ("AutoClean", ("true", "false")),
    ):  # fmt: skip
        _one_of(p, field, allowed)
    method = p["ImportMethod"]
    if method == "MODEL":
        name = p.get("TrainingModelName")
        if name is None:
            raise invalid("TrainingModelName", "is required with ImportMethod MODEL")
        if not name or len(name) > MAX_MODEL_NAME or not NAME_RE.fullmatch(name):
            raise invalid(
                "TrainingModelName",
                f"must be 1-{MAX_MODEL_NAME} Chinese or English letters, digits, _ or -, "
                "starting with a letter or digit",
            )
    elif not p.get("TrainingModelId"):
        raise invalid("TrainingModelId", f"is required with ImportMethod {method}")
    if method == "EXIST" and not p.get("TrainingModelVersion"):
        raise invalid("TrainingModelVersion", "is required with ImportMethod EXIST")
    label = p.get("TrainingModelVersion")
    if label is not None and not LABEL_RE.fullmatch(label):
        raise invalid("TrainingModelVersion", "must be 1-32 letters, digits, '.', '_' or '-', e.g. v3")
    if p["ReasoningEnvironmentSource"] == "CUSTOM" and "ReasoningImageInfo" not in p:
        raise invalid("ReasoningImageInfo", "is required with ReasoningEnvironmentSource CUSTOM")
    for field in ("TrainingModelCosPath", "ModelOutputPath"):
        if field in p:
            check_cos_path(field, p[field])
    if "TrainingModelCosPath" not in p and not (
        p.get("TrainingModelSource") == "JOB" and p.get("TrainingJobId")
    ):
        raise invalid(
            "TrainingModelCosPath", "is required unless TrainingModelSource is JOB with a TrainingJobId"
        )
    if len(p.get("TrainingModelIndex", "")) > MAX_INDEX_CHARS:
        raise invalid("TrainingModelIndex", f"is longer than {MAX_INDEX_CHARS} characters")
    if not 1 <= p.get("MaxReservedModels", 1) <= 24:
        raise invalid("MaxReservedModels", "must be within [1, 24]")
    if not 1 <= p.get("ModelCleanPeriod", 1) <= 1440:
        raise invalid("ModelCleanPeriod", "must be within [1, 1440]")


def check_version_filters(filters: list[dict]) -> None:
    """DescribeTrainingModelVersions takes at most 10 filters of the four known names."""
    if len(filters) > 10:
        raise invalid("Filters", "has more than 10 items")
    for i, f in enumerate(filters):
        if f.get("Name") not in VERSION_FILTERS:
            raise invalid(f"Filters.{i}.Name", f"must be one of {', '.join(VERSION_FILTERS)}")
        if len(f.get("Values", [])) > 100:
            raise invalid(f"Filters.{i}.Values", "has more than 100 items")


def check_model_filters(p: dict) -> None:
    """DescribeTrainingModels: at most 10 filters of the listed names, a page of at most 100."""
    filters = p.get("Filters", [])
    if len(filters) > 10:
        raise invalid("Filters", "has more than 10 items")
    for i, f in enumerate(filters):
        if f.get("Name") not in MODEL_FILTERS:
            raise invalid(f"Filters.{i}.Name", f"must be one of {', '.join(MODEL_FILTERS)}")
    if not 0 <= p.get("Limit", 10) <= MAX_MODEL_PAGE:
        raise invalid("Limit", f"must be within [0, {MAX_MODEL_PAGE}]")
    if p.get("Offset", 0) < 0:
        raise invalid("Offset", "must not be negative")
    _one_of(p, "Order", ("ASC", "DESC"))
    _one_of(p, "OrderField", ("CreateTime",))
