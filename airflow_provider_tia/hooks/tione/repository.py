"""The model repository's calls on ``TIONEHook`` (CreateTrainingModel, DescribeTrainingModelVersion(s),
DeleteTrainingModel(Version), DescribeTrainingModels): a mixin, so one hook keeps one connection, one
error table and one retry policy for every TI-ONE action.

A missing version or model reads as ``JobNotFound`` (the service answers ``ResourceNotFound`` or
``ResourceNotFound.NoModel``), as a missing training task does. CreateTrainingModel takes no client
token: a lost reply of a ``VERSION`` import is found again by its ``TrainingJobId`` (the training task it
imports), never sent twice. A lost reply of a ``MODEL`` import is found the same way in the models of
its name, which only DescribeTrainingModels lists: that action left the public API and may be gone.
We assume a service without it answers ``InvalidAction`` (or ``UnsupportedOperation``/``ActionOffline``);
then nothing is found and a lost first import may leave a second model of the name: callers that must
never create one pass a model Id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia.dialogue import Dialogue, adrive, drive, unless_gone
from airflow_provider_tia.exceptions import (
    InvalidParameter,
    JobNotFound,
    MalformedResponse,
    TencentCloudApiError,
    TencentCloudError,
    TransientError,
)
from airflow_provider_tia.models.common import reply_item, reply_items, reply_text
from airflow_provider_tia.models.tione.repository import ModelVersion, version_of_task

if TYPE_CHECKING:
    from airflow_provider_tia.models.tione.repository import TrainingModelSpec

MAX_FILTER_VALUES = 100  # DescribeTrainingModelVersions: values of one filter
MODELS_PAGE = 50  # DescribeTrainingModels: models per page
MAX_MODEL_PAGES = 20  # models sharing a name fuzzily beyond 1,000 are not looked at
NO_ACTION = ("InvalidAction", "UnsupportedOperation", "ActionOffline")  # the service lacks the action


class ModelRepositoryCalls:
    """Model-repository calls of ``TIONEHook`` (sync)."""

    if TYPE_CHECKING:
        log: Any  # the hook's logger (Airflow's LoggingMixin)

        def call(
            self, action: str, params: dict[str, Any], *, before_retry: Any = None
        ) -> dict[str, Any]: ...

    def create_training_model(self, spec: TrainingModelSpec) -> tuple[str, str]:
        """CreateTrainingModel -> (model Id, version Id). The import runs on: poll the version.

        For an import of a training task, a lost reply is reconciled by the task's Id: before each retry,
        and after a call that may have acted, the version importing that task is looked up (in the model
        for ``VERSION``; in the models of the name, newest first, for ``MODEL`` when the service lists
        models), and it is the answer.
        """
        request = spec.to_request()
        model_id, job_id, name = spec.training_model_id, spec.training_job_id, spec.training_model_name
        by_model = spec.import_method == "VERSION" and model_id is not None
        by_name = spec.import_method == "MODEL" and name is not None
        reconcilable = job_id is not None and (by_model or by_name)

        def created_meanwhile() -> dict[str, Any] | None:
            if not reconcilable:
                return None
            models = [model_id] if by_model else self.find_models_named(str(name)) or []
            for candidate in models:
                found = self.find_version_of_task(str(candidate), str(job_id))
                if found is not None:
                    return {"Id": candidate, "TrainingModelVersionId": found.id}
            return None

        try:
            response = self.call("CreateTrainingModel", request, before_retry=created_meanwhile)
        except JobNotFound as error:  # what the request refers to is missing: a bad parameter
            raise InvalidParameter(error.message, code=error.code, request_id=error.request_id) from None
        except TencentCloudApiError as error:
            if not reconcilable or (error.attempts <= 1 and not isinstance(error, TransientError)):
                raise
            try:
                found = created_meanwhile()
            except TencentCloudError:
                raise error from None
            if found is None:
                raise
            self.log.warning(
                "CreateTrainingModel: %s; the version importing %s exists, using it", error, job_id
            )
            response = found
        new_model, version_id = response.get("Id"), response.get("TrainingModelVersionId")
        if (
            not isinstance(new_model, str)
            or not new_model
            or not isinstance(version_id, str)
            or not version_id
        ):
            raise MalformedResponse(
                "CreateTrainingModel: the reply has no Id or TrainingModelVersionId",
                request_id=response.get("RequestId"),
            )
        self.log.info(
            "Created TI-ONE model version %s of %s (RequestId: %s)",
            version_id,
            new_model,
            response.get("RequestId"),
        )
        return new_model, version_id

    def find_models_named(self, name: str) -> list[str] | None:
        """The Ids of the models named exactly ``name``, newest first (DescribeTrainingModels); None when
        the service does not know the action (then nobody can tell which models exist)."""
        return drive(models_named(name), self.call)

    def newest_model_named(self, name: str) -> str | None:
        """The newest model named ``name``; None when there is none or the service cannot list models."""
        found = self.find_models_named(name)
        return found[0] if found else None

    def describe_training_model_version(self, version_id: str) -> ModelVersion:
        """DescribeTrainingModelVersion; ``JobNotFound`` when there is no such version."""
        return drive(describe_version(version_id), self.call)

    def describe_training_model_versions(
        self, model_id: str, version_ids: list[str] | None = None
    ) -> list[ModelVersion]:
        """DescribeTrainingModelVersions (every version; only ``version_ids`` when given). ``JobNotFound``
        when the model does not exist."""
        return drive(describe_versions(model_id, version_ids), self.call)

    def find_version_of_task(self, model_id: str, training_job_id: str) -> ModelVersion | None:
        """The model's version imported from this training task, or None (also when the model is gone)."""
        try:
            versions = self.describe_training_model_versions(model_id)
        except JobNotFound:
            return None
        return version_of_task(versions, training_job_id)

    def delete_training_model_version(
        self, version_id: str, *, enable_delete_cos: bool = False, missing_ok: bool = True
    ) -> bool:
        """DeleteTrainingModelVersion. False when the version was already gone."""
        params = {"TrainingModelVersionId": version_id, "EnableDeleteCos": enable_delete_cos}
        response = drive(unless_gone("DeleteTrainingModelVersion", params, missing_ok=missing_ok), self.call)
        if response is not None:
            self.log.info(
                "Deleted TI-ONE model version %s (RequestId: %s)", version_id, response.get("RequestId")
            )
        return response is not None

    def delete_training_model(
        self, model_id: str, *, enable_delete_cos: bool = False, missing_ok: bool = True
    ) -> bool:
        """DeleteTrainingModel (every version). False when the model was already gone."""
        params = {"TrainingModelId": model_id, "EnableDeleteCos": enable_delete_cos}
        response = drive(_delete_model(params, missing_ok), self.call)
        return response is not None


class AsyncModelRepositoryCalls:
    """Model-repository calls of ``AsyncTIONEClient`` (what a trigger reads)."""

    if TYPE_CHECKING:

        async def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]: ...

    async def describe_training_model_version(self, version_id: str) -> ModelVersion:
        return await adrive(describe_version(version_id), self.call)

    async def describe_training_model_versions(
        self, model_id: str, version_ids: list[str] | None = None
    ) -> list[ModelVersion]:
        return await adrive(describe_versions(model_id, version_ids), self.call)

    async def delete_training_model_version(self, version_id: str, *, missing_ok: bool = True) -> bool:
        params = {"TrainingModelVersionId": version_id, "EnableDeleteCos": False}
        return (
            await adrive(unless_gone("DeleteTrainingModelVersion", params, missing_ok=missing_ok), self.call)
            is not None
        )


# ------------------------------------------------------------------------------- shared call logic
def _not_found(error: TencentCloudApiError) -> TencentCloudApiError:
    """``ResourceNotFound.NoModel`` (a missing model, which the error table calls a bad parameter) as
    ``JobNotFound``; any other error unchanged."""
    if isinstance(error, JobNotFound) or not (error.code or "").startswith("ResourceNotFound"):
        return error
    found = JobNotFound(error.message, code=error.code, request_id=error.request_id)
    found.attempts = error.attempts
    return found


def _delete_model(params: dict[str, Any], missing_ok: bool) -> Dialogue[dict[str, Any] | None]:
    """DeleteTrainingModel; None when the model is gone and that is fine (``missing_ok``, or a retried call)."""
    try:
        return (yield "DeleteTrainingModel", params)
    except TencentCloudApiError as error:
        gone = _not_found(error)
        if isinstance(gone, JobNotFound) and (missing_ok or gone.attempts > 1):
            return None
        raise gone from None


def describe_version(version_id: str) -> Dialogue[ModelVersion]:
    try:
        response = yield "DescribeTrainingModelVersion", {"TrainingModelVersionId": version_id}
    except TencentCloudApiError as error:
        raise _not_found(error) from None
    return reply_item("DescribeTrainingModelVersion", response, "TrainingModelVersion", ModelVersion.from_api)


def describe_versions(model_id: str, version_ids: list[str] | None = None) -> Dialogue[list[ModelVersion]]:
    """One DescribeTrainingModelVersions (the action has no paging); with ``version_ids``, filtered by
    them (several values match exactly; one may match fuzzily, so the reply is filtered again)."""
    params: dict[str, Any] = {"TrainingModelId": model_id}
    wanted = sorted(set(version_ids)) if version_ids is not None else None
    if wanted is not None and len(wanted) <= MAX_FILTER_VALUES:
        params["Filters"] = [{"Name": "TrainingModelVersionId", "Values": wanted}]
    try:
        response = yield "DescribeTrainingModelVersions", params
    except TencentCloudApiError as error:
        raise _not_found(error) from None
    versions = reply_items(
        "DescribeTrainingModelVersions", response, "TrainingModelVersions", ModelVersion.from_api
    )
    return versions if wanted is None else [v for v in versions if v.id in wanted]


def models_named(name: str) -> Dialogue[list[str] | None]:
    """DescribeTrainingModels by ``keyword`` (one value matches fuzzily: the reply is filtered again to
    the exact name), page by page, newest first; None when the service lacks the action."""
    found: list[tuple[str, str]] = []  # (CreateTime, Id)
    for page in range(MAX_MODEL_PAGES):
        params = {
            "Filters": [{"Name": "keyword", "Values": [name]}],
            "OrderField": "CreateTime", "Order": "DESC", "Offset": page * MODELS_PAGE, "Limit": MODELS_PAGE,
        }  # fmt: skip
        try:
            response = yield "DescribeTrainingModels", params
        except TencentCloudApiError as error:
            if (error.code or "").split(".")[0] in NO_ACTION:
                return None
            raise
        models = reply_items("DescribeTrainingModels", response, "TrainingModels", _model_entry)
        found += [(created, model_id) for model_id, model_name, created in models if model_name == name]
        total = response.get("TotalCount")
        if len(models) < MODELS_PAGE or (isinstance(total, int) and (page + 1) * MODELS_PAGE >= total):
            break
    found.sort(key=lambda entry: entry[0], reverse=True)  # stable: the reply's order among equal times
    return list(dict.fromkeys(model_id for _, model_id in found))


def _model_entry(item: Any) -> tuple[str, str | None, str]:
    """(Id, name, CreateTime) of a TrainingModelDTO; ``MalformedResponse`` without an Id."""
    model_id = reply_text(item.get("TrainingModelId")) if isinstance(item, dict) else None
    if model_id is None:
        raise MalformedResponse("DescribeTrainingModels: a model of the reply has no TrainingModelId")
    return model_id, reply_text(item.get("TrainingModelName")), reply_text(item.get("CreateTime")) or ""
