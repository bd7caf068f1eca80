"""The Discord bot: slash commands from the registry, answered by the Aula core."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import discord
import httpx
from discord import app_commands
from discord.ext import commands

from adapters.discord.components import ActionButton
from adapters.discord.messenger import DiscordMessenger
from adapters.discord.people import locale_of, place_of, user_of
from adapters.discord.render import NO_MENTIONS
from adapters.discord.respond import FIRST_REPLY_WAIT_S, respond
from adapters.discord.slash import CatalogTranslator, slash_commands
from adapters.starts import SLOTS, start_slots
from bot.actions import command_of
from bot.app import Aula, error_reply
from bot.arguments import convert
from bot.command import Option
from bot.errors import UserError
from bot.i18n import t
from bot.replies import Reply
from bot.requests import Request
from bot.settings import Settings, load_settings
from bot.uploads import CHUNK_BYTES, Upload

log = logging.getLogger("aula.discord")

# Attachments are streamed from Discord's CDN with httpx, a chunk at a time, as the command reads
# them; each command caps what it reads (/dataset: [dataset] max_bytes; quiz banks: 8 MB).
CDN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def cdn_transport() -> httpx.AsyncBaseTransport | None:
    """Where CDN requests go: None is the network. Tests route them to the simulator's CDN store."""
    return None


class AulaTree(app_commands.CommandTree):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await self.client.report_failure(interaction, error)  # type: ignore[attr-defined]


class AulaBot(commands.Bot):
    """Built without connecting: `start(token)` connects; tests attach it to a simulator."""

    def __init__(self, settings: Settings, aula: Aula, owns_aula: bool, **shards: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=discord.Intents(guilds=True),  # slash commands need nothing privileged
            allowed_mentions=NO_MENTIONS,
            tree_cls=AulaTree,
            **shards,
        )
        self.settings = settings
        self.aula = aula
        self.owns_aula = owns_aula
        # What the last answer of each command looked like: to defer a slow one the same way.
        self.private_hints: dict[str, bool] = {}
        self.starts = start_slots(aula.services)  # deferral happens outside them: see respond.py
        self.awaiting_first = 0  # interactions that arrived and have no first reply yet
        self._cdn: httpx.AsyncClient | None = None  # opened on the first attachment, closed with the bot
        for command in slash_commands(
            [c.spec for c in aula.commands.values()], self.run_command, self.suggest
        ):
            self.tree.add_command(command)
        self.add_dynamic_items(ActionButton)

    async def setup_hook(self) -> None:
        # The messenger first: start-up may close quiz questions that expired while the bot
        # was down, and their results are posted through it.
        self.aula.messengers["discord"] = DiscordMessenger(self, self.settings.default_locale)
        await self.aula.start()
        await self.tree.set_translator(CatalogTranslator())
        await self.sync_commands()

    async def sync_commands(self) -> None:
        if not self.settings.discord.syncs_commands():
            log.info("slash commands are synced by the process that runs shard 0")
            return
        guild_ids = self.settings.discord.guild_ids
        for guild_id in guild_ids:  # per guild: visible at once, handy for one class server
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if not guild_ids:
            await self.tree.sync()  # global: may take a while to reach every client
        log.info("slash commands synced to %s", guild_ids or "every server")

    async def close(self) -> None:
        await super().close()
        if self._cdn is not None:
            await self._cdn.aclose()
        if self.owns_aula:
            await self.aula.close()

    # --- answering --------------------------------------------------------------------

    async def run_command(
        self, interaction: discord.Interaction, command: str, subcommand: str, args: dict[str, Any]
    ) -> None:
        user = user_of(interaction, self.settings)
        received_at = self.aula.clock()  # before any queueing: see Request.received_at

        async def start() -> AsyncIterator[Reply]:
            try:
                values, attachments = await self._arguments(command, subcommand, args)
            except UserError as exc:
                return _single(error_reply(user.locale, exc.key, **exc.values))
            request = Request(
                command=command,
                subcommand=subcommand,
                user=user,
                place=place_of(interaction),
                args=values,
                attachments=attachments,
                received_at=received_at,
            )
            return self.starts.first_of(self.aula.handle(request), who=(request.place.platform, request.user.id))

        await self._respond(interaction, f"{command} {subcommand}", start, user.locale)

    async def run_action(self, interaction: discord.Interaction, action: str, values: dict[str, str]) -> None:
        """A button click or a form submission, answered like a command."""
        user = user_of(interaction, self.settings)
        request = Request(
            command=command_of(action),
            user=user,
            place=place_of(interaction),
            action=action,
            values=values,
            received_at=self.aula.clock(),
        )

        async def start() -> AsyncIterator[Reply]:
            who = (request.place.platform, request.user.id)
            return self.starts.first_of(self.aula.handle(request), urgent=True, who=who)  # a click goes first

        await self._respond(interaction, f"{request.command} action", start, user.locale)

    async def _respond(self, interaction: discord.Interaction, kind: str, start: Any, lang: str) -> None:
        # A request that will queue for a start slot cannot answer within the short wait:
        # deferring it at once keeps a class's acknowledgements ahead of the queued work.
        # Slots are taken a loop turn after arrival, so a burst shows in `awaiting_first` first.
        must_queue = self.starts.full or self.awaiting_first >= SLOTS
        self.awaiting_first += 1

        def first_exists() -> None:
            self.awaiting_first -= 1

        first = await respond(
            interaction,
            start,
            lang,
            expect_private=self.private_hints.get(kind, False),
            wait_s=0 if must_queue else FIRST_REPLY_WAIT_S,
            on_first=first_exists,
        )
        if first is not None and not first.error:
            self.private_hints[kind] = first.is_private

    async def _arguments(
        self, command: str, subcommand: str, args: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[Upload, ...]]:
        """Option values as the core expects them, and the uploads, to be streamed as read."""
        spec = self.aula.spec(command, subcommand)
        options = {o.name: o for o in spec.options} if spec else {}
        values: dict[str, Any] = {}
        attachments: list[Upload] = []
        for name, value in args.items():
            option = options.get(name)
            if isinstance(value, discord.Attachment):
                attachments.append(self.upload(value))
                values[name] = value.filename
            elif option is not None and option.choices:
                values[name] = convert(option, str(value))  # autocompleted choices are typed freely
            else:
                values[name] = value
        return values, tuple(attachments)

    def upload(self, attachment: discord.Attachment) -> Upload:
        """An attachment as an Upload: its bytes streamed from the CDN in CHUNK_BYTES pieces when
        the command reads them. A file deleted (or its link expired, 403/404) or a download that
        fails raises UserError("discord.attachment_gone")."""
        if self._cdn is None:
            self._cdn = httpx.AsyncClient(transport=cdn_transport(), timeout=CDN_TIMEOUT, follow_redirects=True)
        client, name, url = self._cdn, attachment.filename, attachment.url

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise UserError("discord.attachment_gone", name=name)
                    async for chunk in response.aiter_bytes(CHUNK_BYTES):
                        yield chunk
            except httpx.HTTPError:
                raise UserError("discord.attachment_gone", name=name) from None

        return Upload(name, chunks, attachment.size)

    async def suggest(
        self, interaction: discord.Interaction, command: str, subcommand: str, option: Option, typed: str
    ) -> list[str]:
        if not option.autocomplete:  # a long list of fixed choices, filtered by what was typed
            return [c for c in option.choices if typed.casefold() in c.casefold()]
        namespace = interaction.namespace
        spec = self.aula.spec(command, subcommand)
        filled = {o.name: getattr(namespace, o.name, None) for o in (spec.options if spec else ())}
        request = Request(
            command=command,
            subcommand=subcommand,
            user=user_of(interaction, self.settings),
            place=place_of(interaction),
            args={k: v for k, v in filled.items() if v is not None and not isinstance(v, discord.Attachment)},
        )
        return await self.aula.complete(request, option.name, typed)

    async def report_failure(self, interaction: discord.Interaction, error: BaseException) -> None:
        """The one place adapter failures end: logged, and the user told in their language."""
        log.error("discord interaction failed", exc_info=error)
        text = t(locale_of(interaction, self.settings.default_locale), "discord.error")
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except Exception:  # the interaction may have expired too; the log has the story
            log.warning("could not tell the user about the failure", exc_info=True)


async def _single(reply: Reply) -> AsyncIterator[Reply]:
    yield reply


class ShardedAulaBot(AulaBot, commands.AutoShardedBot):
    """AulaBot on some of Discord's shards (discord.shard_count / shard_ids): several processes,
    each with its own shards, split the servers. Interactions reach the process whose shard owns
    the server; posts nobody asked for (a timer another process runs) go by channel id over REST
    (DiscordMessenger), so they do not need the server in this process's cache."""


def create_bot(settings: Settings | None = None, aula: Aula | None = None) -> AulaBot:
    """The bot, not connected: `await bot.start(token)` to run it, or drive it in tests.
    With discord.shard_count set, an AutoShardedBot running discord.shard_ids (all if unset)."""
    if settings is None:
        settings = aula.settings if aula is not None else load_settings()
    owns_aula = aula is None
    if settings.discord.shard_count is None:
        return AulaBot(settings, aula or Aula(settings), owns_aula=owns_aula)
    return ShardedAulaBot(
        settings, aula or Aula(settings), owns_aula=owns_aula,
        shard_count=settings.discord.shard_count, shard_ids=settings.discord.shard_ids,
    )  # fmt: skip
