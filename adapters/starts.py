"""A few requests start at a time; the rest wait their turn, and the acknowledgements do not.

When a class sends hundreds of commands within seconds, starting all of them at once fills
the event loop's queue, and each platform's acknowledgement (Discord's deferral, Slack's
ack()) waits behind that work, past its 3-second deadline. Adapters acknowledge outside
these slots. A request holds one only until its first reply exists (a stream goes on
without it), and at most MAX_HOLD_S, so a stuck request can delay the others but never
stop them. Measured by bench/class_load.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from bot.replies import Reply

# bench/class_load.py, 300 students on Slack: ack p99 ~0.1 s with 4 slots, ~0.2 s with 8,
# ~0.5 s with 32, ~1.1 s with none; replies came no later with 4 (the pictures set the pace).
SLOTS = 4
MAX_HOLD_S = 10.0


class StartSlots:
    def __init__(self, size: int = SLOTS, max_hold_s: float = MAX_HOLD_S) -> None:
        self._free = asyncio.Semaphore(size)
        self.max_hold_s = max_hold_s

    @property
    def full(self) -> bool:
        """A request starting now would wait for a slot."""
        return self._free.locked()

    async def first_of(self, replies: AsyncIterator[Reply]) -> AsyncIterator[Reply]:
        """The same replies; the first one is produced while holding a slot."""
        try:
            await self._free.acquire()  # in arrival order
            # The holder's timer, not one per waiter: a class's burst queues hundreds.
            release = _once(self._free.release)
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


def _once(release: Callable[[], None]) -> Callable[[], None]:
    done = False

    def release_once() -> None:
        nonlocal done
        if not done:
            done = True
            release()

    return release_once


def start_slots(services: dict) -> StartSlots:
    """The process's slots, shared by every platform (they share one event loop)."""
    return services.setdefault("start_slots", StartSlots())
