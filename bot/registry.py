"""Every command Aula has, in the order /help lists them.

Adding a command: a package under `bot/` with a `command.py` that defines
`command = Command(...)`, its sentences in `bot/locales/<name>.yaml`, and a line here.
"""

from __future__ import annotations

from bot.command import Command


def all_commands() -> list[Command]:
    from bot.compare.command import command as compare
    from bot.dataset.command import command as dataset
    from bot.help.command import command as help_
    from bot.next.command import command as next_
    from bot.privacy.command import command as privacy
    from bot.quiz.command import command as quiz
    from bot.roles.command import command as roles
    from bot.tokens.command import command as tokens

    return [help_, tokens, roles, compare, next_, quiz, dataset, privacy]
