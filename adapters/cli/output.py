"""Files the CLI writes where the user asked (--png FILE, --mask-png FILE)."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.errors import open_failure
from bot.exports import write_private
from bot.i18n import t


def write_output(lang: str, tool: str, path: str | Path, data: bytes) -> bool:
    """Write `data` to `path`, owner-only (bot.exports.write_private). When it cannot be written
    (a folder named, a folder that does not exist, no permission) print why on stderr in the
    user's language, prefixed `aula <tool>:`, and return False; True once written."""
    try:
        write_private(path, data)
    except OSError as exc:
        message = t(lang, f"cli.output.{open_failure(exc)}", file=str(path), error=exc.strerror or "")
        print(f"aula {tool}: {message}", file=sys.stderr)
        return False
    return True
