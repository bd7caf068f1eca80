"""A timer loop that keeps no state of its own: every due time lives in the database.

`tick()` looks at what came due by `app.clock()` and acts on it. It runs once at
start-up (catching up on what came due while the bot was down), then every
`tick_seconds` in the background (0: never, for tests that tick by hand), and soon
after `tick_soon()` when a request finds something already due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("aula")


class Ticker:
    name = "ticker"  # names the background tasks and the log line of a failed tick

    def __init__(self) -> None:
        self._loop: asyncio.Task | None = None
        self._wake: asyncio.Task | None = None

    @property
    def settings(self):
        """The service's settings section; it has `tick_seconds`."""
        raise NotImplementedError

    @property
    def tick_seconds(self) -> float:
        return self.settings.tick_seconds

    async def tick(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        await self.tick()
        if self.tick_seconds > 0 and self._loop is None:
            self._loop = asyncio.create_task(self._run(), name=self.name)

    async def aclose(self) -> None:
        for task in (self._loop, self._wake):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._loop = self._wake = None

    def tick_soon(self) -> None:
        """Something is due now: act on it rather than at the next tick."""
        if self._wake is None or self._wake.done():
            self._wake = asyncio.create_task(self._tick_logged(), name=f"{self.name}-wake")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            await self._tick_logged()

    async def _tick_logged(self) -> None:
        try:
            await self.tick()
        except Exception:  # one bad tick must not stop the timers
            log.exception("%s tick failed", self.name)
