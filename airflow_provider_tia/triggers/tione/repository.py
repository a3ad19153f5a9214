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

from airflow_provider_tia.ending import EndAction
from airflow_provider_tia.exceptions import TencentCloudError
from airflow_provider_tia.triggers.base import JobWatchTrigger
from airflow_provider_tia.triggers.poller import BatchPoller

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.tione import AsyncTIONEClient, TIONEHook
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


class ModelVersionTrigger(JobWatchTrigger):
    """Polls a TI-ONE model version until its import ends (STATUS_SUCCESS or STATUS_FAILED), then fires
    one event (see ``JobWatchTrigger``).

    Example::

        ModelVersionTrigger(training_model_id="m-1511805105118762624",
                            training_model_version_id="mv-v2-1511805105118769999", poll_interval=10)

    :param training_model_id: The model's Id (``m-…``): versions of one model are read together.
    :param training_model_version_id: The version's Id (``mv-…``).
    :param tencentcloud_conn_id: Airflow connection id (credentials are read in the triggerer).
    :param region: Region overriding the connection's.
    :param poll_interval: Seconds between two reads.
    :param deadline: Epoch seconds after which waiting stops, or None.
    :param budget: The task's budget in seconds, for the timeout message.
    :param kill_action: What a user killing the deferred task does: ``"leave"`` (the import goes on; a
        retry reuses the version) or ``"delete"`` (the version is deleted).
    :param batched: Share one poller per region in the triggerer (default).
    :param resume: What the task needs when it resumes; echoed in the event.
    :param not_before: Epoch seconds before which no event fires.
    """

    poller_class = ModelVersionPoller

    def __init__(
        self,
        training_model_id: str,
        training_model_version_id: str,
        tencentcloud_conn_id: str = "tencentcloud_default",
        region: str | None = None,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        kill_action: EndAction | str = EndAction.LEAVE,
        batched: bool = True,
        budget: float | None = None,
        resume: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        default_key = {"model_id": training_model_id, "version_id": training_model_version_id}
        super().__init__(
            tencentcloud_conn_id=tencentcloud_conn_id,
            region=region,
            poll_interval=poll_interval,
            deadline=deadline,
            budget=budget,
            kill_action=EndAction(kill_action),
            batched=batched,
            not_before=not_before,
            resume=dict(resume or {"key": default_key}),
        )
        self.training_model_id = training_model_id
        self.training_model_version_id = training_model_version_id

    def platform_kwargs(self) -> dict[str, Any]:
        return {
            "training_model_id": self.training_model_id,
            "training_model_version_id": self.training_model_version_id,
        }

    @property
    def label(self) -> str:
        from airflow_provider_tia.models.tione.repository import version_label

        key = self.resume.get("key") or {}
        return version_label(key.get("name"), key.get("label"), self.training_model_version_id)

    @property
    def scope(self) -> str:
        return self.region or ""

    @property
    def watch_name(self) -> str:
        return watch_name(self.training_model_id, self.training_model_version_id)

    def _hook(self) -> TIONEHook:
        from airflow_provider_tia.hooks.tione import TIONEHook

        return TIONEHook(self.tencentcloud_conn_id, self.region)

    async def _client(self) -> AsyncTIONEClient:
        return await self._hook().async_client()

    async def _describe(self, client: AsyncTIONEClient) -> ModelVersion:
        return await client.describe_training_model_version(self.training_model_version_id)

    async def _end_job(self) -> None:
        """``delete``: delete the version being imported; ``leave``: nothing."""
        if self.kill_action is not EndAction.DELETE:
            return
        async with await self._client() as client:
            await client.delete_training_model_version(self.training_model_version_id)
        self.log.info("%s was deleted", self.label)
