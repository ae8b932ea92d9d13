"""The platform kit: our languages, their Babel locales, platform language codes, weekday and
month names, time zones with a fallback, and the local-time recurrence every schedule uses.

One place for each, so a channel, a feature and the team pulse cannot disagree about what
'nn' means or which zone a bad stored value falls back to.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, get_day_names, get_month_names

LANGUAGES: tuple[str, ...] = ("da", "nb", "en")
# Platform language codes (by their base, 'nb-NO' -> 'nb') -> our languages. Nynorsk and the
# generic 'no' read Bokmål rather than Danish; anything not listed falls back to Danish.
LANGUAGE_CODES = {"da": "da", "nb": "nb", "no": "nb", "nn": "nb", "en": "en"}
# Babel locales for our languages (Norwegian Bokmål is 'nb'; English as written in Europe).
BABEL_LOCALES = {"da": "da_DK", "nb": "nb_NO", "en": "en_GB"}
DEFAULT_LOCALE = "da_DK"
DEFAULT_ZONE = "Europe/Copenhagen"


def language_for(code: str | None, supported: tuple[str, ...] = LANGUAGES) -> str:
    """Map a platform language code (e.g. 'nb-NO', 'nn', 'en-GB') to a supported language."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    lang = LANGUAGE_CODES.get(base, "da")
    return lang if lang in supported else supported[0]


def babel_locale(lang: str) -> str:
    """The Babel locale for one of our languages (Danish for anything else)."""
    return BABEL_LOCALES.get(lang, DEFAULT_LOCALE)


def weekday_name(day: int, lang: str,
                 width: Literal["abbreviated", "short", "wide"] = "wide") -> str:
    """'mandag', 'Monday' ... for 0..6 (Monday first), from CLDR via Babel."""
    return str(get_day_names(width, context="format", locale=babel_locale(lang))[day])


def month_name(month: int, lang: str, width: Literal["abbreviated", "wide"] = "wide") -> str:
    """'januar', 'January' ... for 1..12, from CLDR via Babel."""
    return str(get_month_names(width, context="format", locale=babel_locale(lang))[month])


def day_text(day: date, lang: str, pattern: str = "medium") -> str:
    """A date as the language writes it: a Babel format ('medium': '23. nov. 2026') or a CLDR
    pattern ('EEEE d. MMMM')."""
    return format_date(day, pattern, locale=babel_locale(lang))


def is_zone(name: str | None) -> bool:
    """Whether the name is a time zone this machine knows."""
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=256)
def zone_of(name: str | None) -> ZoneInfo:
    """A zone by IANA name, falling back to Copenhagen for a missing or bad stored value."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        return ZoneInfo(DEFAULT_ZONE)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local date and wall-clock time.

    fold=0 decides the two DST cases: a time inside the spring gap (02:30 that never happens)
    maps to the same distance past the change (03:30 summer time), and a time that happens twice
    in autumn means its first occurrence. So a slot always exists exactly once.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def on_weekday(day: date, weekday: int) -> date:
    """The first day on or after `day` that is `weekday` (Monday = 0)."""
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def weekly_after(weekday: int, at: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first `weekday` at local `at` strictly after an instant, DST-safe."""
    day = on_weekday(after.astimezone(zone).date(), weekday)
    candidate = local_instant(day, at, zone)
    while candidate <= after:
        day += timedelta(days=7)
        candidate = local_instant(day, at, zone)
    return candidate


def every_weeks_after(previous: datetime, weeks: int, at: time, zone: ZoneInfo,
                      now: datetime) -> datetime:
    """The slot `weeks` on from `previous` in local time, skipping any missed up to `now`."""
    day = previous.astimezone(zone).date()
    step = timedelta(weeks=weeks)
    candidate = local_instant(day + step, at, zone)
    while candidate <= now:
        day += step
        candidate = local_instant(day + step, at, zone)
    return candidate
