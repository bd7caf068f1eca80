"""The process's shared services: one typed field each, created on first use, closed with the app.

`app.services.llm` is the one LLM client (one connection pool), `app.services.llm_traffic`
the per-model queues, students' cooldowns and the daily token budget, `app.services.quiz`
the live-quiz engine, `app.services.homework` homework's deadlines and posts, and
`app.services.tokens_replies` /tokens' recent replies and `app.services.tokens_pool` the worker
process that builds its replies of long texts. Each is built by its property the
first time it is read (`functools.cached_property`: a test may assign its own first) and,
if it has `aclose()`, closed by `Aula.close` in the order it was created.

Adapters keep their process-wide objects here too, without the core knowing their types:
`shared(StartSlots)` is the one instance of that class for this app (Discord and Slack in one
process share it), and `on_close(callback)` runs a cleanup with the app's (Slack's HTTP session).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from cachetools import TTLCache

    from bot.app import Aula
    from bot.homework.service import Homework
    from bot.llm.client import LlmClient
    from bot.llm.queue import LlmTraffic
    from bot.next.game import NextGame
    from bot.quiz.engine import QuizEngine
    from bot.storage.claims import Claims
    from bot.tokens.pool import TokensPool

log = logging.getLogger("aula")

T = TypeVar("T")


class Services:
    def __init__(self, app: Aula) -> None:
        self._app = app
        self._shared: dict[type, Any] = {}
        self._closers: list[Callable[[], Awaitable[object]]] = []

    @cached_property
    def llm(self) -> LlmClient:
        """The OpenAI-compatible streaming client every command shares (one connection pool)."""
        from bot.llm.client import LlmClient, resolve_profile

        return LlmClient(self._app.settings.llm, resolve_profile(self._app.settings))

    @cached_property
    def llm_traffic(self) -> LlmTraffic:
        """The fair per-model queues, students' cooldowns and the class's daily token budget."""
        from bot.llm.queue import Cooldowns, LlmTraffic, TokenBudget, Upstream

        app, llm = self._app, self._app.settings.llm
        if not app.settings.llm_limits_shared():  # one process: the in-memory fast path
            return LlmTraffic(
                upstream=Upstream(time.monotonic, asyncio.sleep),
                cooldowns=Cooldowns(llm.user_cooldown_s, time.monotonic),
                budget=TokenBudget(llm.daily_token_budget),
            )
        from bot.llm.shared import SharedLimits

        def clock() -> float:
            return app.clock()  # the app's epoch clock, read late: a test may replace it

        shared = SharedLimits(app.db, clock)
        return LlmTraffic(
            upstream=Upstream(clock, asyncio.sleep, shared=shared),
            cooldowns=Cooldowns(llm.user_cooldown_s, time.monotonic),
            budget=TokenBudget(llm.daily_token_budget),
            shared=shared,
        )

    @cached_property
    def claims(self) -> Claims:
        """This process's claims on jobs that must happen once across processes (bot/storage/claims.py)."""
        from bot.storage.claims import Claims

        app = self._app
        return Claims(app.db, lambda: app.clock(), app.settings.timers.lease_seconds)

    @cached_property
    def quiz(self) -> QuizEngine:
        """The live-quiz engine: timers, clicks, posts and the bank catalogue."""
        from bot.quiz.engine import QuizEngine

        return QuizEngine(self._app)

    @cached_property
    def homework(self) -> Homework:
        """Homework's deadlines, reminders and posts; it reads banks through the quiz's catalogue."""
        from bot.homework.service import Homework

        return Homework(self._app, self.quiz.catalog)

    @cached_property
    def tokens_replies(self) -> TTLCache:
        """/tokens' recent replies, by (text, encodings, language)."""
        from bot.tokens.command import new_recent_replies

        return new_recent_replies(self._app)

    @cached_property
    def tokens_pool(self) -> TokensPool:
        """/tokens' one worker process for long texts (started on the first one, shut down with the app)."""
        from bot.tokens.command import new_pool

        return new_pool(self._app)

    @cached_property
    def next_game(self) -> NextGame:
        """/next's class game: its rounds' timers and result posts."""
        from bot.next.game import NextGame

        return NextGame(self._app)

    @cached_property
    def dataset_slots(self) -> asyncio.Semaphore:
        """/dataset's checks running at once (each a worker thread reading a whole file)."""
        return asyncio.Semaphore(self._app.settings.dataset.concurrent_checks)

    @cached_property
    def next_random(self) -> random.Random:
        """/next's sampler (the "sample" button) and its game's shuffles; tests may seed it."""
        return random.Random()

    def shared(self, kind: type[T]) -> T:
        """The app's one instance of `kind` (built with no arguments on first use): for an
        adapter's process-wide object the core does not know, such as the start slots."""
        if kind not in self._shared:
            self._shared[kind] = kind()
        return self._shared[kind]

    def on_close(self, closer: Callable[[], Awaitable[object]]) -> None:
        """Run `closer()` when the app closes (after the services)."""
        self._closers.append(closer)

    async def aclose(self) -> None:
        """Close every service created so far that has `aclose()`, then run the closers; each
        in creation order. A failing one is logged and the others still close."""
        created = [value for name, value in vars(self).items() if not name.startswith("_")]
        closers = [getattr(s, "aclose", None) for s in (*created, *self._shared.values())]
        closers = [c for c in closers if c is not None] + self._closers
        for closer in closers:
            try:
                await closer()
            except Exception:
                log.exception("closing a service failed")
