"""The core's Messenger on Discord: posts nobody asked for (timers, deadlines, reminders)."""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord.render import render
from bot.replies import Reply
from bot.requests import Place

log = logging.getLogger("aula.discord")

THREAD_NAME = 100  # Discord's limit for a thread's name


class DiscordMessenger:
    def __init__(self, client: discord.Client, default_locale: str) -> None:
        self.client = client
        self.lang = default_locale  # posts in a channel speak the class's language

    async def channel(self, place: Place) -> Any:
        channel_id = int(place.thread_id or place.channel_id)
        return self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)

    async def send(self, place: Place, reply: Reply) -> str:
        # One message, so that edit() can replace all of it later: a long reply is
        # shortened there, with its full text attached.
        (message,) = render(reply, self.lang, max_messages=1)
        channel = await self.channel(place)
        sent = await channel.send(**message.send_kwargs())
        return str(sent.id)

    async def edit(self, place: Place, message_id: str, reply: Reply) -> None:
        channel = await self.channel(place)
        (message,) = render(reply, self.lang, max_messages=1)
        await channel.get_partial_message(int(message_id)).edit(**message.edit_kwargs())

    async def start_thread(self, place: Place, message_id: str, title: str) -> Place:
        channel = await self.channel(place)
        name = " ".join(title.split())[:THREAD_NAME] or "Aula"
        thread = await channel.get_partial_message(int(message_id)).create_thread(name=name)
        return Place(place.platform, place.workspace_id, place.channel_id, thread_id=str(thread.id))

    async def send_direct(self, place: Place, user_id: str, reply: Reply) -> None:
        user = self.client.get_user(int(user_id)) or await self.client.fetch_user(int(user_id))
        try:
            for message in render(reply, self.lang):
                await user.send(**message.send_kwargs())
        except discord.Forbidden:
            # The user closed their DMs; a bot cannot whisper in a channel outside an interaction.
            log.warning("user %s does not accept direct messages; private message not delivered", user_id)
