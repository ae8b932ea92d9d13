"""Small helpers the history, trend, export and forget features share."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from bot.clock import parse_iso
from bot.dialogue.render import pick
from bot.locale import babel_locale, day_text, zone_of  # noqa: F401 - day_text re-exported
from bot.service import BotService
from bot.store import repo


def zone(leader: repo.Leader) -> ZoneInfo:
    """The leader's time zone, falling back to the default for a bad stored value."""
    return zone_of(leader.timezone)


def local(stored: str, leader: repo.Leader) -> datetime:
    """A stored UTC instant in the leader's time zone."""
    return parse_iso(stored).astimezone(zone(leader))


def when_text(stored: str, leader: repo.Leader, lang: str) -> str:
    """A stored instant as local date and time (to the minute) in the language."""
    moment = local(stored, leader)
    locale = babel_locale(lang)
    return (f"{format_date(moment.date(), format='medium', locale=locale)} "
            f"{format_time(moment, format='short', locale=locale)}")


def kind_title(service: BotService, conversation: str | None, lang: str) -> str:
    """The conversation's title from its definition (its id if it no longer exists)."""
    definition = service.dialogues.registry.definitions.get(conversation or "")
    return pick(definition.title, lang) if definition else (conversation or "")
