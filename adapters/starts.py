"""A few requests start at a time; the rest wait their turn, and the acknowledgements do not.

When a class sends hundreds of commands within seconds, starting all of them at once fills
the event loop's queue, and each platform's acknowledgement (Discord's deferral, Slack's
ack()) waits behind that work, past its 3-second deadline. Adapters acknowledge outside
these slots. A request holds one only until its first reply exists (a stream goes on
without it), and at most MAX_HOLD_S, so a stuck request can delay the others but never
stop them. Clicks and form submissions go ahead of waiting commands: a quiz answer is one
write, and it should not wait behind a class's /tokens pictures. Measured by
bench/class_load.py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from bot.replies import Reply
from bot.services import Services

# bench/class_load.py, 300 students on Slack: ack p99 ~0.1 s with 4 slots, ~0.2 s with 8,
# ~0.5 s with 32, ~1.1 s with none; replies came no later with 4 (the pictures set the pace).
SLOTS = 4
MAX_HOLD_S = 10.0


class StartSlots:
    def __init__(self, size: int = SLOTS, max_hold_s: float = MAX_HOLD_S) -> None:
        self._free = size
        self.max_hold_s = max_hold_s
        # Waiting requests, in arrival order: the urgent ones (clicks, forms) first.
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    @property
    def full(self) -> bool:
        """A request starting now would wait for a slot."""
        return self._free == 0

    async def first_of(self, replies: AsyncIterator[Reply], urgent: bool = False) -> AsyncIterator[Reply]:
        """The same replies; the first one is produced while holding a slot."""
        try:
            await self._take(urgent)
            # The holder's timer, not one per waiter: a class's burst queues hundreds.
            release = _once(self._give_back)
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

    async def _take(self, urgent: bool) -> None:
        if self._free > 0:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._others).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if not turn.cancelled():  # handed a slot just as it was cancelled: pass it on
                self._give_back()
            raise

    def _give_back(self) -> None:
        """The slot goes straight to the next waiting request, if any."""
        for queue in (self._urgent, self._others):
            while queue:
                turn = queue.popleft()
                if not turn.done():  # a cancelled waiter is skipped
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
