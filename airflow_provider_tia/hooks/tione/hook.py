"""TIONEHook: the ``tencentcloud`` connection -> a signed TI-ONE client (official SDK) -> typed calls.

The training task actions live here; the model repository's and online services' actions join the same
class from their own modules (one connection, one error table, one retry policy).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_tia.dialogue import Dialogue, adrive, drive, unless_gone
from airflow_provider_tia.exceptions import (
    TIONE_ERRORS,
    MalformedResponse,
    TencentCloudApiError,
    TencentCloudError,
    TransientError,
)
from airflow_provider_tia.hooks.base import AsyncTencentCloudClient, TencentCloudBaseHook
from airflow_provider_tia.hooks.tione.logs import AsyncTIONELogReader, TIONELogReader
from airflow_provider_tia.hooks.tione.repository import AsyncModelRepositoryCalls, ModelRepositoryCalls
from airflow_provider_tia.hooks.tione.services import AsyncModelServiceCalls, ModelServiceCalls
from airflow_provider_tia.models.common import reply_item, reply_items
from airflow_provider_tia.models.tione.training_task import TrainingTask

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from typing_extensions import Unpack

    from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec

SERVICE = "tione"
API_VERSION = "2021-11-11"
LIST_PAGE_SIZE = 50  # DescribeTrainingTasks' maximum Limit


class TIONEHook(ModelRepositoryCalls, ModelServiceCalls, TencentCloudBaseHook):
    """Calls the TI-ONE API (service ``tione``, version ``2021-11-11``) through the official SDK.

    The same ``tencentcloud`` connection as ``TIAHook``: login = SecretId, password = SecretKey,
    extra ``region``, ``token``, ``scheme``. Endpoints per service:

    - extra ``endpoints`` ``{"tione": "...", "tia": "..."}`` wins for the services it names;
    - else the connection's ``endpoint`` (or host) serves both platforms, as a local emulator does,
      unless it is the Tencent Cloud host of another service (``tia.tencentcloudapi.com``): TI-ONE
      calls then go to the SDK's default, ``tione.tencentcloudapi.com``.

    TI-ONE has no client token: ``create_training_task`` recovers a lost reply through the task's
    tags (the caller puts a key unique to the attempt in them). Tasks are addressed by Id only.

    Example::

        hook = TIONEHook(tencentcloud_conn_id="tencentcloud_default")
        task_id = hook.create_training_task(spec.with_tags({"airflow-key": key}))
        task = hook.describe_training_task(task_id)

    Parameters: see ``TencentCloudBaseHook``.
    """

    hook_name = "Tencent Cloud TI-ONE"
    service = SERVICE
    api_version = API_VERSION
    errors = TIONE_ERRORS

    def create_training_task(self, spec: TrainingTaskSpec) -> str:
        """CreateTrainingTask -> the task's Id. A lost reply is reconciled by the spec's tags, never duplicated.

        TI-ONE takes no client token, so a retry could create a second task: before each retry, and
        after a call that failed once it had been attempted more than once, the task is looked up by
        its tags and name, and exactly one match is it.
        """
        request = spec.to_request()

        def created_meanwhile() -> dict[str, Any] | None:
            found = self._created(spec)
            return {"Id": found.id, "RequestId": None} if found is not None else None

        try:
            response = self.call("CreateTrainingTask", request, before_retry=created_meanwhile)
        except TencentCloudApiError as error:
            if error.attempts <= 1 and not isinstance(error, TransientError):
                raise
            return self._reconcile(spec, error)
        task_id = response.get("Id")
        if not isinstance(task_id, str) or not task_id:
            raise MalformedResponse(
                "CreateTrainingTask: the reply has no Id", request_id=response.get("RequestId")
            )
        self.log.info(
            "Created TI-ONE training task %s (%s) (RequestId: %s)",
            spec.name,
            task_id,
            response.get("RequestId"),
        )
        return task_id

    def _created(self, spec: TrainingTaskSpec) -> TrainingTask | None:
        """The one task carrying the spec's tags and name, if exactly one does."""
        tags = {tag["TagKey"]: tag["TagValue"] for tag in spec.to_request().get("Tags", [])}
        found = self.find_training_tasks(name=spec.name, tags=tags) if tags else []
        return found[0] if len(found) == 1 else None

    def _reconcile(self, spec: TrainingTaskSpec, error: TencentCloudApiError) -> str:
        try:
            found = self._created(spec)
        except TencentCloudError:
            raise error from None
        if found is None:
            raise error
        self.log.warning(
            "CreateTrainingTask of %s: %s; %s carries its tags, using it", spec.name, error, found.label
        )
        return found.id

    def describe_training_task(self, task_id: str) -> TrainingTask:
        """DescribeTrainingTask; ``JobNotFound`` when there is no such task."""
        return drive(_describe(task_id), self.call)

    def find_training_tasks(
        self,
        *,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        statuses: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> list[TrainingTask]:
        """DescribeTrainingTasks with these filters, every page (list items: no LatestInstanceId)."""
        return drive(_find(ids=ids, name=name, statuses=statuses, tags=tags), self.call)

    def stop_training_task(self, task_id: str, missing_ok: bool = True) -> bool:
        """StopTrainingTask (asynchronous: poll for STOPPED). False when the task does not exist."""
        return self._act("StopTrainingTask", task_id, missing_ok=missing_ok)

    def start_training_task(self, task_id: str) -> None:
        """StartTrainingTask: run the task again (a new LatestInstanceId)."""
        self._act("StartTrainingTask", task_id, missing_ok=False)

    def delete_training_task(self, task_id: str, missing_ok: bool = True) -> bool:
        """DeleteTrainingTask. False when the task was already gone."""
        return self._act("DeleteTrainingTask", task_id, missing_ok=missing_ok)

    def _act(self, action: str, task_id: str, *, missing_ok: bool) -> bool:
        response = drive(unless_gone(action, {"Id": task_id}, missing_ok=missing_ok), self.call)
        if response is not None:
            self.log.info("%s %s (RequestId: %s)", action, task_id, response.get("RequestId"))
        return response is not None

    def log_reader(self, task: TrainingTask | str, state: dict[str, Any] | None = None) -> TIONELogReader:
        """The log reader of a task (or of a task Id, resuming from ``state``: ``reader.state()``)."""
        return TIONELogReader(self.call, *_instance_of(task, state))

    def probe(self) -> tuple[str, dict[str, Any]]:
        """``test_connection``'s call: DescribeTrainingTasks, Limit 1, in the connection's region."""
        return "DescribeTrainingTasks", {"Limit": 1, "Offset": 0}

    async def async_client(self) -> AsyncTIONEClient:
        """An async client (httpx) for triggers; use it as ``async with await hook.async_client() as c``."""
        return await self._async_client(AsyncTIONEClient)


class AsyncTIONEClient(AsyncModelRepositoryCalls, AsyncModelServiceCalls, AsyncTencentCloudClient):
    """The task calls a trigger needs, on the SDK's async client. Close it (``async with``) when done."""

    async def describe_training_task(self, task_id: str) -> TrainingTask:
        return await adrive(_describe(task_id), self.call)

    async def find_training_tasks(self, **filters: Unpack[TaskFilters]) -> list[TrainingTask]:
        """The async twin of ``TIONEHook.find_training_tasks`` (same keyword filters)."""
        return await adrive(_find(**filters), self.call)

    async def stop_training_task(self, task_id: str, missing_ok: bool = True) -> bool:
        return (
            await adrive(unless_gone("StopTrainingTask", {"Id": task_id}, missing_ok=missing_ok), self.call)
            is not None
        )

    async def delete_training_task(self, task_id: str, missing_ok: bool = True) -> bool:
        return (
            await adrive(unless_gone("DeleteTrainingTask", {"Id": task_id}, missing_ok=missing_ok), self.call)
            is not None
        )

    def log_reader(
        self, task: TrainingTask | str, state: dict[str, Any] | None = None
    ) -> AsyncTIONELogReader:
        return AsyncTIONELogReader(self.call, *_instance_of(task, state))


# ------------------------------------------------------------------------------- shared call logic
def _describe(task_id: str) -> Dialogue[TrainingTask]:
    response = yield "DescribeTrainingTask", {"Id": task_id}
    return reply_item("DescribeTrainingTask", response, "TrainingTaskDetail", TrainingTask.from_api)


class TaskFilters(TypedDict, total=False):
    """DescribeTrainingTasks filters: task Ids, exact name, statuses, tags (all must hold)."""

    ids: Iterable[str] | None
    name: str | None
    statuses: Iterable[str] | None
    tags: Mapping[str, str] | None


def _find(
    *,
    ids: Iterable[str] | None = None,
    name: str | None = None,
    statuses: Iterable[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Dialogue[list[TrainingTask]]:
    """Every page of DescribeTrainingTasks; the filters are applied again to what comes back.

    The end is a short page (what TotalCount counts is open), or a page of nothing new (a service
    that ignored Offset). Name matching may be fuzzy and list items may carry no Tags, so the
    filters are re-checked here: exact name, listed ids and statuses, and tags where present.
    Many ids are asked for a page's worth at a time (one Filter of 1,000 Values may be refused;
    the calls are as many as the pages of one filter would be).
    """
    wanted = {
        "Id": sorted(set(ids)) if ids is not None else None,
        "Name": [name] if name is not None else None,
        "Status": sorted({s.upper() for s in statuses}) if statuses is not None else None,
    }
    all_ids = wanted["Id"]
    id_sets = (
        [None]
        if all_ids is None
        else [all_ids[i : i + LIST_PAGE_SIZE] for i in range(0, len(all_ids), LIST_PAGE_SIZE)]
    )
    found: dict[str, TrainingTask] = {}
    for id_set in id_sets:
        most = len(id_set) if id_set is not None else math.inf  # no more tasks than the ids it names
        params: dict[str, Any] = {"Offset": 0, "Limit": LIST_PAGE_SIZE}
        filters = [
            {"Name": key, "Values": values}
            for key, values in {**wanted, "Id": id_set}.items()
            if values is not None
        ]
        if filters:
            params["Filters"] = filters
        if tags:
            params["TagFilters"] = [{"TagKey": key, "TagValues": [value]} for key, value in tags.items()]
        while True:
            response = yield "DescribeTrainingTasks", dict(params)
            page = reply_items("DescribeTrainingTasks", response, "TrainingTaskSet", TrainingTask.from_api)
            new = [task for task in page if task.id not in found]
            found.update((task.id, task) for task in new if _matches(task, wanted, tags))
            params["Offset"] += len(page)
            if len(page) < LIST_PAGE_SIZE or not new or params["Offset"] >= most:
                break
    return list(found.values())


def _matches(
    task: TrainingTask, wanted: Mapping[str, list[str] | None], tags: Mapping[str, str] | None
) -> bool:
    checks = (("Id", task.id), ("Name", task.name), ("Status", task.state_name))
    if any(wanted[key] is not None and value not in wanted[key] for key, value in checks):  # type: ignore[operator]
        return False
    if tags and isinstance(task.raw.get("Tags"), list):
        return all(task.tags.get(key) == value for key, value in tags.items())
    return True


def _instance_of(task: TrainingTask | str, state: dict[str, Any] | None) -> tuple[str, str | None]:
    """The task's Id and latest run; a resumed reader's run when the task read carries none (a list
    item, or only the Id)."""
    saved = (state or {}).get("instance_id")
    if isinstance(task, str):
        return task, saved
    return task.id, task.latest_instance_id or saved
