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


def open_failure(exc: OSError) -> str:
    """Why opening a file named by the user failed, as the word its message key ends with:
    "missing" (no such file), "folder" (the name is a folder), "denied" (no permission) or
    "unreadable" (any other OSError: an I/O error, a name too long…)."""
    if isinstance(exc, FileNotFoundError):
        return "missing"
    if isinstance(exc, IsADirectoryError):
        return "folder"
    if isinstance(exc, PermissionError):
        return "denied"
    return "unreadable"


FILE_KEYS = {"missing": "console.no_such_file", "folder": "console.file_folder", "denied": "console.file_denied"}


def file_error(exc: OSError, file: str) -> UserError:
    """The UserError for a local file (a console attachment's path) that could not be opened."""
    key = FILE_KEYS.get(open_failure(exc), "console.file_unreadable")
    return UserError(key, file=file, error=exc.strerror or "")
