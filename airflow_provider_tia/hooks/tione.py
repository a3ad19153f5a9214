"""TIONEHook: the ``tencentcloud`` connection -> a signed TI-ONE client (official SDK) -> typed task calls,
and the training logs' readers.

Logs (DescribeLogs, Service TRAIN): one window is read in ascending order, page by page with
``Context``, until a page is shorter than ``Limit``, empty, or carries no Context (DescribeLogs has no
end marker). Past 10,000 lines, or too much content, the service refuses the page
(``LogWindowTooLarge``): the lines read so far are returned and the ``LogCursor`` reads on from the
newest one, i.e. the window is narrowed. Sync and async readers share that logic (``dialogue``).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_tia.dialogue import Dialogue, adrive, drive, unless_gone
from airflow_provider_tia.exceptions import (
    TIONE_ERRORS,
    LogWindowTooLarge,
    MalformedResponse,
    TencentCloudApiError,
    TencentCloudError,
    TransientError,
)
from airflow_provider_tia.hooks.base import AsyncTencentCloudClient, TencentCloudBaseHook
from airflow_provider_tia.logs import next_context
from airflow_provider_tia.models.common import reply_item, reply_items, rfc3339
from airflow_provider_tia.models.tione import TrainingLogLine, TrainingTask

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from pendulum import DateTime
    from typing_extensions import Unpack

    from airflow_provider_tia.models.tione import TrainingTaskSpec

SERVICE = "tione"
API_VERSION = "2021-11-11"
LIST_PAGE_SIZE = 50  # DescribeTrainingTasks' maximum Limit


class TIONEHook(TencentCloudBaseHook):
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


class AsyncTIONEClient(AsyncTencentCloudClient):
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


# ------------------------------------------------------------------------------------------- logs
LOG_PAGE_SIZE = 1000  # DescribeLogs' maximum Limit


MIN_WINDOW = datetime.timedelta(seconds=1)


class TIONELogReader:
    """The logs of a training task's latest run, a window at a time.

    ``call(action, params) -> Response`` is the hook's (or a stand-in). The run (DescribeLogs'
    ServiceId) is the task's LatestInstanceId: when the task had none yet (just created, queued), it
    is looked up again on each read, and until it exists a read returns no lines.
    """

    def __init__(
        self,
        call: Callable[[str, dict[str, Any]], Any],
        task_id: str,
        instance_id: str | None = None,
        limit: int = LOG_PAGE_SIZE,
    ) -> None:
        self.call, self.task_id, self.instance_id, self.limit = call, task_id, instance_id, limit

    def dialogue(self, start: DateTime, end: DateTime) -> Dialogue[list[TrainingLogLine]]:
        """The calls of one window read (see ``dialogue.drive``)."""
        if not self.instance_id:
            detail = (yield "DescribeTrainingTask", {"Id": self.task_id}).get("TrainingTaskDetail") or {}
            self.instance_id = (
                (detail.get("LatestInstanceId") or None) if isinstance(detail, Mapping) else None
            )
            if not self.instance_id:
                return []
        while True:
            params, lines = self._params(start, end), list[TrainingLogLine]()
            try:
                while self._page(params, (yield "DescribeLogs", dict(params)), lines):
                    pass
                return lines
            except LogWindowTooLarge:
                if lines:
                    return lines  # the cursor reads on from the newest line
                if end - start <= MIN_WINDOW:
                    raise
                end = start + (end - start) / 2  # too much content in the first page: a narrower window

    def _params(self, start: DateTime, end: DateTime) -> dict[str, Any]:
        return {
            "Service": "TRAIN",
            "ServiceId": self.instance_id,
            "StartTime": rfc3339(start),
            "EndTime": rfc3339(end),
            "Order": "ASC",
            "Limit": self.limit,
        }

    def _page(self, params: dict[str, Any], response: dict[str, Any], lines: list[TrainingLogLine]) -> bool:
        """Take one reply's lines; True when another Context page follows."""
        content = reply_items("DescribeLogs", response, "Content", TrainingLogLine.from_api)
        lines.extend(content)
        return next_context(params, response, more=len(content) >= self.limit)

    def read(self, start: DateTime, end: DateTime) -> list[TrainingLogLine]:
        return drive(self.dialogue(start, end), self.call)

    def state(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id}


class AsyncTIONELogReader(TIONELogReader):
    """``TIONELogReader`` on an async ``call`` (for triggers)."""

    call: Callable[[str, dict[str, Any]], Awaitable[Any]]  # type: ignore[assignment]

    @classmethod
    def resumed(
        cls, call: Callable[[str, dict[str, Any]], Awaitable[Any]], task_id: str, state: dict[str, Any] | None
    ) -> AsyncTIONELogReader:
        """The reader of a task Id, from where an earlier reader stood (``state()``)."""
        return cls(call, task_id, (state or {}).get("instance_id"))  # type: ignore[arg-type]

    async def read(self, start: DateTime, end: DateTime) -> list[TrainingLogLine]:  # type: ignore[override]
        return await adrive(self.dialogue(start, end), self.call)
