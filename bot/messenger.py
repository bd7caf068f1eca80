"""What the core may ask of a platform outside a request: post, edit, open a thread.

Adapters implement this so timers and deadlines (a quiz question closing, homework
published at its deadline, a reminder) can speak in a channel with nobody typing.
"""

from __future__ import annotations

from typing import Protocol

from bot.replies import Reply
from bot.requests import Place


class Messenger(Protocol):
    async def send(self, place: Place, reply: Reply) -> str:
        """Post in the channel (or thread) of place; returns the new message's id."""

    async def edit(self, place: Place, message_id: str, reply: Reply) -> None:
        """Replace a message the bot posted earlier."""

    async def start_thread(self, place: Place, message_id: str, title: str) -> Place:
        """Open a discussion thread on a message; returns the thread as a Place."""

    async def send_direct(self, place: Place, user_id: str, reply: Reply) -> None:
        """Tell one user privately (a DM, or an ephemeral message in place)."""
