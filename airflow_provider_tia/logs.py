"""Follow a job's logs with QueryLogs: every line once, none lost, across polls and task resumes.

QueryLogs takes windows with one-second resolution and returns at most 10,000 lines per window, and
a cloud log store may index a line a little after its time. So each poll re-reads a short overlap
before the newest line seen and drops the lines already printed (same time, pod, container, text).
The follower's position is a small JSON-safe dict, so a deferred task hands it to ``execute_complete``.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_tia.job import parse_time

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pendulum import DateTime

    from airflow_provider_tia.hooks.tia import TIAHook
    from airflow_provider_tia.job import LogLine

log = logging.getLogger(__name__)
WINDOW_CAP = 10_000  # QueryLogs' limit of lines per query window
DEFAULT_OVERLAP = 5.0  # seconds re-read before the newest line, for lines indexed late


class LogFollower:
    """Prints new log lines of one job through ``emit``; call ``poll()`` as often as you like.

    Example::

        follower = LogFollower(hook, "test-job", "ap-beijing", since=job.create_time, emit=log.info)
        follower.poll()          # prints lines not printed before
        follower.last_lines(20)  # the tail, for an error message
        state = follower.state() # JSON-safe; LogFollower.from_state(hook, state, emit) resumes
    """

    def __init__(
        self,
        hook: TIAHook,
        job_name: str,
        cluster: str,
        *,
        since: DateTime | None = None,
        emit: Callable[[str], None] = print,
        overlap: float = DEFAULT_OVERLAP,
        page_size: int = 1000,
        tail_size: int = 50,
    ) -> None:
        self.hook = hook
        self.job_name = job_name
        self.cluster = cluster
        self.emit = emit
        self.overlap = overlap
        self.page_size = page_size
        # Start a little before the job's creation: clocks differ and windows have 1 s resolution.
        self.since: DateTime = (since or pendulum.now("UTC")).subtract(seconds=2)
        self.newest: DateTime | None = None
        self.seen: dict[tuple[str, str, str, str], DateTime | None] = {}
        self.tail: deque[str] = deque(maxlen=tail_size)
        self.lines_emitted = 0
        self.calls = 0

    def poll(self) -> int:
        """Emit the lines that appeared since the last poll; returns how many were emitted."""
        emitted = 0
        start = self._window_start()
        while True:
            count, last_time = 0, None
            for line in self._query(start):
                count += 1
                if line.time is not None and (last_time is None or line.time > last_time):
                    last_time = line.time
                if line.key not in self.seen:
                    self._emit(line)
                    emitted += 1
            self._forget_old()
            if count < WINDOW_CAP or last_time is None:
                return emitted
            # A full window may hide more lines: go on from the second of its newest line.
            if int(last_time.timestamp()) <= int(start.timestamp()):
                log.warning(
                    "More than %d log lines of %s within one second: QueryLogs cannot page past them",
                    WINDOW_CAP,
                    self.job_name,
                )
                return emitted
            start = last_time

    def _query(self, start: DateTime) -> Iterator[LogLine]:
        end = pendulum.now("UTC").add(seconds=60)
        calls_before = self.hook.api_calls["QueryLogs"]
        yield from self.hook.query_logs(self.job_name, self.cluster, start, end, limit=self.page_size)
        self.calls += self.hook.api_calls["QueryLogs"] - calls_before

    def _window_start(self) -> DateTime:
        if self.newest is None:
            return self.since
        return max(self.since, self.newest.subtract(microseconds=int(self.overlap * 1_000_000)))

    def _emit(self, line: LogLine) -> None:
        self.seen[line.key] = line.time
        if line.time is not None and (self.newest is None or line.time > self.newest):
            self.newest = line.time
        text = line.format()
        self.tail.append(text)
        self.lines_emitted += 1
        self.emit(text)

    def _horizon(self) -> DateTime | None:
        """Lines older than this can't come back in a window: their keys may be forgotten."""
        if self.newest is None:
            return None
        return self.newest.subtract(microseconds=int((self.overlap + 2) * 1_000_000))

    def _forget_old(self) -> None:
        """Keep only the keys inside the overlap window: memory stays bounded on long jobs."""
        horizon = self._horizon()
        if horizon is None or len(self.seen) < 4 * self.page_size:
            return
        self.seen = {key: when for key, when in self.seen.items() if when is None or when >= horizon}

    def last_lines(self, count: int = 20) -> list[str]:
        return list(self.tail)[-count:]

    def state(self) -> dict[str, Any]:
        """JSON-safe position, to resume in another process."""
        horizon = self._horizon()
        return {
            "job_name": self.job_name,
            "cluster": self.cluster,
            "since": self.since.isoformat(),
            "newest": self.newest.isoformat() if self.newest else None,
            "seen": [
                list(k) for k, when in self.seen.items() if horizon is None or when is None or when >= horizon
            ],
            "lines_emitted": self.lines_emitted,
        }

    @classmethod
    def from_state(
        cls, hook: TIAHook, state: dict[str, Any], emit: Callable[[str], None] = print, **kwargs: Any
    ) -> LogFollower:
        follower = cls(hook, state["job_name"], state["cluster"], emit=emit, **kwargs)
        follower.since = pendulum.parse(state["since"])  # type: ignore[assignment]
        follower.newest = pendulum.parse(state["newest"]) if state.get("newest") else None  # type: ignore[assignment]
        follower.seen = {tuple(k): parse_time(k[0]) for k in state.get("seen", [])}  # type: ignore[misc]
        follower.lines_emitted = int(state.get("lines_emitted", 0))
        return follower
