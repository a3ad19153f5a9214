"""The log budget hands out evenly spaced turns, urgent ones first, skips a cancelled waiter, and
tells a caller with a deadline at once that its turn would come too late."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_tia.triggers.rate_budget import RateBudget, TooLate


def test_turns_are_spaced_and_urgent_ones_go_first():
    async def scenario() -> tuple[list[str], list[float]]:
        budget = RateBudget("DescribeLogs", 20.0)  # a turn every 50 ms
        order: list[str] = []
        times: list[float] = []
        loop = asyncio.get_running_loop()

        async def call(name: str, urgent: bool) -> None:
            await budget.turn(urgent=urgent)
            order.append(name)
            times.append(loop.time())

        first = asyncio.ensure_future(call("first", False))  # takes the free turn at once
        await asyncio.sleep(0)
        waiting = [asyncio.ensure_future(call(f"live-{i}", False)) for i in range(3)]
        await asyncio.sleep(0)
        urgent = asyncio.ensure_future(call("drain", True))  # a job has ended: its event waits
        await asyncio.gather(first, *waiting, urgent)
        return order, times

    order, times = asyncio.run(scenario())
    assert order == ["first", "drain", "live-0", "live-1", "live-2"]
    assert times[-1] - times[0] >= 4 * 0.05 - 1e-6  # five turns: at least four spacings apart


def test_a_cancelled_waiter_gives_its_turn_to_the_next():
    async def scenario() -> list[str]:
        budget = RateBudget("QueryLogs", 10.0)
        got: list[str] = []

        async def call(name: str) -> None:
            await budget.turn()
            got.append(name)

        await call("first")
        gone = asyncio.ensure_future(call("gone"))
        kept = asyncio.ensure_future(call("kept"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.wait_for(kept, 1.0)  # its turn is the next one: 100 ms, not 200
        return got

    assert asyncio.run(scenario()) == ["first", "kept"]


def test_a_turn_that_would_come_after_the_deadline_is_refused_at_once():
    async def scenario() -> None:
        budget = RateBudget("DescribeLogs", 2.0)  # a turn every 0.5 s
        loop = asyncio.get_running_loop()
        await budget.turn()
        queued = [asyncio.ensure_future(budget.turn(urgent=True)) for _ in range(3)]
        await asyncio.sleep(0)
        asked = loop.time()
        with pytest.raises(TooLate):  # three urgent turns ahead: 1.5 s at the least
            await budget.turn(urgent=True, by=asked + 1.0)
        assert loop.time() - asked < 0.1  # refused, not queued
        await budget.turn(urgent=True, by=asked + 3.0)  # within reach: granted, after the three
        assert all(turn.done() for turn in queued)

    asyncio.run(scenario())
