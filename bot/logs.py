"""Log lines: one line per event, `key=value`, never a secret, never a user's text.

    2025-03-01T10:00:00.123Z level=info logger=aula event=command command=tokens sub=- kind=command platform=discord latency_ms=12.3 outcome=ok reason=- shown=public replies=1

Code logs an event with `event(log, "command", command=..., ...)`; any other record (a
library's line, an adapter's warning) keeps its text as `msg="..."`. An exception goes
on the same line as `error=Type traceback="..."` with its newlines escaped.

Before a line is written the formatter masks the secret values it was given and anything
shaped like a token or a Slack response URL, so a library's message or an exception that
quotes one still leaks nothing. User text cannot be recognised by its shape: the code
keeps it out of log calls, and a record may list texts to mask (`extra={PRIVATE: [...]}`),
as the core does for the request behind a crash, whose traceback may quote them.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from collections.abc import Iterable

FIELDS = "aula_fields"  # record attribute holding an event's fields
PRIVATE = "aula_private"  # record attribute holding texts to mask in that record's line
MASK = "****"
SHORTEST_SECRET = 4  # shorter values would mask ordinary words
SHORTEST_PRIVATE_TEXT = 3

# Shapes of credentials that may reach a line without being known: from an exception or a
# library. Each match is replaced by its group 1 (what precedes the secret) and the mask.
TOKEN_SHAPES = (
    re.compile(r"()\bxox[abposre]-[A-Za-z0-9-]+"),  # Slack bot, user and refresh tokens
    re.compile(r"()\bxapp-[A-Za-z0-9-]+"),  # Slack app-level tokens (Socket Mode)
    re.compile(r"()\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"),  # Discord bot tokens
    re.compile(r"(?i)(\bbearer\s+)[^\s'\",}]+"),  # an Authorization header's value
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bot\s+)?)[^\s'\",}]+"),
    re.compile(r"(?i)(\b(?:api[_-]?key|token|signing[_-]?secret)=)[^\s&'\",}]+"),  # in URLs and forms
    re.compile(r"(https://hooks\.slack\.com/)[^\s'\",}]+"),  # response URLs: whoever holds one can post
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^\s/@'\"]+(?=@)"),  # user:password@ in any URL
    re.compile(r"()\bsk-[A-Za-z0-9_-]{8,}"),  # OpenAI-style API keys, as a provider's error may quote them
)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one event with its fields (names and numbers: never user text, never secrets)."""
    logger.log(level, name, extra={FIELDS: fields})


class KeyValueFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= SHORTEST_SECRET}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, object]] = [("level", record.levelname.lower()), ("logger", record.name)]
        fields = getattr(record, FIELDS, None)
        if fields is not None:
            pairs.append(("event", record.msg))
            pairs.extend(fields.items())
        else:
            pairs.append(("msg", record.getMessage()))
        if record.exc_info and record.exc_info[0] is not None:
            pairs.append(("error", record.exc_info[0].__name__))
            pairs.append(("traceback", "".join(traceback.format_exception(*record.exc_info)).rstrip()))
        elif record.stack_info:
            pairs.append(("stack", record.stack_info))
        private = getattr(record, PRIVATE, ())
        shown = [f"{key}={quote(self.redact(v, private) if isinstance(v, str) else v)}" for key, v in pairs]
        line = " ".join([timestamp(record.created), *shown])
        return line.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate cannot be written

    def redact(self, text: str, private: Iterable[str] = ()) -> str:
        """`text` with the given user texts, the known secrets and token-shaped strings masked."""
        for item in sorted({str(p) for p in private if len(str(p)) >= SHORTEST_PRIVATE_TEXT}, key=len, reverse=True):
            text = text.replace(item, "«…»").replace(repr(item)[1:-1], "«…»")  # repr: as a traceback quotes it
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        for shape in TOKEN_SHAPES:
            text = shape.sub(lambda m: m.group(1) + MASK, text)
        return text


def quote(value: object) -> str:
    """A value as logfmt writes it: bare when it is one plain word, else a JSON string."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    if text and not any(c.isspace() or c in '"=\\' for c in text) and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


def timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"
