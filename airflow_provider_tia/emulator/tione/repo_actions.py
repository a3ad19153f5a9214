"""The model-repository actions over a ModelRepo and its Importer, and the TrainingModelVersionDTO.

DescribeTrainingModels is an extension (the public API dropped it; Tencent's own client still calls it):
``RepoActions.list_models = False`` answers it ``InvalidAction``, as a service without the action does.

``EnableDeleteCos`` is accepted; the source files on COS are never deleted by a Delete (the emulator's own
copies always are). Deleting a version that a service still runs is refused with ``ResourceInUse``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import ApiError
from ..core.timefmt import rfc3339_nano
from .repo_schema import check_create_model, check_model_filters, check_version_filters
from .runners import output_prefix

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..core.auth import Account
    from .importer import Importer
    from .repo import ModelRepo
    from .store import TaskStore

EMPTY_COS = {"Bucket": "", "Region": "", "Paths": []}
EMPTY_IMAGE = {"ImageType": "", "ImageUrl": "", "RegistryRegion": "", "RegistryId": ""}


def zulu(ns: int | None) -> str:
    """Model and service times as the service writes them: ``2022-09-29T03:17:24Z`` ("" when unset)."""
    return rfc3339_nano(ns - ns % 1_000_000_000) if ns else ""


def version_dto(model: dict, version: dict) -> dict:
    """TrainingModelVersionDTO of a stored version."""
    s = version["Spec"]
    source = s.get("TrainingModelCosPath", s["Source"])
    return {
        "TrainingModelId": model["Id"], "TrainingModelName": model["Name"],
        "TrainingModelVersionId": version["Id"], "TrainingModelVersion": version["Label"],
        "TrainingModelSource": s.get("TrainingModelSource", "COS"),
        "TrainingModelCreateTime": zulu(model["CreateNs"]), "CreateTime": zulu(version["CreateNs"]),
        "TrainingModelCreator": model["Uin"], "AlgorithmFramework": s.get("AlgorithmFramework", ""),
        "TrainingModelFormat": s.get("ModelFormat", ""), "ReasoningEnvironment": s.get("ReasoningEnvironment", ""),
        "ReasoningEnvironmentId": s.get("ReasoningEnvironmentId", ""),
        "ReasoningEnvironmentSource": s["ReasoningEnvironmentSource"],
        "ReasoningImageInfo": {**EMPTY_IMAGE, **s.get("ReasoningImageInfo", {})},
        "TrainingModelIndex": s.get("TrainingModelIndex", ""), "TrainingJobName": s.get("TrainingJobName", ""),
        "TrainingJobId": s.get("TrainingJobId", ""), "TrainingJobVersion": s.get("TrainingJobVersion", ""),
        "TrainingModelCosPath": source, "ModelHotUpdatePath": source,
        "TrainingModelStatus": version["Status"], "TrainingModelProgress": version["Progress"],
        "TrainingModelErrorMsg": version["ErrorMsg"], "VersionType": s.get("ModelVersionType", "NORMAL"),
        "GPUType": "", "AutoClean": s.get("AutoClean", ""), "ModelCleanPeriod": s.get("ModelCleanPeriod", 0),
        "MaxReservedModels": s.get("MaxReservedModels", 0), "TrainingPreference": s.get("TrainingPreference", ""),
        "AutoMLTaskId": s.get("AutoMLTaskId", ""), "IsQAT": s.get("IsQAT", False),
    }  # fmt: skip


def _matches(dto: dict, filters: list[dict]) -> bool:
    """One value: a substring match; several: one must equal (the service's rule); filters AND-ed."""
    fields = {"ModelVersionType": "VersionType", "ModelFormat": "TrainingModelFormat"}
    for f in filters:
        value = str(dto.get(fields.get(f["Name"], f["Name"]), ""))
        values = f.get("Values", [])
        hit = (values[0] in value if len(values) == 1 else value in values) if values else True
        if hit == bool(f.get("Negative")):
            return False
    return True


def model_dto(model: dict, with_versions: bool) -> dict:
    """TrainingModelDTO of a stored model (its tags are those its first import was given)."""
    first = model["Versions"][0]["Spec"] if model["Versions"] else {}
    dto = {
        "TrainingModelId": model["Id"], "TrainingModelName": model["Name"], "Tags": first.get("Tags", []),
        "CreateTime": zulu(model["CreateNs"]), "ModelAffiliation": "MODEL_REPO",
    }  # fmt: skip
    if with_versions:
        dto["TrainingModelVersions"] = [version_dto(model, v) for v in model["Versions"]]
    return dto


def _model_matches(model: dict, filters: list[dict]) -> bool:
    """``keyword`` (the name) and ``TrainingModelId`` test the model; the other filters, any version."""
    by_model = {"keyword": "TrainingModelName", "TrainingModelId": "TrainingModelId"}
    dto = model_dto(model, False)
    for f in filters:
        if f["Name"] in by_model:
            if not _matches(dto, [{**f, "Name": by_model[f["Name"]]}]):
                return False
        elif not any(_matches(version_dto(model, v), [f]) for v in model["Versions"]):
            return False
    return True


class RepoActions:
    """Handlers of the model-repository actions (``handlers``: action -> fn(params, account))."""

    def __init__(
        self, repo: ModelRepo, importer: Importer, tasks: TaskStore, in_use: Callable[[str], str | None]
    ) -> None:
        self.repo, self.importer, self.tasks, self.in_use = repo, importer, tasks, in_use
        self.list_models = True  # False: DescribeTrainingModels is an unknown action (InvalidAction)
        self.handlers: dict[str, Callable[[dict, Account], dict]] = {
            "CreateTrainingModel": self.create, "DescribeTrainingModelVersion": self.describe,
            "DescribeTrainingModels": self.describe_models,
            "DescribeTrainingModelVersions": self.describe_many, "DeleteTrainingModel": self.delete_model,
            "DeleteTrainingModelVersion": self.delete_version,
        }  # fmt: skip

    def _source(self, p: dict, uin: str) -> dict:
        """The COS folder to import: TrainingModelCosPath, else the training task's output folder."""
        if "TrainingModelCosPath" in p:
            return dict(p["TrainingModelCosPath"])
        task = self.tasks.get(p["TrainingJobId"], uin)
        if task is None:
            raise ApiError("ResourceNotFound", f"The parameter `TrainingJobId`: no training task {p['TrainingJobId'][:64]!r}.")  # fmt: skip
        output = task["Spec"].get("Output")
        if output is None:
            raise ApiError("InvalidParameterValue", "The parameter `TrainingModelCosPath` is required: the training task has no Output.")  # fmt: skip
        return {**output, "Paths": [output_prefix(output["Paths"][0], task["Id"])]}

    def create(self, p: dict, account: Account) -> dict:
        check_create_model(p)
        p["Source"] = self._source(p, account.uin)
        model, version = self.repo.add_version(p, account.uin)
        self.importer.start(version["Id"])
        return {"Id": model["Id"], "TrainingModelVersionId": version["Id"]}

    def describe(self, p: dict, account: Account) -> dict:
        model, version = self.repo.require_version(p["TrainingModelVersionId"], account.uin)
        return {"TrainingModelVersion": version_dto(model, version)}

    def describe_many(self, p: dict, account: Account) -> dict:
        filters = p.get("Filters", [])
        check_version_filters(filters)
        model = self.repo.model(p["TrainingModelId"], account.uin)
        dtos = [version_dto(model, v) for v in model["Versions"]]
        return {"TrainingModelVersions": [d for d in dtos if _matches(d, filters)]}

    def describe_models(self, p: dict, account: Account) -> dict:
        """A page of the account's models (newest first unless ``Order=ASC``), filtered (``TagFilters`` is
        accepted and not applied)."""
        if not self.list_models:
            raise ApiError("InvalidAction", "The action `DescribeTrainingModels` is not found.")
        check_model_filters(p)
        models = [m for m in self.repo.models(account.uin) if _model_matches(m, p.get("Filters", []))]
        if p.get("Order", "DESC") == "DESC":
            models.reverse()
        offset, limit = p.get("Offset", 0), p.get("Limit", 10)
        page = [model_dto(m, bool(p.get("WithModelVersions"))) for m in models[offset : offset + limit]]
        return {"TrainingModels": page, "TotalCount": len(models)}

    def _refuse_in_use(self, version_ids: list[str]) -> None:
        for vid in version_ids:
            service = self.in_use(vid)
            if service:
                raise ApiError("ResourceInUse", f"The model version {vid} is used by the service {service}: delete the service first.")  # fmt: skip

    def delete_version(self, p: dict, account: Account) -> dict:
        self.repo.require_version(p["TrainingModelVersionId"], account.uin)
        self._refuse_in_use([p["TrainingModelVersionId"]])
        self.repo.delete_version(p["TrainingModelVersionId"], account.uin)
        return {}

    def delete_model(self, p: dict, account: Account) -> dict:
        kind = p.get("ModelVersionType")
        if kind is not None and kind not in ("NORMAL", "ACCELERATE"):
            raise ApiError("InvalidParameterValue", "The parameter `ModelVersionType` must be NORMAL or ACCELERATE.")  # fmt: skip
        model = self.repo.model(p["TrainingModelId"], account.uin)
        self._refuse_in_use([v["Id"] for v in model["Versions"]])
        self.repo.delete_model(p["TrainingModelId"], account.uin, kind)
        return {}
