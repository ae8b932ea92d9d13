"""Small helpers the history, trend, export and forget features share."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from bot.clock import parse_iso
from bot.dialogue.render import pick
from bot.service import BotService
from bot.store import repo

# Babel locales for our languages (Norwegian Bokmål is 'nb').
LOCALES = {"da": "da_DK", "nb": "nb_NO", "en": "en_GB"}


def zone(leader: repo.Leader) -> ZoneInfo:
    """The leader's time zone, falling back to the default for a bad stored value."""
    try:
        return ZoneInfo(leader.timezone)
    except (KeyError, ValueError):
        return ZoneInfo(repo.DEFAULT_TIMEZONE)


def local(stored: str, leader: repo.Leader) -> datetime:
    """A stored UTC instant in the leader's time zone."""
    return parse_iso(stored).astimezone(zone(leader))


def day_text(day: date, lang: str) -> str:
    """A date as people write it in the language (e.g. '23. nov. 2026')."""
    return format_date(day, format="medium", locale=LOCALES.get(lang, "da_DK"))


def when_text(stored: str, leader: repo.Leader, lang: str) -> str:
    """A stored instant as local date and time (to the minute) in the language."""
    moment = local(stored, leader)
    locale = LOCALES.get(lang, "da_DK")
    return (f"{format_date(moment.date(), format='medium', locale=locale)} "
            f"{format_time(moment, format='short', locale=locale)}")


def kind_title(service: BotService, conversation: str | None, lang: str) -> str:
    """The conversation's title from its definition (its id if it no longer exists)."""
    definition = service.dialogues.registry.definitions.get(conversation or "")
    return pick(definition.title, lang) if definition else (conversation or "")
