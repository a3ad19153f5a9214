"""A calls-per-second budget for one API action, shared by every trigger of a triggerer's event loop.

Tencent Cloud limits each API action per account and region (TI-ONE documents 20 requests/s for
several). A thousand triggers following their jobs' logs would ask far more often than that, so
their log reads wait for a turn instead: turns are handed out evenly spaced, ``1 / per_second``
seconds apart, urgent ones first (a job that has ended and is being read to its end before its event
fires), the others in arrival order. A caller with a deadline is told at once when its turn would
come too late (``TooLate``) rather than queue in vain. Pure asyncio: a waiting trigger sleeps on a
future, and one task per busy budget hands out the turns.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class TooLate(Exception):
    """The turn would come after the caller's deadline."""


class RateBudget:
    """At most ``per_second`` turns a second, urgent turns first.

    Example::

        budget = RateBudget("DescribeLogs", 10.0)
        await budget.turn()  # returns when this call may go out
        await budget.turn(urgent=True, by=loop.time() + 1.0)  # or raises TooLate at once
    """

    def __init__(self, action: str, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError(f"a rate budget needs a positive rate, got {per_second}")
        self.action = action
        self.spacing = 1.0 / per_second
        self._free_at = float("-inf")  # loop time of the next turn
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # (0 urgent / 1, order, turn)
        self._order = itertools.count()
        self._urgent = 0  # urgent turns waiting
        self._dealer: asyncio.Task[None] | None = None

    async def turn(self, *, urgent: bool = False, by: float | None = None) -> None:
        """Wait for this call's turn. A cancelled waiter gives its place up (its turn goes to the next).

        ``by`` (the event loop's time): raise ``TooLate`` at once when the turn would come later.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._waiting and now >= self._free_at:
            self._free_at = now + self.spacing
            return
        ahead = self._urgent if urgent else len(self._waiting)
        if by is not None and max(now, self._free_at) + ahead * self.spacing > by:
            raise TooLate(f"{self.action}: {ahead} calls wait for their turn before this one")
        turn: asyncio.Future[None] = loop.create_future()
        if urgent:
            self._urgent += 1
            turn.add_done_callback(self._urgent_done)
        heapq.heappush(self._waiting, (0 if urgent else 1, next(self._order), turn))
        if self._dealer is None or self._dealer.done():
            self._dealer = loop.create_task(self._deal(), name=f"tencentcloud-rate-{self.action}")
        await turn
        # Spaced from when the call really goes out (a busy loop resumes a waiter late), so that no
        # second ever holds more than ``per_second`` calls.
        self._free_at = max(self._free_at, loop.time() + self.spacing)

    def _urgent_done(self, _: asyncio.Future[None]) -> None:
        self._urgent -= 1

    async def _deal(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            while (wait := self._free_at - loop.time()) > 0:  # the last waiter may resume late
                await asyncio.sleep(wait)
            while self._waiting:
                *_, turn = heapq.heappop(self._waiting)
                if not turn.done():  # a cancelled waiter's turn goes to the next one
                    turn.set_result(None)
                    self._free_at = loop.time() + self.spacing
                    break
