"""Whole-number arguments of the `aula` subcommands, within the range the chat adapters accept."""

from __future__ import annotations

import argparse

from bot.arguments import MAX_INTEGER


def whole_number(text: str) -> int:
    """argparse type: an int with |value| <= bot.arguments.MAX_INTEGER (2**53 - 1).

    Raises argparse.ArgumentTypeError (argparse prints it and exits 2), so a number too large
    for SQLite never reaches a query as a traceback.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
    if abs(value) > MAX_INTEGER:
        raise argparse.ArgumentTypeError(f"too large: {text[:40]} (the most is {MAX_INTEGER})")
    return value
