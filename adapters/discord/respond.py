"""Answering one interaction within Discord's deadlines.

Discord drops an interaction nobody acknowledged within 3 seconds. So the core's
first reply gets FIRST_REPLY_WAIT_S: if it comes in time it is the response itself
(a message, or a modal, which can only ever be the first response); otherwise the
interaction is deferred ("thinking…"; a click without it) and the reply follows. The wait
is short, far inside the deadline, and skipped when the request must queue for a start slot:
when a whole class types at once, the replies queue but every interaction is acknowledged at
once (bench/class_load.py). Later replies of a streaming handler edit those messages, at most
once per EDIT_INTERVAL_S, and the newest always lands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import discord

from adapters.discord.components import FormModal, FormOpener
from adapters.discord.render import NO_MENTIONS, Outgoing, render
from bot.i18n import t
from bot.replies import Paragraph, Reply

log = logging.getLogger("aula.discord")

FIRST_REPLY_WAIT_S = 0.1  # a quiz click or /roles answers within it; a long /tokens is deferred
EDIT_INTERVAL_S = 1.0  # Discord rate-limits edits; one a second keeps a stream smooth and legal


class Answer:
    """The messages that answer one interaction: the response, then followups."""

    ORIGINAL = None  # in `messages`, the interaction's own response message

    def __init__(self, interaction: discord.Interaction, lang: str) -> None:
        self.interaction = interaction
        self.lang = lang
        self.deferred_private: bool | None = None  # set when deferred: the thinking message's visibility
        self.deferred_silently = False  # a click deferred without a thinking message
        self.private = False
        self.opened_modal = False
        self.messages: list[discord.WebhookMessage | None] = []

    async def defer(self, private: bool) -> None:
        if self.interaction.type is discord.InteractionType.component:
            # A click is acknowledged without a "thinking…" message: a class answering a quiz
            # under load would otherwise fill the channel with notes; the answer follows.
            await self.interaction.response.defer()
            self.deferred_silently = True
            return
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
            # A modal can only be the first response; past that, a button opens it.
            opener = FormOpener(reply.form, t(self.lang, "discord.open_form"))
            outgoing = [Outgoing(content=t(self.lang, "discord.form_prompt"), view=opener)]
            self.private = True
        else:
            outgoing = render(reply, self.lang)
            self.private = reply.is_private
        first, rest = outgoing[0], outgoing[1:]
        if not response.is_done():
            await response.send_message(**first.send_kwargs(), ephemeral=self.private)
            self.messages.append(self.ORIGINAL)
        elif self.deferred_silently:
            rest = outgoing  # no message of its own to edit: everything follows
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


async def respond(
    interaction: discord.Interaction,
    start: Callable[[], Awaitable[AsyncIterator[Reply]]],
    lang: str,
    expect_private: bool,
    wait_s: float = FIRST_REPLY_WAIT_S,
    on_first: Callable[[], None] | None = None,
) -> Reply | None:
    """Answer an interaction with the replies `start()` produces. `start` may take time
    (downloading attachments) and counts against the deadline too. After `wait_s` without a
    first reply the interaction is deferred (0: deferred at once). `on_first` is called once
    the first reply exists (or its making failed or was cancelled).

    Returns the first reply (None if there was none), so the caller can learn from it.
    """
    replies: AsyncIterator[Reply] | None = None

    async def first_reply() -> Reply | None:
        nonlocal replies
        replies = await start()
        return await anext(replies, None)

    answer = Answer(interaction, lang)
    first = asyncio.ensure_future(first_reply())
    if on_first is not None:
        first.add_done_callback(lambda _: on_first())
    try:
        done, _ = await asyncio.wait({first}, timeout=wait_s) if wait_s > 0 else ((), ())
        if not done:
            await answer.defer(expect_private)
        reply = await first
        await answer.show(reply or Reply.private(Paragraph.of(t(lang, "discord.done"))))
        if replies is not None and reply is not None:
            await follow(replies, answer.update, EDIT_INTERVAL_S)
        return reply
    finally:
        await _cancelled(first)
        aclose = getattr(replies, "aclose", None)
        if aclose is not None:
            await aclose()


async def follow(
    replies: AsyncIterator[Reply], apply: Callable[[Reply], Awaitable[None]], interval: float
) -> None:
    """Apply the later replies, at most one per `interval` (the first was shown just now);
    the newest waiting one is applied when its turn comes, and the last always is."""
    loop = asyncio.get_running_loop()
    next_at = loop.time() + interval
    waiting: Reply | None = None
    coming = asyncio.ensure_future(anext(replies, None))
    try:
        while coming is not None or waiting is not None:
            if coming is not None:
                timeout = None if waiting is None else max(0.0, next_at - loop.time())
                await asyncio.wait({coming}, timeout=timeout)
                if coming.done():
                    newest = coming.result()
                    coming = None if newest is None else asyncio.ensure_future(anext(replies, None))
                    if newest is not None:
                        waiting = newest
            else:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
            if waiting is not None and loop.time() >= next_at:
                await apply(waiting)
                waiting = None
                next_at = loop.time() + interval
    finally:
        await _cancelled(coming)


async def _cancelled(task: asyncio.Future | None) -> None:
    """Stop a task reading the reply stream, so the stream can be closed after it."""
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
