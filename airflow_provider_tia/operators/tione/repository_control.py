"""One execution's calls on one model version (``ModelImportControl``): read, find by training task,
create, delete. Loaded when a task runs, not when a DAG file builds ``RegisterModelVersionOperator``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.models.tione.repository import ModelVersion, ModelVersionKey
from airflow_provider_tia.operators.control import JobControl

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.repository import TrainingModelSpec


class ModelImportControl(JobControl[ModelVersionKey]):
    """One execution's model-version calls: read, find by training task, create, delete.

    :param kill_action: What a kill does to the version being imported: ``LEAVE`` (the import goes on and
        a retry reuses it) or ``DELETE``.
    """

    key_type = ModelVersionKey
    # Called with the new version's key as soon as CreateTrainingModel answers, before anything else can
    # fail: a first import (a new model) can be found again only through what was recorded.
    on_created: Callable[[ModelVersionKey], None] | None = None
    final_states = ("STATUS_SUCCESS", "STATUS_FAILED")
    success_state = "STATUS_SUCCESS"
    state_field = "TrainingModelStatus"

    hook: TIONEHook

    def key_of(self, job: ModelVersion) -> ModelVersionKey:
        return ModelVersionKey(job.model_name, job.model_id, job.id, job.version_label, job.training_job_id)

    def matches(self, key: ModelVersionKey, job: ModelVersion) -> bool:
        return job.id == key.version_id

    def describe(self, key: ModelVersionKey) -> ModelVersion:
        version_id = key.version_id or self._id_by_task(key)
        return self.read_found(key, version_id, self.hook.describe_training_model_version)

    def _id_by_task(self, key: ModelVersionKey) -> str | None:
        if not key.model_id or not key.task:
            return None
        found = self.hook.find_version_of_task(key.model_id, key.task)
        return found.id if found is not None else None

    def versions(self, model_id: str) -> list[ModelVersion]:
        """The model's versions (riding out transient errors); ``JobNotFound`` when the model is gone."""
        return self.retrying(
            lambda: self.hook.describe_training_model_versions(model_id),
            f"Reading the versions of {model_id}",
        )

    def create(self, spec: TrainingModelSpec, key: ModelVersionKey) -> ModelVersion:
        """CreateTrainingModel (a kill during the call ends what it made), then the version as read."""
        model_id, version_id = self.create_watched(key, lambda: self.hook.create_training_model(spec))
        self.target = dataclasses.replace(key, model_id=model_id, version_id=version_id)
        if self.on_created is not None:
            self.on_created(self.target)
        version = self.read(self.target)
        self.remember(version, self.target)
        return version

    def end(self, key: ModelVersionKey, action: EndAction, *, fresh_hook: bool = False) -> None:
        if action is not EndAction.DELETE:
            return
        hook = self.hook.copy() if fresh_hook else self.hook
        version_id = key.version_id or self._id_by_task(key)
        if version_id is not None:
            self.retrying(lambda: hook.delete_training_model_version(version_id), f"Deleting {key.label}")
