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
from collections.abc import Awaitable, Hashable

from bot.storage.database import storage_unavailable

log = logging.getLogger("aula")
FINISH_DUE_S = 5.0  # how long closing waits for a tick that tick_soon() started


class Ticker:
    name = "ticker"  # names the background tasks and the log line of a failed tick

    def __init__(self) -> None:
        self._loop: asyncio.Task | None = None
        self._wake: asyncio.Task | None = None
        self._storage_down = False  # the last tick found the database unavailable (logged once)

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
        """Stop the timer loop. A tick asked for by tick_soon() (something already due, such as
        a round an instructor just closed) is let finish first, for up to FINISH_DUE_S: a console
        whose input ends right after "close now" still shows the results."""
        if self._wake is not None and not self._wake.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._wake), FINISH_DUE_S)
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
        """One tick, never raising. The database being unavailable (a PostgreSQL restart, SQLite
        locked or its disk full) is one warning when it starts and one line when a tick succeeds
        again, not a traceback every tick: nothing is lost, the due work stays due and is done at
        the first tick after. Anything else is logged with its traceback at every tick."""
        try:
            await self.tick()
        except Exception as exc:  # one bad tick must not stop the timers
            if not storage_unavailable(exc):
                log.exception("%s tick failed", self.name)
            elif not self._storage_down:
                log.warning("%s ticks wait for the database: %s", self.name, exc)
            self._storage_down = storage_unavailable(exc)
        else:
            if self._storage_down:
                log.info("%s ticks resumed: the database answers again", self.name)
            self._storage_down = False


class PostRetries:
    """How often each post to a channel failed since the start, and when to stop trying it.

    A Ticker retries what is not posted yet at every tick; a post that keeps failing (a deleted
    channel, a missing permission) is given up after `max_attempts` (logged each time, never
    raised). What giving up means is the caller's rule: with `given_up_is_done` the post counts
    as done so what follows it can go on (the quiz's results: the next question's are not held
    back); without, it stays undone in storage and is tried again after the next start (a
    homework answer: nothing else waits for it).
    """

    def __init__(self, max_attempts: int, *, given_up_is_done: bool, logger: logging.Logger = log) -> None:
        self.max_attempts = max_attempts
        self.given_up_is_done = given_up_is_done
        self.log = logger
        self._failures: dict[Hashable, int] = {}

    def given_up(self, key: Hashable) -> bool:
        return self._failures.get(key, 0) >= self.max_attempts

    async def post(self, key: Hashable, posting: Awaitable[object], what: str, *args: object) -> bool:
        """Await `posting`. True when it was posted, or when it has just been given up and that
        counts as done; False when it failed (logged as `what % args` with the attempt number)."""
        try:
            await posting
        except Exception:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            self.log.exception(what + " (attempt %s of %s)", *args, failures, self.max_attempts)
            return self.given_up_is_done and failures >= self.max_attempts
        self._failures.pop(key, None)
        return True
