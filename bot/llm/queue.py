"""Sharing a small rate limit with a whole class.

Hyperbolic's basic tier allows about 5 requests a minute per 405B model, so a class
of 30 cannot all call at once. Each model gets a `ModelQueue`: first come, first
served, at most `per_minute` calls started in any 60 seconds, and every waiting
call knows its place and an estimate of its wait. `Upstream` puts calls through
those queues and shares identical concurrent calls: the first asker's call is the
only one sent, and its streamed snapshots go to everyone who asked.
`Cooldowns` and `TokenBudget` keep one student (or one class) from using it all.

Time comes from an injected `now()` and `sleep()` so tests can run minutes of
queueing in no time.

Several processes on one database (issue 20): given a `SharedLimits` (bot/llm/shared.py), a
queue still orders its own process's calls in memory (no database round trip for a call that
is not at the head), but its head starts only by claiming one of the line's shared rate slots,
and only once no older waiter of another process is alive; the place a student sees counts
the calls of every process ahead of theirs. `now()` must then be the app's epoch clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.llm.client import Completion
from bot.storage.database import storage_unavailable

if TYPE_CHECKING:
    from bot.llm.shared import SharedLimits

log = logging.getLogger("aula")

WINDOW_S = 60.0
QUEUE_REFRESH_S = 5.0  # while waiting in line, the estimate is refreshed this often
FOLLOWUP_MARGIN_S = 30.0  # of Discord's follow-up window, kept for storing and showing the answer

Now = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Ticket:
    """One call's place in a queue."""

    def __init__(self, on_move: Callable[[], None] = lambda: None) -> None:
        self.turn = asyncio.Event()  # set when this ticket reaches the head of the queue
        self.on_move = on_move  # told whenever the queue ahead of it changes
        self.admitted_at: float | None = None
        self.id = uuid.uuid4().hex
        self.joined_at = 0.0
        self.others_ahead = 0  # waiters of other processes that joined earlier (shared lines only)


class ModelQueue:
    """Admits calls to one model in arrival order, at most `per_minute` starts per minute."""

    def __init__(
        self,
        per_minute: int,
        now: Now = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        shared: SharedLimits | None = None,
        key: Hashable = "",
    ) -> None:
        self.per_minute = per_minute
        self.now = now
        self.sleep = sleep
        self.shared = shared
        self.key = key
        self.starts: deque[float] = deque()  # admissions in the last minute, oldest first (every process's if shared)
        self.waiting: list[Ticket] = []
        self.others: list[float] = []  # when the live waiters of other processes joined (shared lines)

    def position(self, ticket: Ticket) -> int:
        """1 for the next call to go; 0 once admitted. On a shared line it counts the waiters of
        every process ahead (as last read, at most HEARTBEAT_S old while this process waits)."""
        return self.waiting.index(ticket) + 1 + ticket.others_ahead if ticket in self.waiting else 0

    def estimated_wait(self, ticket: Ticket) -> float:
        """Seconds until this ticket is admitted, if everyone ahead goes as soon as allowed."""
        if ticket not in self.waiting:
            return 0.0
        return self._wait_at(self.position(ticket))

    def wait_for_newcomer(self) -> float:
        """Seconds a call joining the line now would wait."""
        return self._wait_at(len(self.waiting) + 1 + len(self.others))

    async def refresh(self) -> None:
        """Reread the line's shared state (the last minute's starts, other processes' waiters),
        so a newcomer's estimate counts every process. Nothing to do on a line of one process."""
        if self.shared is not None:
            self._see(await self.shared.heartbeat(self.key), await self.shared.recent_starts(self.key, self.per_minute))

    def _wait_at(self, position: int) -> float:
        now = self.now()
        self._forget_old(now)
        starts = list(self.starts)
        at = now
        for _ in range(position):
            if len(starts) >= self.per_minute:
                at = max(at, starts[-self.per_minute] + WINDOW_S)
            starts.append(at)
        return at - now

    def join(self, ticket: Ticket) -> None:
        """Take a place at the back of the line (at once, so the place can be shown before waiting)."""
        if ticket in self.waiting:
            return
        ticket.joined_at = self.now()
        ticket.others_ahead = sum(1 for joined in self.others if joined < ticket.joined_at)
        self.waiting.append(ticket)
        if len(self.waiting) == 1:
            ticket.turn.set()

    async def wait_turn(self, ticket: Ticket) -> None:
        """Return when this ticket may call the model; its slot is then counted."""
        self.join(ticket)
        if self.shared is not None:
            try:
                await self.shared.join(self.key, ticket.id, ticket.joined_at)
            except BaseException:
                self._leave(ticket)
                raise
        try:
            await ticket.turn.wait()
            if self.shared is None:
                while (delay := self._delay()) > 0:
                    await self.sleep(delay)
                ticket.admitted_at = self.now()
            else:
                ticket.admitted_at = await self._claim(ticket)
            self.starts.append(ticket.admitted_at)
        finally:
            self._leave(ticket)
            if self.shared is not None:
                try:
                    await self.shared.leave(ticket.id)
                except Exception as exc:  # deleted at the next heartbeat, or expires (WAITER_TTL_S)
                    log.warning("could not take a call out of the shared line: %s", exc,
                                exc_info=not storage_unavailable(exc))  # fmt: skip

    async def _claim(self, ticket: Ticket) -> float:
        """The head of a shared line: claim a slot at once when the last view allows it, else
        renew this process's waiters and reread the line every HEARTBEAT_S until a claim wins."""
        from bot.llm.shared import HEARTBEAT_S

        assert self.shared is not None
        retried = False
        while True:
            if self._delay() <= 0 and not self._older_elsewhere(ticket):
                started = await self.shared.claim(self.key, self.per_minute, ticket.joined_at)
                if started is not None:
                    return started
            await self.refresh()
            if self._delay() <= 0 and not self._older_elsewhere(ticket) and not retried:
                retried = True  # another process won the slot we saw, and one is free again: once at once
                continue
            retried = False
            delay = self._delay()
            await self.sleep(min(delay, HEARTBEAT_S) if delay > 0 else HEARTBEAT_S)

    def _older_elsewhere(self, ticket: Ticket) -> bool:
        return any(joined < ticket.joined_at for joined in self.others)

    def _see(self, others: list[float], starts: list[float]) -> None:
        self.others = others
        self.starts = deque(starts)
        for ticket in self.waiting:
            ahead = sum(1 for joined in others if joined < ticket.joined_at)
            if ahead != ticket.others_ahead:
                ticket.others_ahead = ahead
                ticket.on_move()

    def _delay(self) -> float:
        now = self.now()
        self._forget_old(now)
        if len(self.starts) < self.per_minute:
            return 0.0
        return self.starts[-self.per_minute] + WINDOW_S - now

    def _forget_old(self, now: float) -> None:
        while self.starts and self.starts[0] <= now - WINDOW_S:
            self.starts.popleft()

    def _leave(self, ticket: Ticket) -> None:
        was_head = bool(self.waiting) and self.waiting[0] is ticket
        self.waiting.remove(ticket)
        if was_head and self.waiting:
            self.waiting[0].turn.set()
        for waiting in self.waiting:
            waiting.on_move()


class SharedCall:
    """One upstream call and everyone following it. Followers see every snapshot's latest state."""

    def __init__(self, key: Hashable, queue: ModelQueue) -> None:
        self.key = key
        self.queue = queue
        self.ticket = Ticket(on_move=self._changed)
        self.latest: Completion | None = None
        self.error: BaseException | None = None
        self.done = False
        self.followers = 1
        self._listeners: set[asyncio.Event] = set()

    @property
    def admitted(self) -> bool:
        return self.ticket.admitted_at is not None

    def position(self) -> int:
        return self.queue.position(self.ticket)

    def estimated_wait(self) -> float:
        return self.queue.estimated_wait(self.ticket)

    def longest_wait(self, total_timeout_s: float) -> float:
        """Seconds until this call has ended at the latest: its estimated wait in line, then the
        client's deadline for the whole call, retries included (settings.llm.total_timeout_s)."""
        if self.done:
            return 0.0
        if self.ticket.admitted_at is None:
            return self.estimated_wait() + total_timeout_s
        return max(0.0, self.ticket.admitted_at + total_timeout_s - self.queue.now())

    def listen(self, event: asyncio.Event) -> None:
        """`event` is set on every change (a snapshot, a move in the queue, the end)."""
        self._listeners.add(event)

    def unlisten(self, event: asyncio.Event) -> None:
        self._listeners.discard(event)

    def publish(self, snapshot: Completion) -> None:
        self.latest = snapshot
        self._changed()

    def finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.done = True
        self._changed()

    def _changed(self) -> None:
        for event in self._listeners:
            event.set()


@dataclass
class Upstream:
    """Every upstream call goes through here: fair per-model queues, identical calls shared."""

    now: Now = time.monotonic
    sleep: Sleep = asyncio.sleep
    queues: dict[Hashable, ModelQueue] = field(default_factory=dict)
    calls: dict[Hashable, SharedCall] = field(default_factory=dict)  # in flight, by what they ask
    upstream_calls: int = 0  # how many calls were really sent (the rest were shared)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    shared: SharedLimits | None = None  # several processes on one database: the rate limit counted there

    async def refresh(self, queue_key: Hashable, per_minute: int) -> None:
        """Reread a shared line before estimating a newcomer's wait (nothing on a line of one
        process). `per_minute` is the line's limit, as `call` gets it."""
        if self.shared is None:
            return
        queue = self.queues.get(queue_key)
        if queue is None or queue.per_minute != per_minute:
            queue = self.queues[queue_key] = _carry_over(queue, per_minute, self.now, self.sleep, self.shared, queue_key)
        await queue.refresh()

    def estimated_wait(self, key: Hashable, queue_key: Hashable) -> float:
        """How long a new call for `key` would wait (an identical one in flight: as long as it)."""
        existing = self.calls.get(key)
        if existing is not None and not existing.done:
            return existing.estimated_wait()
        queue = self.queues.get(queue_key)
        return queue.wait_for_newcomer() if queue is not None else 0.0

    def call(
        self,
        key: Hashable,
        queue_key: Hashable,
        per_minute: int,
        start: Callable[[], AsyncIterator[Completion]],
    ) -> tuple[SharedCall, bool]:
        """The call for `key`: an identical one in flight (shared=True) or a new one queued."""
        existing = self.calls.get(key)
        if existing is not None and not existing.done:
            existing.followers += 1
            return existing, True
        queue = self.queues.get(queue_key)
        if queue is None or queue.per_minute != per_minute:
            queue = self.queues[queue_key] = _carry_over(queue, per_minute, self.now, self.sleep, self.shared, queue_key)
        call = self.calls[key] = SharedCall(key, queue)
        queue.join(call.ticket)
        task = asyncio.create_task(self._run(call, start), name=f"upstream {queue_key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return call, False

    async def _run(self, call: SharedCall, start: Callable[[], AsyncIterator[Completion]]) -> None:
        error: BaseException | None = None
        try:
            await call.queue.wait_turn(call.ticket)
            self.upstream_calls += 1
            call._changed()
            async for snapshot in start():
                call.publish(snapshot)
        except asyncio.CancelledError as exc:
            error = exc
            raise
        except Exception as exc:  # followers decide what to say; the task itself must not die loudly
            error = exc
        finally:
            if self.calls.get(call.key) is call:
                del self.calls[call.key]
            call.finish(error)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _carry_over(
    old: ModelQueue | None, per_minute: int, now: Now, sleep: Sleep, shared: SharedLimits | None, key: Hashable
) -> ModelQueue:
    """A queue with a new limit (the settings changed) keeps the recent starts of the old one."""
    queue = ModelQueue(per_minute, now, sleep, shared, key)
    if old is not None:
        queue.starts = old.starts
        queue.others = old.others
    return queue


class Cooldowns:
    """A student waits this long between two requests; instructors never do."""

    def __init__(self, seconds: float, now: Now = time.monotonic) -> None:
        self.seconds = seconds
        self.now = now
        self._last: dict[Hashable, float] = {}

    def remaining(self, who: Hashable) -> float:
        last = self._last.get(who)
        return 0.0 if last is None else max(0.0, last + self.seconds - self.now())

    def start(self, who: Hashable) -> float | None:
        """Start who's cooldown now; returns when the previous one started (for `restore`)."""
        now = self.now()
        previous = self._last.get(who)
        self._last[who] = now
        if len(self._last) > 10_000:  # forget those whose cooldown is long over
            self._last = {k: v for k, v in self._last.items() if v + self.seconds > now}
        return previous

    def restore(self, who: Hashable, previous: float | None) -> None:
        """Undo `start` (a request that produced nothing): who waits as if it never ran."""
        if previous is None:
            self._last.pop(who, None)
        else:
            self._last[who] = previous


class TokenBudget:
    """Tokens a class may spend a day. What calls used is stored (bot.llm.usage); calls in
    flight hold a reservation here so 30 students asking at once cannot all slip under the
    budget before any has been recorded."""

    def __init__(self, daily_tokens: int) -> None:
        self.daily_tokens = daily_tokens
        self._reserved: dict[Hashable, int] = {}  # only calls in flight: what was used is stored

    def left(self, which_class: Hashable, used_today: int) -> int:
        return self.daily_tokens - used_today - self._reserved.get(which_class, 0)

    def reserve(self, which_class: Hashable, tokens: int) -> None:
        self._reserved[which_class] = self._reserved.get(which_class, 0) + tokens

    def release(self, which_class: Hashable, tokens: int) -> None:
        left = self._reserved.get(which_class, 0) - tokens
        if left > 0:
            self._reserved[which_class] = left
        else:
            self._reserved.pop(which_class, None)


def day_start(epoch_s: float) -> float:
    """Midnight UTC of the day `epoch_s` falls in: the daily budget restarts then."""
    return epoch_s - epoch_s % 86_400


@dataclass
class LlmTraffic:
    """The process's one view of provider traffic, shared by /compare and /roles' live run:
    the per-model queues, students' cooldowns and the class's daily token budget."""

    upstream: Upstream
    cooldowns: Cooldowns
    budget: TokenBudget
    shared: SharedLimits | None = None  # several processes: the rate limit and budget in the database
    _releases: set[asyncio.Task] = field(default_factory=set)

    def release_shared(self, hold: str) -> None:
        """Delete a shared budget hold in the background (Admission.release is synchronous)."""
        assert self.shared is not None
        self._background(self.shared.release(hold), "could not release a shared budget hold")

    def give_back_shared_cooldown(self, who: tuple[str, str], started: str) -> None:
        """Undo a shared cooldown's start in the background (the request produced nothing)."""
        assert self.shared is not None
        self._background(self.shared.give_back_cooldown(who, started), "could not give a cooldown back")

    def _background(self, work: Awaitable[None], failure: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as exc:  # a hold stops counting at its expiry; a cooldown ends by itself
                if storage_unavailable(exc):
                    log.warning("%s (it expires by itself): %s", failure, exc)
                else:
                    log.warning(failure, exc_info=True)

        task = asyncio.get_running_loop().create_task(run())
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def aclose(self) -> None:
        await self.upstream.aclose()
        for task in list(self._releases):
            with contextlib.suppress(Exception):
                await task
