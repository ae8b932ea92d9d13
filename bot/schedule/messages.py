"""How scheduled things are worded: snooze buttons, dates and times in the leader's language."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from babel.dates import format_date

from bot.dialogue.state import Button
from bot.schedule.times import hhmm, zone_of

if TYPE_CHECKING:
    from bot.service import BotService
    from bot.store.repo import Leader

SNOOZE_PREFIX = "sz"
LOCALES = {"da": "da_DK", "nb": "nb_NO", "en": "en_GB"}


def locale_of(lang: str) -> str:
    """The Babel locale for one of our languages."""
    return LOCALES.get(lang, "da_DK")


def weekday_name(day: int, lang: str) -> str:
    """'mandag', 'Monday' ... for 0..6 (Monday first), from CLDR via Babel."""
    return format_date(date(2024, 1, 1) + timedelta(days=day), "EEEE", locale=locale_of(lang))


def day_text(service: BotService, day: date, lang: str) -> str:
    """A date as the leader's language writes it ('mandag den 30. november')."""
    return format_date(day, service.ui("sched_date_format", lang), locale=locale_of(lang))


def when_text(service: BotService, instant: datetime, leader: Leader, now: datetime) -> str:
    """'i dag kl. 10:30', 'i morgen kl. 08:30' or 'mandag den 30. november kl. 08:30'."""
    zone = zone_of(leader.timezone)
    local = instant.astimezone(zone)
    lang = leader.language
    at = hhmm(local.time())
    today = now.astimezone(zone).date()
    if local.date() == today:
        return service.ui("sched_when_today", lang, time=at)
    if local.date() == today + timedelta(days=1):
        return service.ui("sched_when_tomorrow", lang, time=at)
    return service.ui("sched_when_date", lang, date=day_text(service, local.date(), lang), time=at)


def clock_text(value: time) -> str:
    """A wall-clock time as 'HH:MM'."""
    return hhmm(value)


def snooze_buttons(service: BotService, row_id: int, lang: str) -> list[list[Button]]:
    """'In an hour', 'Tomorrow', 'Next week' under a nudge."""
    return [[Button(label=service.ui("sched_snooze_hour", lang),
                    data=f"{SNOOZE_PREFIX}:{row_id}:hour"),
             Button(label=service.ui("sched_snooze_tomorrow", lang),
                    data=f"{SNOOZE_PREFIX}:{row_id}:tomorrow")],
            [Button(label=service.ui("sched_snooze_week", lang),
                    data=f"{SNOOZE_PREFIX}:{row_id}:week")]]
