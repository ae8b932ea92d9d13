"""How scheduled things are worded: snooze buttons, dates and times in the leader's language."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.dialogue.state import Button
from bot.locale import day_text as locale_day_text
from bot.schedule.times import hhmm, zone_of

if TYPE_CHECKING:
    from bot.service import BotService
    from bot.store.repo import Leader

SNOOZE_PREFIX = "sz"


# A date this many days or more from today also names its year: "29. november" said on
# 29 November 2026 about the same day in 2027 would read as today.
YEAR_SHOWN_FROM_DAYS = 300


def day_text(service: BotService, day: date, lang: str, today: date | None = None) -> str:
    """A date as the leader's language writes it ('mandag den 30. november'), with the year
    when it is far from today ('mandag den 29. november 2027')."""
    far = today is not None and abs((day - today).days) >= YEAR_SHOWN_FROM_DAYS
    key = "sched_date_year_format" if far else "sched_date_format"
    return locale_day_text(day, lang, service.ui(key, lang))


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
    return service.ui("sched_when_date", lang, date=day_text(service, local.date(), lang, today),
                      time=at)


def snooze_buttons(service: BotService, row_id: int, lang: str) -> list[list[Button]]:
    """'In an hour', 'Tomorrow', 'Next week' under a nudge."""
    return [[Button(label=service.ui("sched_snooze_hour", lang),
                    data=f"{SNOOZE_PREFIX}:{row_id}:hour"),
             Button(label=service.ui("sched_snooze_tomorrow", lang),
                    data=f"{SNOOZE_PREFIX}:{row_id}:tomorrow")],
            [Button(label=service.ui("sched_snooze_week", lang),
                    data=f"{SNOOZE_PREFIX}:{row_id}:week")]]
