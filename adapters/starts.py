"""A few requests start at a time; the rest wait their turn, and the acknowledgements do not.

When a class sends hundreds of commands within seconds, starting all of them at once fills
the event loop's queue, and each platform's acknowledgement (Discord's deferral, Slack's
ack()) waits behind that work, past its 3-second deadline. Adapters acknowledge outside
these slots. A request holds one only until its first reply exists (a stream goes on
without it), and at most MAX_HOLD_S, so a stuck request can delay the others but never
stop them. Clicks and form submissions go ahead of waiting commands: a quiz answer is one
write, and it should not wait behind a class's /tokens pictures. Measured by
bench/class_load.py.

Each user holds at most PER_USER slots at once, and waiting commands are served round-robin
between users, not first come first served: one student sending forty long /tokens delays
their own requests, not a classmate's (issue 13: 0.4 s became 22.7 s for the other student).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Hashable

from bot.replies import Reply
from bot.services import Services

# bench/class_load.py, 300 students on Slack: ack p99 ~0.1 s with 4 slots, ~0.2 s with 8,
# ~0.5 s with 32, ~1.1 s with none; replies came no later with 4 (the pictures set the pace).
SLOTS = 4
MAX_HOLD_S = 10.0
PER_USER = 2  # slots one user may hold at once: a flood keeps at least two for everyone else


class StartSlots:
    def __init__(self, size: int = SLOTS, max_hold_s: float = MAX_HOLD_S, per_user: int = PER_USER) -> None:
        self._free = size
        self.max_hold_s = max_hold_s
        self.per_user = per_user
        self._holding: dict[Hashable, int] = {}
        # Waiting requests: the urgent ones (clicks, forms) first, in arrival order; then each
        # user's commands in their order, users taking turns (the next to serve is first).
        self._urgent: deque[tuple[Hashable, asyncio.Future[None]]] = deque()
        self._users: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def full(self) -> bool:
        """A request starting now would wait for a slot."""
        return self._free == 0

    async def first_of(
        self, replies: AsyncIterator[Reply], urgent: bool = False, who: Hashable | None = None
    ) -> AsyncIterator[Reply]:
        """The same replies; the first one is produced while holding a slot. `who` is the user
        ((platform, user id)): their share is PER_USER slots, and users take turns."""
        who = object() if who is None else who  # unknown: a user of its own
        try:
            await self._take(urgent, who)
            # The holder's timer, not one per waiter: a class's burst queues hundreds.
            release = _once(lambda: self._give_back(who))
            overdue = asyncio.get_running_loop().call_later(self.max_hold_s, release)
            try:
                first = await anext(replies, None)
            finally:
                overdue.cancel()
                release()
            if first is None:
                return
            yield first
            async for reply in replies:
                yield reply
        finally:
            await replies.aclose()  # its own cleanup (the command log) runs now, not when collected

    def _hold(self, who: Hashable) -> None:
        self._holding[who] = self._holding.get(who, 0) + 1

    async def _take(self, urgent: bool, who: Hashable) -> None:
        if self._free > 0 and (urgent or self._holding.get(who, 0) < self.per_user):
            self._free -= 1
            self._hold(who)
            return
        turn = asyncio.get_running_loop().create_future()
        if urgent:
            self._urgent.append((who, turn))
        else:
            self._users.setdefault(who, deque()).append(turn)
        try:
            await turn  # the slot is counted as who's when it is handed over
        except asyncio.CancelledError:
            if not turn.cancelled():  # handed a slot just as it was cancelled: pass it on
                self._give_back(who)
            raise

    def _give_back(self, who: Hashable) -> None:
        """`who` lets a slot go; it goes straight to the next waiting request, if any: an urgent
        one, else the first user in turn who is under their share (then last in the turn)."""
        held = self._holding.get(who, 0) - 1
        if held > 0:
            self._holding[who] = held
        else:
            self._holding.pop(who, None)
        while self._urgent:
            owner, turn = self._urgent.popleft()
            if not turn.done():  # a cancelled waiter is skipped
                self._hold(owner)
                turn.set_result(None)
                return
        for user in list(self._users):
            if self._holding.get(user, 0) >= self.per_user:
                continue
            waiting = self._users[user]
            while waiting and waiting[0].done():
                waiting.popleft()  # cancelled while waiting
            if not waiting:
                del self._users[user]
                continue
            turn = waiting.popleft()
            if waiting:
                self._users.move_to_end(user)  # the others go first next time
            else:
                del self._users[user]
            self._hold(user)
            turn.set_result(None)
            return
        self._free += 1


def _once(release: Callable[[], None]) -> Callable[[], None]:
    done = False

    def release_once() -> None:
        nonlocal done
        if not done:
            done = True
            release()

    return release_once


def start_slots(services: Services) -> StartSlots:
    """The process's slots, shared by every platform (they share one event loop)."""
    return services.shared(StartSlots)
