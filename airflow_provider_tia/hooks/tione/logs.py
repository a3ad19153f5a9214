"""The training logs' readers (DescribeLogs, Service TRAIN), sync and async.

One window is read in ascending order, page by page with ``Context``, until a page is shorter than
``Limit``, empty, or carries no Context (DescribeLogs has no end marker). Past 10,000 lines, or too much
content, the service refuses the page (``LogWindowTooLarge``): the lines read so far are returned and the
``LogCursor`` reads on from the newest one, i.e. the window is narrowed. Sync and async readers share
that logic (``dialogue``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.dialogue import Dialogue, adrive, drive
from airflow_provider_tia.exceptions import (
    LogWindowTooLarge,
)
from airflow_provider_tia.logs import next_context
from airflow_provider_tia.models.common import reply_items, rfc3339
from airflow_provider_tia.models.tione.training_task import TrainingLogLine

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pendulum import DateTime


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
