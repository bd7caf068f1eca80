"""What the commands that call a model while the student watches share: /compare and live /roles.

`admit()` is the one place a request is let through to the provider. In order: the student's
cooldown (instructors have none), the class's daily token budget (when the command counts
one), and the wait in line against Discord's follow-up window (an answer can be edited for
15 minutes: a wait that, with a whole call, could outlast it would leave the student with
nothing, so it is refused now); then the cooldown starts and the budget is reserved, with no
await in between, so two requests cannot both slip under one limit. With several processes on
one database (`LlmTraffic.shared`, bot/llm/shared.py) the budget is reserved there instead, in
one transaction that checks and holds under the class's row lock. The `Admission` it
returns gives the reservation back (`release()`, or as a context manager) once the call's
tokens are recorded.

`changes()` is the listen/unlisten loop: it wakes the command when any of its shared calls
moves (bot/llm/queue.py SharedCall) so the reply is redrawn, at most every `min_interval_s`,
and every QUEUE_REFRESH_S while a call waits in line (its estimate changes with time).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass

from bot.errors import UserError
from bot.limits import DISCORD_FOLLOWUP_WINDOW_S
from bot.llm.client import Profile, UnknownProfile, resolve_profile
from bot.llm.queue import FOLLOWUP_MARGIN_S, QUEUE_REFRESH_S, LlmTraffic, SharedCall
from bot.requests import Request
from bot.settings import LlmSettings, Settings


@dataclass(frozen=True)
class Refusals:
    """The message keys a command refuses with: `cooldown` gets {seconds}, `line_too_long`
    {minutes}, `budget` {used} and {budget}."""

    cooldown: str = "compare.cooldown"
    line_too_long: str = "compare.line_too_long"
    budget: str = "compare.budget"


@dataclass(frozen=True)
class Budget:
    """The class's daily budget for one request: tokens recorded today (`used`, from storage)
    and what this request may spend (`expected`)."""

    which_class: Hashable  # (platform, workspace id)
    used: int
    expected: int


class Admission:
    """A request let through: holds its class's budget reservation until released (once), and
    can give the student's cooldown back when the request produced nothing (`refund_cooldown`)."""

    def __init__(
        self,
        traffic: LlmTraffic,
        budget: Budget | None,
        who: Hashable | None = None,
        previous_start: float | None = None,
        hold: str | None = None,
        shared_start: str | None = None,
    ) -> None:
        self._traffic = traffic
        self._budget = budget
        self._who = who  # whose cooldown this request started (None: it started none)
        self._previous_start = previous_start
        self._hold = hold  # the shared reservation's id (several processes), else None
        self._shared_start = shared_start  # the shared cooldown's start (several processes), else None

    def refund_cooldown(self) -> None:
        """Only a request that produced text counts: after a failure the student may retry at once."""
        if self._who is not None:
            self._traffic.cooldowns.restore(self._who, self._previous_start)
            if self._shared_start is not None:
                self._traffic.give_back_shared_cooldown(self._who, self._shared_start)
            self._who, self._shared_start = None, None

    def release(self) -> None:
        """Give the reservation back. A shared one is deleted in the background (LlmTraffic
        awaits it on close): until then the class counts it twice at most, never less."""
        if self._hold is not None:
            self._traffic.release_shared(self._hold)
            self._hold, self._budget = None, None
        if self._budget is not None:
            self._traffic.budget.release(self._budget.which_class, self._budget.expected)
            self._budget = None

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def student(request: Request) -> tuple[str, str]:
    """Whom a cooldown counts: the person on this platform."""
    return (request.place.platform, request.user.id)


async def admit(
    request: Request,
    traffic: LlmTraffic,
    settings: LlmSettings,
    *,
    longest_wait_s: float,
    refusals: Refusals = Refusals(),
    budget: Budget | None = None,
    cooldown: bool = True,
) -> Admission:
    """Check, in order, the cooldown, the budget and the wait in line; raise the UserError of the
    first that fails, else start the cooldown, reserve the budget and return the Admission.
    `longest_wait_s` is the longest estimated wait of the request's calls
    (Upstream.estimated_wait). Raises what the database raises when the budget is shared and
    the database is down (the caller's "couldn't save" path)."""
    who = student(request)
    if cooldown and not request.user.is_instructor and (wait := traffic.cooldowns.remaining(who)) > 0:
        raise UserError(refusals.cooldown, seconds=math.ceil(wait))
    shared = traffic.shared
    if budget is not None and shared is None and (left := traffic.budget.left(budget.which_class, budget.used)) < budget.expected:
        raise _over_budget(refusals, settings, budget.used, left, budget.expected)
    if longest_wait_s > DISCORD_FOLLOWUP_WINDOW_S - settings.total_timeout_s - FOLLOWUP_MARGIN_S:
        raise UserError(refusals.line_too_long, minutes=math.ceil(longest_wait_s / 60))
    started, previous = None, None
    if cooldown and not request.user.is_instructor:
        started, previous = who, traffic.cooldowns.start(who)  # this process's first: no await before it
    if shared is None:
        if budget is not None:
            traffic.budget.reserve(budget.which_class, budget.expected)
        return Admission(traffic, budget, started, previous)
    # Several processes: the cooldown and the budget are taken in the database, each in one
    # atomic step; a refusal gives back what was taken before it.
    shared_start: str | None = None
    hold: str | None = None
    try:
        if started is not None and settings.user_cooldown_s > 0:
            got = await shared.start_cooldown(who, settings.user_cooldown_s)
            if not isinstance(got, str):
                raise UserError(refusals.cooldown, seconds=max(1, math.ceil(got)))
            shared_start = got
        if budget is not None:
            reserved = await shared.reserve(
                budget.which_class, budget.expected, settings.daily_token_budget,
                ttl_s=longest_wait_s + settings.total_timeout_s + FOLLOWUP_MARGIN_S,
            )  # fmt: skip
            if not isinstance(reserved, str):
                used = reserved.used + reserved.held
                raise _over_budget(refusals, settings, used, settings.daily_token_budget - used, reserved.needed)
            hold = reserved
    except BaseException:
        if started is not None:
            traffic.cooldowns.restore(started, previous)
        if shared_start is not None:
            traffic.give_back_shared_cooldown(who, shared_start)
        raise
    return Admission(traffic, budget, started, previous, hold, shared_start)


def _over_budget(refusals: Refusals, settings: LlmSettings, used: int, left: int, needed: int) -> UserError:
    return UserError(refusals.budget, used=used, budget=settings.daily_token_budget, left=max(0, left), needed=needed)


def longest_wait(calls: Sequence[SharedCall], total_timeout_s: float) -> int:
    """Whole seconds until every call has ended at the latest (SharedCall.longest_wait): what
    the waiting message promises, so a hung provider's student knows it up front."""
    return math.ceil(max((call.longest_wait(total_timeout_s) for call in calls), default=0.0))


async def changes(calls: Sequence[SharedCall], min_interval_s: float) -> AsyncIterator[None]:
    """Yield at once, then after changes (at most once per min_interval_s), until every call ends.

    The end itself is never held back by the interval: the caller renders it straight away.
    """
    changed = asyncio.Event()
    for call in calls:
        call.listen(changed)
    try:
        yield
        last = time.monotonic()
        pending = False  # a change not shown yet
        while not all(call.done for call in calls):
            if pending:
                timeout: float | None = max(0.0, min_interval_s - (time.monotonic() - last))
            elif any(not call.admitted for call in calls):
                timeout = QUEUE_REFRESH_S  # in line: refresh the wait estimate even if nothing moved
            else:
                timeout = None
            try:
                async with asyncio.timeout(timeout):
                    await changed.wait()
                changed.clear()
                pending = True
                if time.monotonic() - last < min_interval_s:
                    continue  # shown too recently: gather more news (or the end) first
            except TimeoutError:
                pass  # the interval is over, or it is time to refresh the estimate
            if all(call.done for call in calls):
                return
            pending = False
            last = time.monotonic()
            yield
    finally:
        for call in calls:
            call.unlisten(changed)


def requested_profile(request: Request, settings: Settings) -> Profile:
    """The provider profile a live command runs on: `perfil:` when an instructor names one,
    else the default. Raises UserError("compare.profile_instructor_only") for a student who
    names one, UserError("compare.unknown_profile") for a name not in llm.profiles."""
    name = (request.arg("perfil") or "").strip()
    if name and not request.user.is_instructor:
        raise UserError("compare.profile_instructor_only")
    try:
        return resolve_profile(settings, name)
    except UnknownProfile as exc:
        raise UserError("compare.unknown_profile", name=exc.name, known=", ".join(exc.known)) from None
