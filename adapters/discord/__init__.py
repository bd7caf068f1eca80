"""Aula on Discord: `create_bot(settings, aula)` builds the bot without connecting.

client.py: the bot and its slash commands' answers; slash.py: commands built from
the registry's specs; respond.py: deadlines, deferral, streamed edits; render.py:
Reply -> messages within Discord's limits; components.py: buttons and modals;
messenger.py: posts nobody asked for; people.py: users and places; invite.py.
"""

from adapters.discord.client import AulaBot, create_bot

__all__ = ["AulaBot", "create_bot"]
