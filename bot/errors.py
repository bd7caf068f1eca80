"""Errors a command raises to tell the user something went wrong with their request."""

from __future__ import annotations

from bot.limits import truncate

ECHO_MAX = 80  # characters of the user's own text a refusal quotes back


class UserError(Exception):
    """A problem the user can fix: shown to them privately, in their language.

    key names a message in bot/locales; values fill its placeholders.
    """

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def echo(text: object) -> str:
    """The user's text as a refusal quotes it: on one line and cut short, so a pasted wall
    of text comes back as a few words, not as the wall."""
    return truncate(" ".join(str(text).split()), ECHO_MAX)
