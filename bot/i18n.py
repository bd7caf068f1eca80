"""Every user-facing sentence, in Spanish first and English too.

Messages live in `bot/locales/<area>.yaml`, one file per command or area, each key
holding both languages side by side so a translator sees them together:

    help.title:
      es: Comandos de Aula
      en: Aula commands

A message that depends on a count holds CLDR plural forms (`one`, `other`; Babel says
which applies, so 0 is "other" in both languages and 1.5 "other" too):

    quiz.more_errors:
      es:
        one: "… y {count} error más"
        other: "… y {count} errores más"

Numbers given to `t()` are written the reader's way ("1.234,5" / "1,234.5"); money,
percentages, durations and dates have their own functions below, all built on Babel's CLDR
data, so one language writes every number one way.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_currency, format_decimal, format_percent
from babel.units import format_unit

SUPPORTED = ("es", "en")
DEFAULT = "es"


def normalize_locale(locale: str | None, default: str = DEFAULT) -> str:
    """Platform locale ("es-ES", "en_US", "es-419", None) -> "es" or "en"."""
    if not locale:
        return default
    lang = locale.replace("_", "-").split("-")[0].lower()
    return lang if lang in SUPPORTED else default


@cache
def catalog() -> dict[str, dict[str, str | dict[str, str]]]:
    """key -> {lang: text}; a text is a string, or {plural form: string} for counted messages.

    Read once per process with libyaml's CSafeLoader when PyYAML has it (the pure-Python loader
    took 154 ms for the locale files, libyaml 12 ms; same result)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    messages: dict[str, dict[str, str | dict[str, str]]] = {}
    for entry in sorted(resources.files("bot").joinpath("locales").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        data = yaml.load(entry.read_text(encoding="utf-8"), Loader=loader) or {}
        for key, texts in data.items():
            if key in messages:
                raise ValueError(f"message key {key!r} defined twice (second time in {entry.name})")
            messages[key] = texts
    return messages


def t(locale: str, key: str, **values: object) -> str:
    """The message `key` in `locale` (falling back to Spanish), with {placeholders} filled.

    A plural message picks its form by the `count` value (KeyError if it is missing). Ints
    and floats are written with `number()`; pass identifiers (ids, years, ports) as str.
    """
    texts = catalog()[key]
    lang = locale if texts.get(locale) else DEFAULT
    text = texts[lang]
    if isinstance(text, dict):
        text = text.get(plural_form(lang, values["count"])) or text["other"]
    if not values:
        return text
    return text.format(**{name: _shown(lang, value) for name, value in values.items()})


def _shown(lang: str, value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return number(lang, value)


# CLDR's minimumGroupingDigits (common/main/<lang>.xml, <numbers>), which Babel does not
# apply: Spanish writes 3600 and 12.345, English 3,600.
MINIMUM_GROUPING_DIGITS = {"es": 2, "en": 1}


def _grouped(lang: str, value: float | Decimal) -> bool:
    return abs(value) >= 10 ** (2 + MINIMUM_GROUPING_DIGITS.get(lang, 1))


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang if lang in SUPPORTED else DEFAULT)


def plural_form(lang: str, count: float) -> str:
    """CLDR plural category of `count` in `lang`: 'one' or 'other' (Spanish also has 'many'
    for round millions, which the catalogue writes as 'other' unless it has a 'many')."""
    return _plural_form(lang, abs(count))


@lru_cache(maxsize=4096, typed=True)  # Babel evaluates the CLDR rule in Python: ~25 µs a call
def _plural_form(lang: str, count: float) -> str:
    return _locale(lang).plural_form(count)


# --- numbers, money, percentages, durations and dates in the reader's language ------------


def number(lang: str, value: float, digits: int | None = None) -> str:
    """'12.345' / '12,345' (Spanish groups from five digits: '3600'); with `digits`, exactly that many decimals ('2,30' / '2.30'); a float
    without `digits` keeps up to three decimals."""
    return _number(lang, value, digits)


# Babel takes about 30 µs a number; a reply often writes the same ones (counts, context windows).
@lru_cache(maxsize=8192, typed=True)
def _number(lang: str, value: float, digits: int | None) -> str:
    grouped = _grouped(lang, value)
    if digits is None:
        return format_decimal(value, locale=_locale(lang), group_separator=grouped)
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return format_decimal(value, format=pattern, locale=_locale(lang), group_separator=grouped)


def significant(value: float, digits: int = 2) -> Decimal:
    """`value` rounded to `digits` significant digits (0.000036123 -> 0.000036); 0 stays 0."""
    if value == 0 or not math.isfinite(value):
        return Decimal(0)
    exponent = math.floor(math.log10(abs(value)))
    return round(Decimal(repr(value)), digits - 1 - exponent)


def money(lang: str, usd: float) -> str:
    """US dollars: cents from one cent up ('4,50 US$' / '$4.50'), and below a cent three
    significant digits, so a cost that is not zero never reads as zero ('0,0000275 US$')."""
    amount = Decimal(repr(round(usd, 2))) if usd == 0 or abs(usd) >= 0.01 else significant(usd, 3)
    return format_currency(
        amount, "USD", locale=_locale(lang), decimal_quantization=False, group_separator=_grouped(lang, amount)
    )


def percent(lang: str, fraction: float) -> str:
    """A share: one decimal from 1 % up ('45,7 %' / '45.7%'), two significant digits below
    ('0,0086 %'), never 0 for a share that is not zero."""
    value = fraction * 100
    shown = Decimal(repr(round(value, 1))) if value == 0 or abs(value) >= 1 else significant(value, 2)
    return _percent(lang, str(shown))


SMALLEST_PROBABILITY = 0.0001  # 0.01 %: below it a probability reads as "<0,01 %"


def probability(lang: str, p: float) -> str:
    """A probability (0..1) as a percentage, as `percent` writes it ('45,7 %', '0,52 %',
    '0,011 %') down to 0.01 %; below that, if not zero, '<0,01 %' / '<0.01%' (the bound through
    the locale's percent format): a sharpened distribution (T=0.2) gives its tail probabilities
    like 3.7e-11, whose digits say nothing a reader can use. 0 stays '0 %'."""
    if 0 < p < SMALLEST_PROBABILITY:
        return "<" + percent(lang, SMALLEST_PROBABILITY)
    return percent(lang, p)


@lru_cache(maxsize=8192)
def _percent(lang: str, shown: str) -> str:
    """Babel's rendering of a rounded percentage, remembered: /next prints some 60 shares a
    step and Babel takes ~0.1 ms for each (bench/next.py). Keyed by the digits as written,
    since Decimal('0.010') and Decimal('0.0100') are equal but print differently."""
    return format_percent(Decimal(shown) / 100, locale=_locale(lang), decimal_quantization=False)


def seconds(lang: str, value: float, digits: int = 1) -> str:
    """A duration in seconds with `digits` decimals: '2,3 s' / '2.3 sec'."""
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return format_unit(value, "duration-second", length="short", format=pattern, locale=_locale(lang))


def minutes(lang: str, value: float) -> str:
    """Whole minutes: '5 min'."""
    return format_unit(round(value), "duration-minute", length="short", locale=_locale(lang))


def duration(lang: str, value: timedelta | float) -> str:
    """A span in words, rounded to its largest unit: '2 horas', '3 days', '1 minuto'."""
    span = value if isinstance(value, timedelta) else timedelta(seconds=value)
    return format_timedelta(span, threshold=1, locale=_locale(lang))


def moment(lang: str, epoch: float, zone_name: str) -> str:
    """A point in time as people read it, with its UTC offset so nobody guesses:
    'viernes, 4 de diciembre de 2026, 23:59 (UTC-03:00)' / 'Friday, December 4, 2026, 11:59 PM (UTC-03:00)'."""
    local = datetime.fromtimestamp(epoch, ZoneInfo(zone_name))
    offset = local.strftime("%z")
    day = format_date(local, "full", locale=_locale(lang))
    clock = format_time(local, "short", locale=_locale(lang))
    return f"{day}, {clock} (UTC{offset[:3]}:{offset[3:]})"


def iso_moment(epoch: float, zone_name: str = "UTC") -> str:
    """ISO 8601 with its offset, to the second, for files: '2026-11-29T14:53:07-03:00'."""
    return datetime.fromtimestamp(epoch, ZoneInfo(zone_name)).isoformat(timespec="seconds")
