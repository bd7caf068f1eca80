"""Every command Aula has, in the order /help lists them."""

from __future__ import annotations

from bot.commands import Command, compare, privacy, quiz, roles
from bot.commands import help as help_command
from bot.commands import tokens as tokens_command


def all_commands() -> list[Command]:
    return [
        help_command.command,
        tokens_command.command,
        roles.command,
        compare.command,
        quiz.command,
        privacy.command,
    ]
