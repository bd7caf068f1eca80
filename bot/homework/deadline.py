"""Deadlines as instructors type them, in Spanish or English, read in the class's time zone.

The accepted forms (case and accents do not matter; a missing time means 23:59):

    2026-12-01 18:00   2026-12-01T18:00   2026-12-01       ISO date
    1/12 18:00         1/12/2026 18:00    1/12             day/month[/year]: day first, always
    hoy 18:00 · today 18:00 · mañana 18:00 · tomorrow 18:00
    viernes 23:59 · friday 23:59                         the next such day (today, if that time is ahead)
    en 3 días · in 3 days · en 2 horas · in 2 hours · en 1 semana · in 1 week · en 30 minutos

Minutes and hours are real elapsed time, also across a daylight-saving change ("en 2 horas"
at 01:30 on the night the clocks go forward is 04:30 by the clock); days and weeks keep the
wall-clock hour ("en 1 día" at 18:00 is 18:00 the next day, 23 or 25 hours later).

Times: 18:00, 9:30, 18h, 6pm, 6:30 pm. A fixed grammar rather than a guessing parser:
an instructor who types something else gets the list of forms, not a surprise date.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import UserError, echo
from bot.i18n import moment

END_OF_DAY = time(23, 59)
WEEKDAYS = {
    **dict.fromkeys(("lunes", "monday", "lun", "mon"), 0),
    **dict.fromkeys(("martes", "tuesday", "mar", "tue"), 1),
    **dict.fromkeys(("miercoles", "wednesday", "mie", "wed"), 2),
    **dict.fromkeys(("jueves", "thursday", "jue", "thu"), 3),
    **dict.fromkeys(("viernes", "friday", "vie", "fri"), 4),
    **dict.fromkeys(("sabado", "saturday", "sab", "sat"), 5),
    **dict.fromkeys(("domingo", "sunday", "dom", "sun"), 6),
}
DAY_WORDS = {"hoy": 0, "today": 0, "manana": 1, "tomorrow": 1, "pasado manana": 2}
UNITS = {
    **dict.fromkeys(("minuto", "minutos", "minute", "minutes", "min"), timedelta(minutes=1)),
    **dict.fromkeys(("hora", "horas", "hour", "hours", "h"), timedelta(hours=1)),
    **dict.fromkeys(("dia", "dias", "day", "days", "d"), timedelta(days=1)),
    **dict.fromkeys(("semana", "semanas", "week", "weeks"), timedelta(weeks=1)),
}

_TIME = r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<suffix>h|hs|am|pm)?"
_ISO = re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:[t ]+" + _TIME + r")?")
_DAY_MONTH = re.compile(r"(?P<d>\d{1,2})/(?P<m>\d{1,2})(?:/(?P<y>\d{2}|\d{4}))?(?:\s+" + _TIME + r")?")
_NAMED_DAY = re.compile(r"(?P<day>[a-z]+(?: manana)?)(?:\s+(?:a las\s+|at\s+)?" + _TIME + r")?")
_RELATIVE = re.compile(r"(?:en|in)\s+(?P<count>\d{1,3})\s*(?P<unit>[a-z]+)")


def _plain(text: str) -> str:
    """Lower case, no accents, single spaces: 'Mañana  18:00' -> 'manana 18:00'."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _clock_time(match: re.Match) -> time | None:
    """The time of day in a match of _TIME, END_OF_DAY when absent, None when impossible."""
    if match.group("hour") is None:
        return END_OF_DAY
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    suffix = match.group("suffix")
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def _at(day: date, when: time | None, zone: ZoneInfo) -> datetime | None:
    return None if when is None else datetime.combine(day, when, tzinfo=zone)


def _calendar_day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def read_deadline(text: str, now: datetime) -> datetime | None:
    """The moment `text` names, in now's time zone; None when it is not one of the forms."""
    typed = _plain(text)
    zone = now.tzinfo
    assert isinstance(zone, ZoneInfo)
    if match := _ISO.fullmatch(typed):
        day = _calendar_day(int(match["y"]), int(match["m"]), int(match["d"]))
        return _at(day, _clock_time(match), zone) if day else None
    if match := _DAY_MONTH.fullmatch(typed):
        year = int(match["y"]) if match["y"] else now.year
        year += 2000 if year < 100 else 0
        day = _calendar_day(year, int(match["m"]), int(match["d"]))
        moment = _at(day, _clock_time(match), zone) if day else None
        if moment is not None and not match["y"] and moment <= now:  # "1/3" in December: next March
            day = _calendar_day(year + 1, int(match["m"]), int(match["d"]))
            moment = _at(day, _clock_time(match), zone) if day else None
        return moment
    if match := _RELATIVE.fullmatch(typed):
        unit = UNITS.get(match["unit"])
        if unit is None:
            return None
        span = int(match["count"]) * unit
        if unit < timedelta(days=1):
            # "en 2 horas" is two hours of real time, also across a daylight-saving change
            # (aware datetimes add wall-clock time, so the sum is made in UTC).
            return (now.astimezone(UTC) + span).astimezone(zone)
        return now + span  # days and weeks keep the wall-clock hour
    if match := _NAMED_DAY.fullmatch(typed):
        name = match["day"]
        when = _clock_time(match)
        if name in DAY_WORDS:
            return _at(now.date() + timedelta(days=DAY_WORDS[name]), when, zone)
        if name in WEEKDAYS:
            ahead = (WEEKDAYS[name] - now.weekday()) % 7
            moment = _at(now.date() + timedelta(days=ahead), when, zone)
            if moment is not None and moment <= now:
                moment = _at(now.date() + timedelta(days=ahead or 7), when, zone)
            return moment
    return None


def parse_deadline(text: str, now: float, zone_name: str) -> float:
    """The deadline typed, as epoch seconds. Raises UserError when unreadable or past."""
    zone = ZoneInfo(zone_name)
    local_now = datetime.fromtimestamp(now, zone)
    moment = read_deadline(text, local_now)
    if moment is None:
        raise UserError("homework.bad_deadline", value=echo(text))
    # A time that does not exist (a DST gap) or exists twice is read as the clock shows it.
    if moment.timestamp() <= now:  # real instants (aware datetimes of one zone compare wall clocks)
        raise UserError("homework.past_deadline", value=echo(text))
    return moment.timestamp()


def default_deadline(now: float, zone_name: str, days: int) -> float:
    """`days` from now, at 23:59 of that day in the class's time zone."""
    zone = ZoneInfo(zone_name)
    day = datetime.fromtimestamp(now, zone).date() + timedelta(days=days)
    return datetime.combine(day, END_OF_DAY, tzinfo=zone).timestamp()


def format_moment(epoch: float, zone_name: str, locale: str) -> str:
    """'viernes, 4 de diciembre de 2026, 23:59 (UTC-03:00)': the weekday, the date in words
    (day first or month first as the reader's language writes it) and the offset, so nobody guesses."""
    return moment(locale, epoch, zone_name)
