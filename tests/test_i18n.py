"""One way to write each number per language (Babel's CLDR data), and real plural forms.

Expected renderings are CLDR's (Babel 2.19, CLDR 47): Spanish groups thousands with "." and
writes decimals with ",", groups only from five digits (3600, 12.345), puts a no-break space before "%" and the currency symbol; English
writes "1,234.5", "45.7%" and "$0.00036".
"""

from __future__ import annotations

import re
import string

import pytest

from bot.i18n import (
    SUPPORTED,
    catalog,
    duration,
    iso_moment,
    minutes,
    moment,
    money,
    number,
    percent,
    plural_form,
    seconds,
    t,
)

NBSP, NNBSP = "\xa0", "\u202f"

NUMBERS = [
    # lang, value, digits, expected
    ("es", 0, None, "0"),
    ("es", 1234, None, "1234"),  # CLDR es: minimumGroupingDigits 2
    ("es", 12345, None, "12.345"),
    ("en", 1234, None, "1,234"),
    ("es", 1234567, None, "1.234.567"),
    ("en", 1234567, None, "1,234,567"),
    ("es", 2.5, None, "2,5"),
    ("en", 2.5, None, "2.5"),
    ("es", 3.14159, 2, "3,14"),
    ("en", 3.14159, 2, "3.14"),
    ("es", 4.0, 1, "4,0"),
    ("en", 1234.5, 0, "1,234"),
]


@pytest.mark.parametrize(("lang", "value", "digits", "expected"), NUMBERS)
def test_numbers(lang, value, digits, expected):
    assert number(lang, value, digits) == expected


MONEY = [
    ("es", 0.0, f"0,00{NBSP}US$"),
    ("en", 0.0, "$0.00"),
    ("es", 0.00036, f"0,00036{NBSP}US$"),
    ("en", 0.00036, "$0.00036"),
    ("es", 0.0000275, f"0,0000275{NBSP}US$"),  # the cost of 11 tokens at US$ 2.50/M: never "0,0000"
    ("en", 0.000000123456, "$0.000000123"),
    ("es", 0.0002, f"0,0002{NBSP}US$"),
    ("es", 0.009996, f"0,01{NBSP}US$"),  # three significant digits round up to a cent
    ("es", 4.5, f"4,50{NBSP}US$"),
    ("en", 1234.5, "$1,234.50"),
    ("es", 1234.5, f"1234,50{NBSP}US$"),  # CLDR es: no grouping below 10.000
    ("es", 12345.5, f"12.345,50{NBSP}US$"),
]


@pytest.mark.parametrize(("lang", "usd", "expected"), MONEY)
def test_money_is_never_shown_as_zero(lang, usd, expected):
    assert money(lang, usd) == expected


@pytest.mark.parametrize("usd", [1e-9, 3.3e-7, 0.0000275, 0.00049, 0.004999, 0.0099])
@pytest.mark.parametrize("lang", SUPPORTED)
def test_a_cost_that_is_not_zero_never_reads_as_zero(lang, usd):
    assert re.search("[1-9]", money(lang, usd))


PERCENTS = [
    ("es", 0.0, f"0{NBSP}%"),
    ("en", 0.0, "0%"),
    ("es", 0.5, f"50{NBSP}%"),
    ("en", 0.4567, "45.7%"),
    ("es", 0.4567, f"45,7{NBSP}%"),
    ("es", 11 / 128_000, f"0,0086{NBSP}%"),
    ("en", 1 / 3, "33.3%"),
    ("en", 1.953125, "195.3%"),
]


@pytest.mark.parametrize(("lang", "fraction", "expected"), PERCENTS)
def test_percentages(lang, fraction, expected):
    assert percent(lang, fraction) == expected


DURATIONS = [
    (seconds, "es", 2.345, "2,3 s"),
    (seconds, "en", 2.345, "2.3 sec"),
    (seconds, "es", 12, "12,0 s"),
    (minutes, "es", 3, "3 min"),
    (minutes, "en", 1, "1 min"),
    (duration, "es", 7200, "2 horas"),
    (duration, "en", 7200, "2 hours"),
    (duration, "es", 3600, "1 hora"),
    (duration, "en", 86400 * 3, "3 days"),
]


@pytest.mark.parametrize(("function", "lang", "value", "expected"), DURATIONS)
def test_durations(function, lang, value, expected):
    assert function(lang, value).replace(NBSP, " ") == expected


def test_moments_carry_weekday_date_time_and_offset():
    due = 1796439540  # 2026-12-04 23:59 in Buenos Aires (UTC-03:00)
    zone = "America/Argentina/Buenos_Aires"
    assert moment("es", due, zone) == "viernes, 4 de diciembre de 2026, 23:59 (UTC-03:00)"
    assert moment("en", due, zone) == f"Friday, December 4, 2026, 11:59{NNBSP}PM (UTC-03:00)"
    assert iso_moment(due, zone) == "2026-12-04T23:59:00-03:00"
    assert iso_moment(due) == "2026-12-05T02:59:00+00:00"
    assert iso_moment(1774744200, "Europe/Madrid") == "2026-03-29T01:30:00+01:00"  # before the change


PLURALS = [
    # CLDR: Spanish and English are both one for exactly 1, other for 0, 2, 1.5; Spanish
    # adds "many" for round millions ("1 millón de tokens"), which falls back to other.
    ("es", 0, "other"),
    ("es", 1, "one"),
    ("es", 2, "other"),
    ("es", 1.5, "other"),
    ("es", 1_000_000, "many"),
    ("en", 0, "other"),
    ("en", 1, "one"),
    ("en", 2, "other"),
    ("en", 1_000_000, "other"),
]


@pytest.mark.parametrize(("lang", "count", "form"), PLURALS)
def test_plural_forms(lang, count, form):
    assert plural_form(lang, count) == form


COUNTED = [
    ("quiz.schema.more", "es", 1, "… y 1 error más"),
    ("quiz.schema.more", "es", 3, "… y 3 errores más"),
    ("quiz.schema.more", "en", 1, "… and 1 more error"),
    ("homework.still_pending", "es", 1, "Te falta 1 pregunta."),
    ("homework.still_pending", "es", 4, "Te faltan 4 preguntas."),
    ("homework.still_pending", "en", 1, "1 question left."),
    ("tokens.count", "es", 1, "1 token"),
    ("tokens.count", "es", 1_000_000, "1.000.000 tokens"),
    ("tokens.count", "en", 0, "0 tokens"),
    ("tokens.count", "en", 12345, "12,345 tokens"),
    ("tokens.count", "en", 1234, "1,234 tokens"),
    ("tokens.count", "es", 1234, "1234 tokens"),
    ("privacy.n.homework.revisions", "es", 1, "1 versión"),
    ("privacy.n.homework.revisions", "es", 2, "2 versiones"),
]


@pytest.mark.parametrize(("key", "lang", "count", "expected"), COUNTED)
def test_counted_messages_agree_with_their_count(key, lang, count, expected):
    assert t(lang, key, count=count) == expected


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_plural_message_has_one_and_other_and_the_same_placeholders():
    for key, texts in catalog().items():
        forms = [texts[lang] for lang in SUPPORTED]
        if not any(isinstance(f, dict) for f in forms):
            continue
        for lang in SUPPORTED:
            assert isinstance(texts[lang], dict), (key, lang)
            assert set(texts[lang]) >= {"one", "other"}, (key, lang)
        # `other` always shows the count; no form asks for a value `other` does not.
        for lang in SUPPORTED:
            other = _fields(texts[lang]["other"])
            assert "count" in other, (key, lang)
            assert all(_fields(text) <= other for text in texts[lang].values()), (key, lang)
        assert _fields(texts["es"]["other"]) == _fields(texts["en"]["other"]), key


def test_no_message_hides_its_plural_in_parentheses():
    """"respuesta(s)", "quiz(zes)", "class(es)": a counted noun has real forms instead."""
    for key, texts in catalog().items():
        for lang in SUPPORTED:
            for text in texts[lang].values() if isinstance(texts[lang], dict) else [texts[lang]]:
                assert not re.search(r"\w\((s|es|zes)\)", text), (key, lang, text)


@pytest.mark.parametrize("lang", SUPPORTED)
def test_remembered_percentages_print_as_babel_does(lang):
    """percent() remembers Babel's output per rounded value: whatever was asked before, each
    share prints as a fresh Babel call would (equal Decimals written differently included)."""
    from decimal import Decimal

    from babel.numbers import format_percent

    from bot.i18n import _locale, significant

    fractions = [0.0000999, 0.0001, 0.000100001, 0.00999, 0.01, 0.4567, 0.45671, 1 / 3, 0.0] * 2
    for fraction in fractions:
        value = fraction * 100
        shown = Decimal(repr(round(value, 1))) if value == 0 or abs(value) >= 1 else significant(value, 2)
        fresh = format_percent(shown / 100, locale=_locale(lang), decimal_quantization=False)
        assert percent(lang, fraction) == fresh
