"""Follow a job's logs: every line once, none lost, across polls, deferral, trigger restarts and retries.

Log services take time windows, return at most ``window_cap`` lines per window, and may index a
line a little after its time. So each poll re-reads a short overlap before the newest line seen and
drops the lines already printed (by the line's key). ``LogCursor`` is that bookkeeping, pure and
JSON-serialisable; ``LogFollower`` (blocking) and ``AsyncLogFollower`` (triggers) drive it with a
platform's reader (``read(start, end) -> lines``; lines have ``key``, ``time`` and ``format()``).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import pendulum

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping, Sequence

    from pendulum import DateTime

log = logging.getLogger(__name__)
WINDOW_CAP = 10_000  # lines one query window can return (TI-A QueryLogs, TI-ONE DescribeLogs)
DEFAULT_OVERLAP = 5.0  # seconds re-read before the newest line, for lines indexed late
TAIL_SIZE = 50
FORGET_AFTER = 4000  # keys kept before the ones older than the overlap are dropped
# XCom of the log position and of the trigger run printing the lines: written by the task before it
# defers (so a reader always finds it), then by the trigger after each poll that printed lines.
CHECKPOINT_KEY = "job_log_checkpoint"


class Line(Protocol):
    @property
    def key(self) -> Hashable: ...
    @property
    def time(self) -> DateTime | None: ...
    def format(self) -> str: ...


class LogReader(Protocol):
    def read(self, start: DateTime, end: DateTime) -> Sequence[Line]: ...
    def state(self) -> dict[str, Any]: ...


class AsyncLogReader(Protocol):
    def read(self, start: DateTime, end: DateTime) -> Awaitable[Sequence[Line]]: ...
    def state(self) -> dict[str, Any]: ...


def next_context(params: dict[str, Any], response: Mapping[str, Any], *, more: bool) -> bool:
    """Put a log reply's paging ``Context`` into ``params``; True when another page is to be read."""
    context = response.get("Context")
    if not more or not context:
        return False
    params["Context"] = context
    return True


class LogCursor:
    """Where a follower stands: window start, the keys printed inside the overlap, the last lines."""

    def __init__(
        self, since: DateTime | None = None, *, overlap: float = DEFAULT_OVERLAP, window_cap: int = WINDOW_CAP
    ):
        # Start a little before the job's creation: clocks differ and windows have 1 s resolution.
        self.since: DateTime = (since or pendulum.now("UTC")).subtract(seconds=2)
        self.overlap = overlap
        self.window_cap = window_cap
        self.newest: DateTime | None = None
        self.seen: dict[Any, DateTime | None] = {}
        self.tail: deque[str] = deque(maxlen=TAIL_SIZE)

    def window_start(self) -> DateTime:
        if self.newest is None:
            return self.since
        return max(self.since, self.newest.subtract(microseconds=int(self.overlap * 1_000_000)))

    @staticmethod
    def window_end() -> DateTime:
        return pendulum.now("UTC").add(seconds=60)

    def accept(self, lines: Sequence[Line], start: DateTime, emit: Callable[[str], None]) -> int:
        """Emit the lines not printed before; returns how many. Lines older than the window are old news."""
        oldest = start.subtract(seconds=1)
        emitted = 0
        for line in lines:
            key = _hashable(line.key)
            if key in self.seen or (line.time is not None and line.time < oldest):
                continue
            self.seen[key] = line.time
            if line.time is not None and (self.newest is None or line.time > self.newest):
                self.newest = line.time
            text = line.format()
            self.tail.append(text)
            emit(text)
            emitted += 1
        self._forget_old()
        return emitted

    def next_start(self, lines: Sequence[Line], start: DateTime, *, retried: bool = False) -> DateTime | None:
        """Where to read on when a window came back full (it may hide more lines), else None.

        A full window of lines older than ``start`` was read wider than asked (a reader still
        learning how the service reads window times): it is read once more from the same start.
        """
        if len(lines) < self.window_cap:
            return None
        times = [line.time for line in lines if line.time is not None]
        last = max(times, default=None)
        if last is not None and int(last.timestamp()) > int(start.timestamp()):
            return last
        if not retried and any(moment < start.subtract(seconds=1) for moment in times):
            return start
        log.warning(
            "More than %d log lines within one second: the log service cannot page past them", self.window_cap
        )
        return None

    def windows(
        self, emit: Callable[[str], None]
    ) -> Generator[tuple[DateTime, DateTime], Sequence[Line], int]:
        """One poll as a dialogue with a reader: yields a window, takes its lines, emits the new ones,
        and goes on past full windows; returns how many lines it emitted. Sync and async followers
        drive the same dialogue."""
        emitted, start, previous = 0, self.window_start(), None
        while start is not None:
            lines = yield start, self.window_end()
            emitted += self.accept(lines, start, emit)
            start, previous = self.next_start(lines, start, retried=start == previous), start  # type: ignore[assignment]
        return emitted

    def _horizon(self) -> DateTime | None:
        """Lines older than this can't come back in a window: their keys may be forgotten."""
        if self.newest is None:
            return None
        return self.newest.subtract(microseconds=int((self.overlap + 2) * 1_000_000))

    def _forget_old(self) -> None:
        """Keep only the keys inside the overlap window: memory stays bounded on long jobs."""
        horizon = self._horizon()
        if horizon is None or len(self.seen) < FORGET_AFTER:
            return
        self.seen = {key: when for key, when in self.seen.items() if when is None or when >= horizon}

    def last_lines(self, count: int = 20) -> list[str]:
        return list(self.tail)[-count:]

    def state(self) -> dict[str, Any]:
        """JSON-safe position, to resume in another process (a trigger, a resumed task)."""
        horizon = self._horizon()
        return {
            "since": self.since.isoformat(),
            "newest": self.newest.isoformat() if self.newest else None,
            "overlap": self.overlap,
            "seen": [
                [_jsonable(k), when.isoformat() if when else None]
                for k, when in self.seen.items()
                if horizon is None or when is None or when >= horizon
            ],
            "tail": list(self.tail),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, window_cap: int = WINDOW_CAP) -> LogCursor:
        cursor = cls(overlap=float(state.get("overlap", DEFAULT_OVERLAP)), window_cap=window_cap)
        cursor.since = _parse(state["since"])
        cursor.newest = _parse(state["newest"]) if state.get("newest") else None
        cursor.seen = {
            _hashable(key): (_parse(when) if when else None) for key, when in state.get("seen", [])
        }
        cursor.tail.extend(state.get("tail", []))
        return cursor

    def is_behind(self, other: LogCursor) -> bool:
        """True when ``other`` has printed lines this cursor has not (a newer checkpoint)."""
        if other.newest is None:
            return False
        return self.newest is None or other.newest > self.newest


def newest_state(*states: dict[str, Any] | None) -> dict[str, Any] | None:
    """The log position that has printed the most (a checkpoint may be ahead of an event's position)."""
    best: dict[str, Any] | None = None
    for state in states:
        if not isinstance(state, dict) or not state.get("since"):
            continue
        if best is None or LogCursor.from_state(best).is_behind(LogCursor.from_state(state)):
            best = state
    return best


def _parse(text: str) -> DateTime:
    return pendulum.parse(text)  # type: ignore[return-value]


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list | tuple) else key


def _jsonable(key: Any) -> Any:
    return [_jsonable(k) for k in key] if isinstance(key, tuple) else key


class LogFollower:
    """Prints a job's new log lines through ``emit``; call ``poll()`` as often as you like.

    Example::

        follower = LogFollower(hook.log_reader("test-job", "ap-beijing"), LogCursor(job.create_time), log.info)
        follower.poll()            # prints lines not printed before
        state = follower.state()   # JSON-safe; resume with the reader's and the cursor's from_state
    """

    def __init__(self, reader: LogReader, cursor: LogCursor, emit: Callable[[str], None] = print) -> None:
        self.reader, self.cursor, self.emit = reader, cursor, emit

    def poll(self) -> int:
        """Emit the lines that appeared since the last poll; returns how many were emitted."""
        windows = self.cursor.windows(self.emit)
        try:
            window = next(windows)
            while True:
                window = windows.send(self.reader.read(*window))
        except StopIteration as done:
            return int(done.value)

    def state(self) -> dict[str, Any]:
        return {**self.cursor.state(), "reader": self.reader.state()}


class AsyncLogFollower(LogFollower):
    """``LogFollower`` for a trigger's event loop (same cursor, an async reader)."""

    def __init__(self, reader: AsyncLogReader, cursor: LogCursor, emit: Callable[[str], None]) -> None:
        super().__init__(reader, cursor, emit)  # type: ignore[arg-type]
        self.reader: AsyncLogReader = reader  # type: ignore[assignment]

    async def poll(self) -> int:  # type: ignore[override]
        windows = self.cursor.windows(self.emit)
        try:
            window = next(windows)
            while True:
                window = windows.send(await self.reader.read(*window))
        except StopIteration as done:
            return int(done.value)
