"""Who asked and where: a Discord interaction as the core's User and Place."""

from __future__ import annotations

import discord

from bot.i18n import normalize_locale
from bot.requests import Place, User
from bot.settings import Settings


def locale_of(interaction: discord.Interaction, default: str) -> str:
    """The user's client language; if Aula doesn't speak it, the server's; else the default."""
    for locale in (interaction.locale, interaction.guild_locale):
        lang = normalize_locale(locale.value if locale else None, default="")
        if lang:
            return lang
    return default


def is_instructor(interaction: discord.Interaction, settings: Settings) -> bool:
    member = interaction.user
    if not isinstance(member, discord.Member):
        return False  # in a DM nobody teaches
    wanted = settings.discord.instructor_role.casefold()
    return interaction.permissions.manage_guild or any(
        role.name.casefold() == wanted for role in member.roles
    )


def user_of(interaction: discord.Interaction, settings: Settings) -> User:
    return User(
        id=str(interaction.user.id),
        name=interaction.user.display_name,
        is_instructor=is_instructor(interaction, settings),
        locale=locale_of(interaction, settings.default_locale),
    )


def place_of(interaction: discord.Interaction) -> Place:
    channel = interaction.channel
    guild = str(interaction.guild_id) if interaction.guild_id else ""
    if isinstance(channel, discord.Thread):
        return Place("discord", guild, str(channel.parent_id), thread_id=str(channel.id))
    return Place("discord", guild, str(interaction.channel_id or ""))
