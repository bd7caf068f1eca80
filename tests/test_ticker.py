"""Ticker (bot/ticker.py): closing lets a tick that tick_soon() started finish, within a bound."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import bot.ticker as ticker_module
from bot.ticker import Ticker


class Recording(Ticker):
    """A ticker whose tick takes `busy_s` and records that it ended."""

    def __init__(self, busy_s: float) -> None:
        super().__init__()
        self.busy_s, self.ended = busy_s, 0

    @property
    def settings(self):
        return SimpleNamespace(tick_seconds=0)

    async def tick(self) -> None:
        for _ in range(3):  # a few loop turns, as a tick's database reads and posts take
            await asyncio.sleep(self.busy_s / 3)
        self.ended += 1


async def test_a_due_tick_asked_for_just_before_closing_still_ends():
    """/next's "close now" (and /quiz's, homework's) asks for a tick at once; a console whose
    input ended right after it closed the app and cancelled that tick, so the results were never
    posted."""
    ticker = Recording(busy_s=0.05)
    ticker.tick_soon()
    await ticker.aclose()
    assert ticker.ended == 1


async def test_a_due_tick_that_hangs_is_cancelled_at_the_bound(monkeypatch):
    monkeypatch.setattr(ticker_module, "FINISH_DUE_S", 0.05)
    ticker = Recording(busy_s=60)
    ticker.tick_soon()
    await asyncio.wait_for(ticker.aclose(), 10)  # bounded: closing never waits on a stuck tick
    assert ticker.ended == 0 and ticker._wake is None
