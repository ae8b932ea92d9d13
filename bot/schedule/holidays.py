"""Public holidays where a leader or a team lives, from the `holidays` library.

A weekly reflection, a follow-up or a team pulse whose local day is a public holiday moves to
the next working day (Monday to Friday, not a holiday) at the same local time. The country is
read from the time zone: the zones offered in onboarding and /settings, plus a few neighbours;
a zone not listed has no holidays here (nothing moves).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.schedule.times import local_instant

if TYPE_CHECKING:
    import holidays as holidays_lib

# ISO country of each time zone the bot offers (bot/features/settings.py ZONES and
# bot/features/onboarding.py TIMEZONES), plus zones that share those countries' holidays.
ZONE_COUNTRY = {
    "Europe/Copenhagen": "DK",
    "Europe/Oslo": "NO",
    "Arctic/Longyearbyen": "NO",
    "Europe/Stockholm": "SE",
    "Europe/Helsinki": "FI",
    "Europe/Mariehamn": "FI",
    "Atlantic/Faroe": "FO",
    "America/Nuuk": "GL",
    "Atlantic/Reykjavik": "IS",
    "Europe/London": "GB",
    "Europe/Berlin": "DE",
}
# The bot's languages in the library's terms; a country without the leader's language names its
# days in its own (a Danish speaker in Oslo reads 'Andre pinsedag', not 'Whit Monday').
LANGUAGE = {"da": "da", "nb": "no", "en": "en_US"}
WORKDAYS = range(0, 5)  # Monday to Friday
MAX_DAYS = 14  # more days off in a row than any calendar has: give up rather than loop


def country_of(zone_name: str | None) -> str | None:
    """The country whose public holidays apply in a time zone, or None."""
    return ZONE_COUNTRY.get(zone_name or "")


@lru_cache(maxsize=64)
def _calendar(country: str, language: str | None) -> holidays_lib.HolidayBase:
    """The library's calendar for a country (years are added as they are asked for)."""
    # Imported on the first calendar asked for: the library (with dateutil) is a sizeable
    # share of start-up that a process with no scheduled message due does not need yet.
    import holidays as holidays_lib
    supported = holidays_lib.list_localized_countries().get(country, [])
    if language not in supported:  # None would mean the machine's locale, often English
        language = holidays_lib.country_holidays(country).default_language
    return holidays_lib.country_holidays(country, language=language)


def holiday_name(day: date, country: str | None, lang: str = "en") -> str | None:
    """The public holiday on a day in a country, named in the language; None on other days."""
    if country is None:
        return None
    return _calendar(country, LANGUAGE.get(lang)).get(day)


def is_working_day(day: date, country: str | None) -> bool:
    """Monday to Friday and not a public holiday."""
    return day.weekday() in WORKDAYS and holiday_name(day, country) is None


def next_working_day(day: date, country: str | None) -> date:
    """The first working day after `day`."""
    following = day + timedelta(days=1)
    for _ in range(MAX_DAYS):
        if is_working_day(following, country):
            return following
        following += timedelta(days=1)
    return following


def moved_off_holiday(instant: datetime, zone_name: str | None) -> datetime | None:
    """If the instant's local day is a public holiday, the same local time on the next working
    day; otherwise None (also for a weekend day that is no holiday: a leader may choose one)."""
    country = country_of(zone_name)
    if country is None:
        return None
    zone = ZoneInfo(zone_name or "UTC")
    local = instant.astimezone(zone)
    if holiday_name(local.date(), country) is None:
        return None
    day = next_working_day(local.date(), country)
    return local_instant(day, local.time().replace(tzinfo=None), zone)


def back_to_weekday(instant: datetime, zone_name: str, weekday: int) -> datetime:
    """The same local time on the latest `weekday` on or before the instant's local day: the
    slot a holiday move started from (a move is never a week long)."""
    zone = ZoneInfo(zone_name)
    local = instant.astimezone(zone)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    return local_instant(day, local.time().replace(tzinfo=None), zone)


def moves_in(year: int, country: str, weekday: int, lang: str = "en") -> list[tuple[date, str,
                                                                                 date]]:
    """Every `weekday` of a year that is a public holiday, with its name and the day it moves
    to (for the operator: `python -m bot.schedule.holidays 2027 DK NO`)."""
    day = date(year, 1, 1)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    found = []
    while day.year == year:
        name = holiday_name(day, country, lang)
        if name is not None:
            found.append((day, name, next_working_day(day, country)))
        day += timedelta(days=7)
    return found


LANGUAGE_OF_COUNTRY = {"DK": "da", "NO": "nb"}


def main(argv: list[str]) -> int:
    """Print every move of a weekday message in a year: `python -m bot.schedule.holidays 2027
    DK NO`."""
    year = int(argv[0]) if argv else date.today().year
    for country in argv[1:] or ["DK", "NO"]:
        lang = LANGUAGE_OF_COUNTRY.get(country, "en")
        moves = sorted(m for weekday in WORKDAYS for m in moves_in(year, country, weekday, lang))
        for day, name, to in moves:
            print(f"{country}  {day:%a %Y-%m-%d}  {name}  ->  {to:%a %Y-%m-%d}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
