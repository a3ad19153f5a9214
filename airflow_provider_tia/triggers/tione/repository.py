"""ModelVersionTrigger: waits in the triggerer until a TI-ONE model version's import ends.

The waiting, the event and the kill are ``JobWatchTrigger``'s; this module says how to read a version and
how one sweep reads many: the versions watched in one region are grouped by model, and each model's are
read with ONE DescribeTrainingModelVersions per sweep (the action has no paging), so N waits on versions
of one model cost one call per interval. A watched version the listing does not return (deleted) is read
with DescribeTrainingModelVersion, which tells a deleted version (not found) from a listing that lags.
There are no logs to follow: an import writes none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.exceptions import TencentCloudError
from airflow_provider_tia.models.tione.repository import ModelVersionKey
from airflow_provider_tia.triggers.base import taken_key
from airflow_provider_tia.triggers.poller import BatchPoller
from airflow_provider_tia.triggers.tione.base import TIONETrigger

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_tia.hooks.tione import AsyncTIONEClient
    from airflow_provider_tia.models.tione.repository import ModelVersion

SEPARATOR = "/"  # watch name: "<model Id>/<version Id>"


def watch_name(model_id: str, version_id: str) -> str:
    return f"{model_id}{SEPARATOR}{version_id}"


class ModelVersionPoller(BatchPoller):
    """TI-ONE: the watched model versions of one region, one DescribeTrainingModelVersions per model."""

    async def _read(self, client: AsyncTIONEClient, names: set[str]) -> dict[str, Any] | None:
        by_model: dict[str, dict[str, str]] = {}
        for name in names:
            model_id, _, version_id = name.partition(SEPARATOR)
            by_model.setdefault(model_id, {})[version_id] = name
        found: dict[str, Any] = {}
        missing: list[str] = []
        for model_id, wanted in by_model.items():
            try:
                versions = await client.describe_training_model_versions(model_id, sorted(wanted))
            except TencentCloudError as error:  # the model's watchers hear it (NF: the model is gone)
                found.update((name, error) for name in wanted.values())
                continue
            listed = {version.id: version for version in versions}
            for version_id, name in wanted.items():
                if version_id in listed:
                    found[name] = listed[version_id]
                else:
                    missing.append(name)
        if missing:

            async def describe(name: str) -> ModelVersion:
                return await client.describe_training_model_version(name.partition(SEPARATOR)[2])

            await self._describe_each(missing, describe, found)
        return found


class ModelVersionTrigger(TIONETrigger):
    """Polls a TI-ONE model version until its import ends (STATUS_SUCCESS or STATUS_FAILED), then fires
    one event (see ``JobWatchTrigger``).

    Example::

        ModelVersionTrigger(ModelVersionKey("resnet", "m-1511805105118762624", "mv-v2-1511805105118769999"),
                            poll_interval=10)

    :param key: The version (``ModelVersionKey`` with its model's and its own Id: versions of one model
        are read together) or its JSON form; the event's ``resume["key"]`` carries it back to the task.
    :param poll_interval: Seconds between two reads (default 10).
    :param kill_action: What a user killing the deferred task does: ``"leave"`` (default: the import
        goes on; a retry reuses the version) or ``"delete"`` (the version is deleted).
    :param common: ``JobWatchTrigger``'s keywords (connection, region, deadline, budget, batched, resume,
        not_before).

    A trigger serialized by an earlier release (``training_model_id``, ``training_model_version_id``,
    the key in ``resume["key"]``) still loads.
    """

    poller_class = ModelVersionPoller
    key: ModelVersionKey

    def __init__(
        self,
        key: ModelVersionKey | Mapping[str, Any] | None = None,
        *,
        poll_interval: float = 10.0,
        kill_action: EndAction | str = EndAction.LEAVE,
        resume: dict[str, Any] | None = None,
        training_model_id: str | None = None,
        training_model_version_id: str | None = None,
        **common: Any,
    ) -> None:
        earlier = {"model_id": training_model_id, "version_id": training_model_version_id}
        typed, resume = taken_key(
            "ModelVersionTrigger", ModelVersionKey, key, resume, earlier, ("model_id", "version_id")
        )
        super().__init__(
            key=typed, poll_interval=poll_interval, kill_action=kill_action, resume=resume, **common
        )

    @property
    def training_model_id(self) -> str:
        return str(self.key.model_id)

    @property
    def training_model_version_id(self) -> str:
        return str(self.key.version_id)

    @property
    def watch_name(self) -> str:
        return watch_name(self.training_model_id, self.training_model_version_id)

    async def _describe(self, client: AsyncTIONEClient) -> ModelVersion:
        return await client.describe_training_model_version(self.training_model_version_id)

    async def _end_job(self) -> None:
        """``delete``: delete the version being imported; ``leave``: nothing."""
        if self.kill_action is not EndAction.DELETE:
            return
        async with await self._client() as client:
            await client.delete_training_model_version(self.training_model_version_id)
        self.log.info("%s was deleted", self.label)
