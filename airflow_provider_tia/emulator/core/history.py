"""The emulator's record of the latest requests, for tests: bounded so a long-running emulator stays small."""

from __future__ import annotations

import json
import threading
from collections import deque

REQUEST_HISTORY = 10_000  # requests kept in TIAEmulator.requests
REQUEST_HISTORY_CHARS = 16 * 1024 * 1024  # ... and at most this much of their parameters (as JSON)


class RequestHistory(deque):
    """The latest requests ``(action, params)``: at most ``maxitems`` of them and ``maxchars`` of parameters."""

    def __init__(self, maxitems: int = REQUEST_HISTORY, maxchars: int = REQUEST_HISTORY_CHARS) -> None:
        super().__init__()
        self.maxitems, self.maxchars = maxitems, maxchars
        self._sizes: deque[int] = deque()
        self._chars = 0
        self._lock = threading.Lock()  # requests are recorded from worker threads

    def append(self, item: tuple[str, dict]) -> None:
        size = len(item[0]) + len(json.dumps(item[1], ensure_ascii=False, default=str))
        with self._lock:
            super().append(item)
            self._sizes.append(size)
            self._chars += size
            while len(self) > self.maxitems or (self._chars > self.maxchars and len(self) > 1):
                self.popleft()
                self._chars -= self._sizes.popleft()

    def clear(self) -> None:
        with self._lock:
            super().clear()
            self._sizes.clear()
            self._chars = 0
