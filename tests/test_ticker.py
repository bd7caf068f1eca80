"""Ticker (bot/ticker.py): closing lets a tick that tick_soon() started finish, within a bound."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import bot.ticker as ticker_module
from bot.storage.database import StorageUnavailable
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


class Outage(Ticker):
    """A ticker whose tick raises what `failures` holds next (None: the tick succeeds)."""

    def __init__(self, failures: list[Exception | None]) -> None:
        super().__init__()
        self.failures = failures

    @property
    def settings(self):
        return SimpleNamespace(tick_seconds=0)

    async def tick(self) -> None:
        failure = self.failures.pop(0)
        if failure is not None:
            raise failure


async def test_a_database_outage_is_one_warning_not_a_traceback_every_tick(caplog):
    """PostgreSQL restarting for 25 s logged 25 error lines with a traceback each (one per
    tick), in the console's terminal among the class's messages."""
    down = StorageUnavailable("PostgreSQL is unavailable: ConnectionRefusedError")
    ticker = Outage([down] * 5 + [None, None, down, None, RuntimeError("a bug")])
    with caplog.at_level(logging.INFO, logger="aula"):
        for _ in range(10):
            await ticker._tick_logged()
    lines = [(r.levelno, r.getMessage().split(":")[0], r.exc_info is not None) for r in caplog.records]
    assert lines == [
        (logging.WARNING, "ticker ticks wait for the database", False),
        (logging.INFO, "ticker ticks resumed", False),
        (logging.WARNING, "ticker ticks wait for the database", False),
        (logging.INFO, "ticker ticks resumed", False),
        (logging.ERROR, "ticker tick failed", True),  # a bug still says where, every time
    ]
