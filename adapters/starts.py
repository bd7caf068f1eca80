"""A few requests start at a time; the rest wait their turn, and the acknowledgements do not.

When a class sends hundreds of commands within seconds, starting all of them at once fills
the event loop's queue, and each platform's acknowledgement (Discord's deferral, Slack's
ack()) waits behind that work, past its 3-second deadline. Adapters acknowledge outside
these slots. A request holds one only until its first reply exists (a stream goes on
without it), and waits at most MAX_WAIT_S for one, so a stuck request can delay the
others but never stop them. Measured by bench/class_load.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.replies import Reply

# bench/class_load.py, 300 students on Slack: ack p99 ~0.1 s with 4 slots, ~0.2 s with 8,
# ~0.5 s with 32, ~1.1 s with none; replies came no later with 4 (the pictures set the pace).
SLOTS = 4
MAX_WAIT_S = 10.0


class StartSlots:
    def __init__(self, size: int = SLOTS, max_wait_s: float = MAX_WAIT_S) -> None:
        self._free = asyncio.Semaphore(size)
        self.max_wait_s = max_wait_s

    async def first_of(self, replies: AsyncIterator[Reply]) -> AsyncIterator[Reply]:
        """The same replies; the first one is produced while holding a slot."""
        try:
            held = await self._take()
            try:
                first = await anext(replies, None)
            finally:
                if held:
                    self._free.release()
            if first is None:
                return
            yield first
            async for reply in replies:
                yield reply
        finally:
            await replies.aclose()  # its own cleanup (the command log) runs now, not when collected

    async def _take(self) -> bool:
        """A slot, in arrival order; False if none came within max_wait_s (go on anyway)."""
        if not self._free.locked():
            await self._free.acquire()  # free: returns at once, no timer
            return True
        try:
            async with asyncio.timeout(self.max_wait_s):
                await self._free.acquire()
        except TimeoutError:
            return False
        return True


def start_slots(services: dict) -> StartSlots:
    """The process's slots, shared by every platform (they share one event loop)."""
    return services.setdefault("start_slots", StartSlots())
