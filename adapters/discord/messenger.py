"""The core's Messenger on Discord: posts nobody asked for (timers, deadlines, reminders).

Posts go by channel id over REST: a channel this process has cached is used as it is, any other
is a PartialMessageable (no request to look it up). With several processes on Discord's shards
(discord.shard_ids) the process that closes a question may not hold its server on its shards
(another process runs the timer once the owner died), and the post still arrives. Only opening
a thread fetches the channel first (discord.py needs its server for that).
"""

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
        """The cached channel (or thread), else a PartialMessageable: send and edit need no more."""
        channel_id = int(place.thread_id or place.channel_id)
        guild_id = int(place.workspace_id) if place.workspace_id.isdigit() else None
        return self.client.get_channel(channel_id) or self.client.get_partial_messageable(channel_id, guild_id=guild_id)

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
        channel_id = int(place.thread_id or place.channel_id)
        channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
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
