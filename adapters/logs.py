"""The process's logging: key=value lines on stderr (bot/logs.py), quiet libraries.

Libraries stay at INFO or above even when log_level is DEBUG: their DEBUG lines carry
request bodies and SQL parameters (what students typed, what the model answered) and
headers (tokens).
Bolt logs a refused request's whole body at INFO; that one line loses its body here.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from bot.logs import KeyValueFormatter
from bot.settings import Settings

LIBRARY_FLOOR = logging.INFO  # for every logger but Aula's own ("aula" and "aula.*")
# Quieter still: httpx and httpcore log every request at INFO.
QUIETER = {"httpx": logging.WARNING, "httpcore": logging.WARNING}
BOLT_VERIFICATION_LOGGER = "slack_bolt.RequestVerification"


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send every record to one key=value handler with the settings' secrets masked; returns it."""
    handler = logging.StreamHandler(stream) if stream else StderrHandler()
    handler.setFormatter(KeyValueFormatter(secret_values(settings)))
    handler.addFilter(LibraryFloors())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, KeyValueFormatter)]:
        root.removeHandler(old)  # configuring twice (tests, a reload) must not double every line
    root.addHandler(handler)
    level = logging.getLevelName(settings.log_level)
    root.setLevel(level)
    # Bolt names a logger after the app ("aula") and copies the root's level into it on every
    # request; whatever an earlier Bolt app left there must not hide Aula's own lines.
    logging.getLogger("aula").setLevel(logging.NOTSET)
    verification = logging.getLogger(BOLT_VERIFICATION_LOGGER)
    if not any(isinstance(f, DropRequestBody) for f in verification.filters):
        verification.addFilter(DropRequestBody())
    return handler


def secret_values(settings: Settings) -> list[str]:
    """Every secret the process may hold: the five settings and each LLM profile's key."""
    values = [s.get_secret_value() for s in settings.secrets.model_dump().values() if s is not None]
    values += [os.environ.get(p.api_key_env, "") for p in settings.llm.profiles.values() if p.api_key_env]
    return [v for v in values if v]


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line is written (as logging.lastResort does),
    so a process that swaps stderr (a test runner capturing it) never writes to a closed one."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class LibraryFloors(logging.Filter):
    """Only Aula's own loggers go below INFO. A filter on the handler, not logger levels:
    Bolt copies the root's level into each logger it creates, and names some after the
    app ("aula:<listener>"), which is not one of ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name == "aula" or name.startswith("aula."):
            return True
        floor = QUIETER.get(name.split(".", 1)[0], LIBRARY_FLOOR)
        return record.levelno >= floor


class DropRequestBody(logging.Filter):
    """Bolt's "Invalid request signature detected (signature: ..., body: ...)" without the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "body:" in message:
            record.msg = message.split("body:", 1)[0].rstrip(" ,") + ", body: (not logged))"
            record.args = None
        return True
