"""The URL that adds Aula to a Discord server, with exactly the permissions it uses."""

from __future__ import annotations

import base64
import binascii

import discord

# Slash commands need no permission; these are what the bot does with its answers and posts.
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
SCOPES = ("bot", "applications.commands")


def invite_url(client_id: int | str) -> str:
    return discord.utils.oauth_url(int(client_id), permissions=BOT_PERMISSIONS, scopes=SCOPES)


def client_id_from_token(token: str) -> str:
    """A bot token's first dot-separated part is the application id, base64-encoded.

    Returns "" when the token is not shaped like that, so the caller can ask for the id.
    """
    head = token.strip().split(".", 1)[0].replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded if decoded.isdigit() else ""
