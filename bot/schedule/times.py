"""Pure time arithmetic for schedules: local wall-clock times in a leader's zone, stored as UTC.

Weekly slots are computed here with zoneinfo instead of APScheduler's CronTrigger: CronTrigger
in 3.11 has open DST bugs (agronholm/apscheduler#1021 loops at the autumn fold, #606 skipped a
day at the spring change), and a slot computed from the local *date* can neither be skipped nor
doubled by a clock change.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from bot.locale import DEFAULT_ZONE, local_instant, zone_of  # noqa: F401 - re-exported

DEFAULT_NUDGE_DAY = 0  # Monday
DEFAULT_NUDGE_TIME = time(8, 30)
DEFAULT_FOLLOWUP_TIME = time(9, 0)
DEFAULT_QUIET = (time(20, 0), time(7, 0))
DEFAULT_REMINDER_HOURS = 24
MAX_REMINDER_HOURS = 24 * 6  # a reminder must come before the next weekly nudge

_CLOCK = re.compile(r"^(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?$")


def parse_clock(text: str) -> time | None:
    """Read '8:30', '08.30' or '8' as a wall-clock time."""
    match = _CLOCK.match(text.strip())
    if not match:
        return None
    hour, minute = int(match["h"]), int(match["m"] or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_span(text: str) -> tuple[time, time] | None:
    """Read '20:00-07:00' (or with an en dash) as a start and an end time."""
    parts = re.split(r"\s*[-–—]\s*", text.strip())
    if len(parts) != 2:
        return None
    start, end = parse_clock(parts[0]), parse_clock(parts[1])
    if start is None or end is None or start == end:
        return None
    return start, end


def hhmm(value: time) -> str:
    """A time as 'HH:MM'."""
    return value.strftime("%H:%M")


_ZONES_BY_LOWER: dict[str, str] = {}


def find_zone(text: str) -> str | None:
    """An IANA zone name typed in any case ('europe/oslo'), or None if there is no such zone."""
    if not _ZONES_BY_LOWER:
        _ZONES_BY_LOWER.update({name.lower(): name for name in available_timezones()
                                if "/" in name and not name.startswith(("Etc/", "SystemV/"))})
        _ZONES_BY_LOWER["utc"] = "UTC"
    return _ZONES_BY_LOWER.get(text.strip().replace(" ", "_").lower())


@dataclass(frozen=True)
class Prefs:
    """A leader's schedule preferences, read from leaders.settings with safe defaults."""

    nudges: bool = True
    nudge_day: int = DEFAULT_NUDGE_DAY
    nudge_time: time = DEFAULT_NUDGE_TIME
    followup_time: time = DEFAULT_FOLLOWUP_TIME
    quiet: tuple[time, time] | None = DEFAULT_QUIET
    reminder_hours: int = DEFAULT_REMINDER_HOURS  # 0 = no reminder
    paused_until: date | None = None
    holidays: bool = True  # move messages off public holidays (bot/schedule/holidays.py)

    @classmethod
    def from_settings(cls, settings: dict[str, Any],
                      reminder_hours: int = DEFAULT_REMINDER_HOURS) -> Prefs:
        """Parse stored settings; a malformed value falls back to its default, never raises."""
        prefs = cls(reminder_hours=reminder_hours)
        if isinstance(settings.get("nudges"), bool):
            prefs = replace(prefs, nudges=settings["nudges"])
        day = settings.get("nudge_day")
        if isinstance(day, int) and 0 <= day <= 6:
            prefs = replace(prefs, nudge_day=day)
        nudge_time = parse_clock(str(settings.get("nudge_time") or ""))
        if nudge_time is not None:
            prefs = replace(prefs, nudge_time=nudge_time)
        followup_time = parse_clock(str(settings.get("followup_time") or ""))
        if followup_time is not None:
            prefs = replace(prefs, followup_time=followup_time)
        quiet = settings.get("quiet")
        if quiet == "off":
            prefs = replace(prefs, quiet=None)
        elif isinstance(quiet, str) and parse_span(quiet):
            prefs = replace(prefs, quiet=parse_span(quiet))
        hours = settings.get("reminder_hours")
        if isinstance(hours, int) and 0 <= hours <= MAX_REMINDER_HOURS:
            prefs = replace(prefs, reminder_hours=hours)
        if isinstance(settings.get("holidays"), bool):
            prefs = replace(prefs, holidays=settings["holidays"])
        paused = settings.get("paused_until")
        if isinstance(paused, str):
            with contextlib.suppress(ValueError):
                prefs = replace(prefs, paused_until=date.fromisoformat(paused))
        return prefs


def week_of(day: date) -> tuple[int, int]:
    """ISO year and week: 'one nudge per week' means one per ISO week."""
    iso = day.isocalendar()
    return iso[0], iso[1]


def next_nudge(prefs: Prefs, zone: ZoneInfo, after: datetime,
               last_slot: date | None) -> tuple[date, datetime]:
    """The next weekly slot strictly after `after`, in a later week than `last_slot`."""
    day = after.astimezone(zone).date()
    while True:
        if day.weekday() == prefs.nudge_day and (
                last_slot is None or week_of(day) > week_of(last_slot)):
            instant = local_instant(day, prefs.nudge_time, zone)
            if instant > after:
                return day, instant
        day += timedelta(days=1)


def quiet_end(instant: datetime, zone: ZoneInfo,
              quiet: tuple[time, time] | None) -> datetime | None:
    """If `instant` falls in the quiet hours, the instant they end; otherwise None."""
    if quiet is None:
        return None
    start, end = quiet
    local = instant.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:  # e.g. 12:00-13:00 within one day
        return local_instant(today, end, zone) if start <= clock < end else None
    if clock >= start:  # evening part of a window that crosses midnight
        return local_instant(today + timedelta(days=1), end, zone)
    if clock < end:  # early-morning part
        return local_instant(today, end, zone)
    return None


def paused(prefs: Prefs, zone: ZoneInfo, instant: datetime) -> bool:
    """Whether the leader's pause covers this instant (paused until, not including, the date)."""
    return prefs.paused_until is not None and instant.astimezone(zone).date() < prefs.paused_until
