"""Deadlines typed in Spanish and English, read in the class's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.errors import UserError
from bot.homework.deadline import default_deadline, format_moment, parse_deadline

ZONE = "America/Argentina/Buenos_Aires"
TZ = ZoneInfo(ZONE)
# Wednesday 2026-11-25 10:00 in Buenos Aires.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ).timestamp()


def local(text: str, zone: str = ZONE) -> datetime:
    return datetime.fromtimestamp(parse_deadline(text, NOW, zone), ZoneInfo(zone))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-01 18:00", datetime(2026, 12, 1, 18, 0)),
        ("2026-12-01T18:00", datetime(2026, 12, 1, 18, 0)),
        ("2026-12-01", datetime(2026, 12, 1, 23, 59)),
        ("1/12 18:00", datetime(2026, 12, 1, 18, 0)),
        ("1/12/2026 9:30", datetime(2026, 12, 1, 9, 30)),
        ("1/3", datetime(2027, 3, 1, 23, 59)),  # March is past this year: next year's
        ("mañana 18:00", datetime(2026, 11, 26, 18, 0)),
        ("Mañana a las 18h", datetime(2026, 11, 26, 18, 0)),
        ("tomorrow 6pm", datetime(2026, 11, 26, 18, 0)),
        ("hoy 23:59", datetime(2026, 11, 25, 23, 59)),
        ("today", datetime(2026, 11, 25, 23, 59)),
        ("viernes 23:59", datetime(2026, 11, 27, 23, 59)),
        ("Friday 23:59", datetime(2026, 11, 27, 23, 59)),
        ("miércoles 18:00", datetime(2026, 11, 25, 18, 0)),  # today, still ahead
        ("miercoles 9:00", datetime(2026, 12, 2, 9, 0)),  # today's has passed: next week
        ("en 3 días", datetime(2026, 11, 28, 10, 0)),
        ("in 3 days", datetime(2026, 11, 28, 10, 0)),
        ("en 2 horas", datetime(2026, 11, 25, 12, 0)),
        ("in 1 week", datetime(2026, 12, 2, 10, 0)),
    ],
)
def test_the_documented_forms(typed, expected):
    assert local(typed) == expected.replace(tzinfo=TZ)


def test_the_time_zone_setting_decides_what_a_clock_time_means():
    in_utc = parse_deadline("2026-12-01 18:00", NOW, "UTC")
    in_buenos_aires = parse_deadline("2026-12-01 18:00", NOW, ZONE)
    assert in_buenos_aires - in_utc == 3 * 3600


@pytest.mark.parametrize(
    "typed", ["pronto", "32/12 18:00", "2026-02-30", "viernes 25:00", "en tres días", "13pm", ""]
)
def test_unreadable_deadlines_are_refused_with_the_accepted_forms(typed):
    with pytest.raises(UserError) as refused:
        parse_deadline(typed, NOW, ZONE)
    assert refused.value.key == "homework.bad_deadline" and refused.value.values["value"] == typed


@pytest.mark.parametrize("typed", ["2026-11-24 18:00", "hoy 9:00", "1/1/2020"])
def test_past_deadlines_are_refused(typed):
    with pytest.raises(UserError) as refused:
        parse_deadline(typed, NOW, ZONE)
    assert refused.value.key == "homework.past_deadline"


def test_the_default_is_days_ahead_at_the_end_of_the_day():
    due = datetime.fromtimestamp(default_deadline(NOW, ZONE, 7), TZ)
    assert due == datetime(2026, 12, 2, 23, 59, tzinfo=TZ)


def test_moments_are_shown_with_weekday_date_in_words_and_offset():
    # "4/12/2026" reads as April 12 to an American: the month is written out (CLDR's full date).
    due = datetime(2026, 12, 4, 23, 59, tzinfo=TZ).timestamp()
    assert format_moment(due, ZONE, "es") == "viernes, 4 de diciembre de 2026, 23:59 (UTC-03:00)"
    assert format_moment(due, ZONE, "en") == "Friday, December 4, 2026, 11:59\u202fPM (UTC-03:00)"


MADRID = "Europe/Madrid"
HOUR = 3600.0
# Both changes of 2026 in Europe/Madrid: clocks go 02:00 -> 03:00 on 29 March, 03:00 -> 02:00 on 25 October.
SPRING = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo(MADRID)).timestamp()
AUTUMN = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo(MADRID)).timestamp()  # the first 01:30 (CEST)
ORDINARY = datetime(2026, 5, 10, 1, 30, tzinfo=ZoneInfo(MADRID)).timestamp()


@pytest.mark.parametrize(
    ("now", "typed", "elapsed_hours", "clock"),
    [
        # minutes and hours: real elapsed time
        (SPRING, "en 2 horas", 2.0, "04:30"),
        (SPRING, "in 2 hours", 2.0, "04:30"),
        (SPRING, "en 30 minutos", 0.5, "03:00"),
        (AUTUMN, "en 2 horas", 2.0, "02:30"),
        (AUTUMN, "en 90 minutos", 1.5, "02:00"),
        (ORDINARY, "en 2 horas", 2.0, "03:30"),
        # days and weeks: the same wall-clock hour
        (SPRING, "en 1 día", 23.0, "01:30"),
        (SPRING, "en 1 semana", 167.0, "01:30"),
        (AUTUMN, "en 1 dia", 25.0, "01:30"),
        (AUTUMN, "in 1 week", 169.0, "01:30"),
        (ORDINARY, "en 1 día", 24.0, "01:30"),
    ],
)
def test_relative_deadlines_across_daylight_saving(now, typed, elapsed_hours, clock):
    due = parse_deadline(typed, now, MADRID)
    assert (due - now) / HOUR == elapsed_hours
    assert datetime.fromtimestamp(due, ZoneInfo(MADRID)).strftime("%H:%M") == clock


def test_a_deadline_in_the_repeated_hour_is_not_taken_for_the_past():
    """At the second 02:30 of 25 October (CET), "en 30 minutos" is 03:00 CET, half an hour ahead,
    though the first 02:30 (CEST) was an hour earlier on the same wall clock."""
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo(MADRID)).timestamp()
    assert parse_deadline("en 30 minutos", second, MADRID) - second == 0.5 * HOUR
