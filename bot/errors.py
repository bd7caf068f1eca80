"""Errors a command raises to tell the user something went wrong with their request."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: shown to them privately, in their language.

    key names a message in bot/locales; values fill its placeholders.
    """

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values
