"""Every user-facing sentence, in Spanish first and English too.

Messages live in `bot/locales/<area>.yaml`, one file per command or area, each key
holding both languages side by side so a translator sees them together:

    help.title:
      es: Comandos de Aula
      en: Aula commands
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

SUPPORTED = ("es", "en")
DEFAULT = "es"


def normalize_locale(locale: str | None, default: str = DEFAULT) -> str:
    """Platform locale ("es-ES", "en_US", "es-419", None) -> "es" or "en"."""
    if not locale:
        return default
    lang = locale.replace("_", "-").split("-")[0].lower()
    return lang if lang in SUPPORTED else default


@cache
def catalog() -> dict[str, dict[str, str]]:
    messages: dict[str, dict[str, str]] = {}
    for entry in sorted(resources.files("bot").joinpath("locales").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        for key, texts in data.items():
            if key in messages:
                raise ValueError(f"message key {key!r} defined twice (second time in {entry.name})")
            messages[key] = texts
    return messages


def t(locale: str, key: str, **values: object) -> str:
    """The message `key` in `locale` (falling back to Spanish), with {placeholders} filled."""
    texts = catalog()[key]
    text = texts.get(locale) or texts[DEFAULT]
    return text.format(**values) if values else text
