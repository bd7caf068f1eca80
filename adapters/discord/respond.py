"""Answering one interaction within Discord's deadlines.

Discord drops an interaction nobody acknowledged within 3 seconds. So the core's
first reply gets FIRST_REPLY_WAIT_S: if it comes in time it is the response itself
(a message, or a modal, which can only ever be the first response); otherwise the
interaction is deferred and the reply follows. Later replies of a streaming handler
edit those messages, at most once per EDIT_INTERVAL_S, and the newest always lands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord

from adapters.discord.components import FormModal, FormOpener
from adapters.discord.render import NO_MENTIONS, Outgoing, render
from bot.i18n import t
from bot.limits import DISCORD_ACK_DEADLINE_S
from bot.replies import Paragraph, Reply

log = logging.getLogger("aula.discord")

FIRST_REPLY_WAIT_S = DISCORD_ACK_DEADLINE_S - 1.0  # a second left for the response to reach Discord
EDIT_INTERVAL_S = 1.0  # Discord rate-limits edits; one a second keeps a stream smooth and legal


class LatestOnly:
    """Applies the newest offered value, at most once per interval; the last one always lands."""

    def __init__(self, apply: Callable[[Any], Awaitable[None]], interval: float) -> None:
        self._apply = apply
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._next_at = self._loop.time() + interval
        self._latest: Any = None
        self._closing = False
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    def offer(self, value: Any) -> None:
        self._latest = value
        self._wake.set()

    async def close(self) -> None:
        """Wait until the newest value has been applied."""
        self._closing = True
        self._wake.set()
        await self._task

    def cancel(self) -> None:
        self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._latest is not None:
                await asyncio.sleep(max(0.0, self._next_at - self._loop.time()))
                value, self._latest = self._latest, None
                await self._apply(value)
                self._next_at = self._loop.time() + self._interval
            if self._closing and self._latest is None:
                return


class Answer:
    """The messages that answer one interaction: the response, then followups."""

    ORIGINAL = None  # in `messages`, the interaction's own response message

    def __init__(self, interaction: discord.Interaction, lang: str) -> None:
        self.interaction = interaction
        self.lang = lang
        self.deferred_private: bool | None = None  # set when deferred: the thinking message's visibility
        self.private = False
        self.opened_modal = False
        self.messages: list[discord.WebhookMessage | None] = []

    async def defer(self, private: bool) -> None:
        await self.interaction.response.defer(ephemeral=private, thinking=True)
        self.deferred_private = private

    async def show(self, reply: Reply) -> None:
        """The first reply."""
        response = self.interaction.response
        if reply.form is not None:
            if not response.is_done() and self.interaction.type is not discord.InteractionType.modal_submit:
                await response.send_modal(FormModal(reply.form))
                self.opened_modal = True
                return
            await self._show_form_opener(reply)
            return
        self.private = reply.is_private
        outgoing = render(reply, self.lang)
        first, rest = outgoing[0], outgoing[1:]
        if not response.is_done():
            await response.send_message(**first.send_kwargs(), ephemeral=self.private)
            self.messages.append(self.ORIGINAL)
        elif self.deferred_private == self.private:
            await self.interaction.edit_original_response(**first.edit_kwargs())
            self.messages.append(self.ORIGINAL)
        else:
            # The thinking message cannot change visibility: it gets a note, the reply follows.
            note = "answered_privately" if self.private else "answered_below"
            await self.interaction.edit_original_response(
                content=t(self.lang, f"discord.{note}"), allowed_mentions=NO_MENTIONS
            )
            rest = outgoing
        for message in rest:
            self.messages.append(await self._followup(message))

    async def update(self, reply: Reply) -> None:
        """A later version of the reply replaces the earlier one (a streaming handler)."""
        if self.opened_modal or reply.form is not None:
            log.warning("a form cannot replace a reply, nor a reply a form; dropped")
            return
        outgoing = render(reply, self.lang)
        for index, message in enumerate(outgoing):
            if index < len(self.messages):
                await self._edit(self.messages[index], message)
            else:
                self.messages.append(await self._followup(message))
        for stale in self.messages[len(outgoing) :]:
            await self._delete(stale)
        del self.messages[len(outgoing) :]

    async def _followup(self, message: Outgoing) -> discord.WebhookMessage:
        return await self.interaction.followup.send(
            **message.send_kwargs(), ephemeral=self.private, wait=True
        )

    async def _edit(self, target: discord.WebhookMessage | None, message: Outgoing) -> None:
        if target is self.ORIGINAL:
            await self.interaction.edit_original_response(**message.edit_kwargs())
        else:
            await target.edit(**message.edit_kwargs())

    async def _delete(self, target: discord.WebhookMessage | None) -> None:
        if target is self.ORIGINAL:
            await self.interaction.delete_original_response()
        else:
            await target.delete()

    async def _show_form_opener(self, reply: Reply) -> None:
        assert reply.form is not None
        view = FormOpener(reply.form, t(self.lang, "discord.open_form"))
        kwargs: dict[str, Any] = {"content": t(self.lang, "discord.form_prompt"), "view": view}
        self.private = True
        if not self.interaction.response.is_done():
            await self.interaction.response.send_message(
                **kwargs, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        else:
            await self.interaction.followup.send(**kwargs, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def respond(
    interaction: discord.Interaction,
    start: Callable[[], Awaitable[AsyncIterator[Reply]]],
    lang: str,
    expect_private: bool,
) -> Reply | None:
    """Answer an interaction with the replies `start()` produces. `start` may take time
    (downloading attachments) and counts against the deadline too.

    Returns the first reply (None if there was none), so the caller can learn from it.
    """
    replies: AsyncIterator[Reply] | None = None

    async def first_reply() -> Reply | None:
        nonlocal replies
        replies = await start()
        return await anext(replies, None)

    answer = Answer(interaction, lang)
    first = asyncio.ensure_future(first_reply())
    try:
        done, _ = await asyncio.wait({first}, timeout=FIRST_REPLY_WAIT_S)
        if not done:
            await answer.defer(expect_private)
        reply = await first
        await answer.show(reply or Reply.private(Paragraph.of(t(lang, "discord.done"))))
        if replies is None or reply is None:
            return reply
        edits = LatestOnly(answer.update, EDIT_INTERVAL_S)
        try:
            async for later in replies:
                edits.offer(later)
        except BaseException:
            edits.cancel()
            raise
        await edits.close()
        return reply
    finally:
        if not first.done():
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
        aclose = getattr(replies, "aclose", None)
        if aclose is not None:
            await aclose()
