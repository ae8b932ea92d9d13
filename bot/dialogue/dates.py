"""Dates as leaders type them: written dates, month and weekday names, and relative words.

Pure like the engine: today's date always arrives as an argument. Month and weekday names come
from babel's CLDR data; the relative words ("i morgen", "om 2 uger", "næste fredag") are
language data in dialogues/_dates.yaml, checked by the loader and merged into DateWords.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from types import MappingProxyType
from typing import Literal

from babel.dates import get_day_names, get_month_names
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.locale import LANGUAGES
from bot.numbers import small_int

# Month and weekday names as leaders write them, in every language the bot speaks.
NAME_LOCALES = LANGUAGES
# A typed number of days, weeks or months has at most this many digits ("om 999 dage").
MAX_COUNT_DIGITS = 3

Unit = Literal["days", "weeks", "months"]
UNITS: tuple[Unit, ...] = ("days", "weeks", "months")


def normalised(text: str) -> str:
    """Text compared loosely: case, spacing and closing punctuation do not matter."""
    return " ".join(text.split()).strip(" .!?").casefold()


# ---- the relative words, as written in dialogues/_dates.yaml -----------------------------------

class LanguageDateWords(BaseModel):
    """One language's words for relative dates; every list is lower-cased and trimmed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tomorrow: list[str] = Field(min_length=1)
    day_after_tomorrow: list[str] = Field(min_length=1)
    before_span: list[str] = Field(min_length=1)
    numbers: dict[str, int] = Field(min_length=1)
    days: list[str] = Field(min_length=1)
    weeks: list[str] = Field(min_length=1)
    months: list[str] = Field(min_length=1)
    on_weekday: list[str] = Field(min_length=1)
    next_weekday: list[str] = Field(min_length=1)
    next_week: list[str] = Field(min_length=1)
    before_date: list[str] = Field(default_factory=list)

    @field_validator("tomorrow", "day_after_tomorrow", "before_span", "on_weekday",
                     "next_weekday", "next_week", "before_date")
    @classmethod
    def _phrases(cls, values: list[str]) -> list[str]:
        """Phrases are compared with typed text normalised the same way."""
        cleaned = [normalised(v) for v in values]
        if not all(cleaned):
            raise ValueError("empty phrase")
        return cleaned

    @field_validator("days", "weeks", "months")
    @classmethod
    def _units(cls, values: list[str]) -> list[str]:
        """A unit is one word: the parser splits '2 uger' at the space."""
        cleaned = [normalised(v) for v in values]
        if not all(cleaned) or any(" " in v for v in cleaned):
            raise ValueError("a unit must be one word")
        return cleaned

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, values: dict[str, int]) -> dict[str, int]:
        """Number words are single words standing for small positive counts."""
        cleaned = {normalised(k): v for k, v in values.items()}
        if not all(cleaned) or any(" " in k for k in cleaned):
            raise ValueError("a number word must be one word")
        if any(v < 1 for v in cleaned.values()):
            raise ValueError("number words stand for counts of 1 or more")
        return cleaned

    def unit_words(self) -> dict[str, Unit]:
        """Each unit word and the unit it names."""
        return {word: unit for unit in UNITS for word in getattr(self, unit)}


def _longest_first(phrases: Iterable[str]) -> tuple[str, ...]:
    """Prefixes tried longest first, so 'i næste uge' wins over 'næste'."""
    return tuple(sorted(set(phrases), key=lambda p: (-len(p), p)))


@dataclass(frozen=True)
class DateWords:
    """Every language's relative words merged: a Dane may well type 'tomorrow'."""

    languages: tuple[str, ...] = ()
    tomorrow: frozenset[str] = frozenset()
    day_after_tomorrow: frozenset[str] = frozenset()
    before_span: tuple[str, ...] = ()
    numbers: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    units: Mapping[str, Unit] = field(default_factory=lambda: MappingProxyType({}))
    before_weekday: tuple[str, ...] = ()
    next_week: tuple[str, ...] = ()
    before_date: tuple[str, ...] = ()

    @classmethod
    def merge(cls, by_language: Mapping[str, LanguageDateWords]) -> DateWords:
        """One lookup table from every language's words (check conflicts() first)."""
        words = list(by_language.values())
        return cls(
            languages=tuple(by_language),
            tomorrow=frozenset(p for w in words for p in w.tomorrow),
            day_after_tomorrow=frozenset(p for w in words for p in w.day_after_tomorrow),
            before_span=_longest_first(p for w in words for p in w.before_span),
            numbers=MappingProxyType({k: v for w in words for k, v in w.numbers.items()}),
            units=MappingProxyType({k: v for w in words for k, v in w.unit_words().items()}),
            # "på fredag" and "næste fredag" mean the same day: see _weekday_date.
            before_weekday=_longest_first(
                p for w in words for p in [*w.on_weekday, *w.next_weekday]),
            next_week=_longest_first(p for w in words for p in w.next_week),
            before_date=_longest_first(p for w in words for p in w.before_date),
        )


def conflicts(by_language: Mapping[str, LanguageDateWords]) -> list[str]:
    """Words that would mean two things once every language is accepted at once."""
    problems: list[str] = []
    meanings: dict[tuple[str, str], tuple[object, str]] = {}

    def claim(slot: str, word: str, meaning: object, lang: str) -> None:
        """Record what a word means in one slot; a second, different meaning is a problem."""
        seen = meanings.setdefault((slot, word), (meaning, lang))
        if seen[0] != meaning:
            problems.append(f"{word!r} means {seen[0]} in {seen[1]} but {meaning} in {lang}")

    for lang, words in by_language.items():
        for phrase in words.tomorrow:
            claim("phrase", phrase, "tomorrow", lang)
        for phrase in words.day_after_tomorrow:
            claim("phrase", phrase, "the day after tomorrow", lang)
        for word, number in words.numbers.items():
            claim("count", word, number, lang)
        for word, unit in words.unit_words().items():
            claim("unit", word, unit, lang)
    return problems


NO_WORDS = DateWords()


# ---- names from babel ------------------------------------------------------------------------

# Built on the first typed date, not at import: babel's locale data for every language costs
# start-up time and memory that a process answering no date question never needs.
@cache
def _month_table() -> dict[str, int]:
    """Full and abbreviated month names, and their unambiguous prefixes of 3+ letters."""
    names: dict[str, set[int]] = {}
    for locale in NAME_LOCALES:
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                word = name.lower().rstrip(".")
                for end in range(3, len(word) + 1):
                    names.setdefault(word[:end], set()).add(int(number))
    return {word: months.pop() for word, months in names.items() if len(months) == 1}


@cache
def _weekday_table() -> dict[str, int]:
    """Full and abbreviated weekday names ('fredag', 'fre.', 'Fri') -> 0 for Monday .. 6."""
    names: dict[str, set[int]] = {}
    for locale in NAME_LOCALES:
        for width in ("wide", "abbreviated"):
            for number, name in get_day_names(width, locale=locale).items():
                names.setdefault(name.casefold().rstrip("."), set()).add(int(number))
    return {word: days.pop() for word, days in names.items() if len(days) == 1}


# ---- reading a typed date ----------------------------------------------------------------------

_DATE_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<d>\d{1,2})[./-](?P<m>\d{1,2})[./-](?P<y>\d{2,4})$"),
    re.compile(r"^(?P<d>\d{1,2})[./-](?P<m>\d{1,2})\.?$"),
)
_DAY_MONTH = re.compile(r"^(?P<d>\d{1,2})\.?\s*(?P<m>[^\W\d_]+)\.?(?:\s+(?P<y>\d{4}))?$")
_MONTH_DAY = re.compile(r"^(?P<m>[^\W\d_]+)\.?\s*(?P<d>\d{1,2}),?(?:\s+(?P<y>\d{4}))?$")


def _named_month_date(text: str, today: date) -> date | None:
    """'15. december', '3 jan 2027', 'December 15, 2026'; None when it is not such a date."""
    cleaned = " ".join(text.lower().split())
    match = _DAY_MONTH.match(cleaned) or _MONTH_DAY.match(cleaned)
    months = _month_table()
    if not match or match["m"] not in months:
        return None
    year = int(match["y"]) if match["y"] else None
    return _day_in_year(int(match["d"]), months[match["m"]], year, today)


# A day and month typed without a year exist again within this many years (29 February).
_YEARS_AHEAD = 8


def _day_in_year(day: int, month: int, year: int | None, today: date) -> date | None:
    """The date with that day and month: in the given year, else the first from today on
    ('29.2' typed in December 2027 is 29 February 2028); None when there is no such date."""
    if year is not None:
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for candidate in range(today.year, today.year + _YEARS_AHEAD + 1):
        try:
            found = date(candidate, month, day)
        except ValueError:
            continue
        if found >= today:
            return found
    return None


def _written_date(text: str, today: date) -> date | None:
    """2026-12-15, 15.12.2026, 15/12 or a bare number of days; None otherwise."""
    days = small_int(text.strip(), MAX_COUNT_DIGITS)  # "1 4" is not 14 days
    if days is not None:
        return today + timedelta(days=days)
    cleaned = text.strip().replace(" ", "")
    for pattern in _DATE_PATTERNS:
        match = pattern.match(cleaned)
        if not match:
            continue
        parts = match.groupdict()
        year = int(parts["y"]) if parts.get("y") else None
        if year is not None and year < 100:
            year += 2000
        return _day_in_year(int(parts["d"]), int(parts["m"]), year, today)
    return None


def add_months(day: date, months: int) -> date:
    """The same day so many months later, or that month's last day (31 Jan + 1 = 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _without_prefix(phrase: str, prefixes: Iterable[str]) -> str:
    """The phrase with one leading prefix word or phrase removed, if it starts with one."""
    for prefix in prefixes:
        if phrase.startswith(prefix + " "):
            return phrase[len(prefix) + 1:]
    return phrase


def _span_date(phrase: str, today: date, words: DateWords) -> date | None:
    """'om 2 uger', 'om en måned', 'in 3 days' (the 'om'/'in' may be left out)."""
    count_word, _, unit_word = _without_prefix(phrase, words.before_span).partition(" ")
    count = small_int(count_word, MAX_COUNT_DIGITS)
    if count is None:
        count = words.numbers.get(count_word)
    unit = words.units.get(unit_word)
    if count is None or unit is None:
        return None
    if unit == "months":
        return add_months(today, count)
    return today + timedelta(days=count * (7 if unit == "weeks" else 1))


def _weekday_date(phrase: str, today: date, words: DateWords) -> date | None:
    """'fredag', 'på fredag', 'næste fredag', 'mandag i næste uge'; None otherwise."""
    # "næste fredag" is ambiguous in Danish (this week's Friday, or the one in next week?). We
    # take the first Friday after today, like "fredag" and "på fredag"; the summary echoes the
    # date, so a leader who meant the other Friday sees it. "fredag i næste uge" is unambiguous.
    head, _, tail = _without_prefix(phrase, words.before_weekday).partition(" ")
    weekday = _weekday_table().get(head.rstrip("."))
    if weekday is None:
        return None
    if not tail:  # strictly after today: on a Friday, "fredag" is a week away
        return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
    if tail in words.next_week:  # weeks run Monday to Sunday, as on Nordic calendars
        next_monday = today + timedelta(days=7 - today.weekday())
        return next_monday + timedelta(days=weekday)
    return None


def relative_date(text: str, today: date, words: DateWords) -> date | None:
    """'i morgen', 'om 2 uger', 'næste fredag' and the like in any language; None otherwise."""
    phrase = normalised(text)
    if phrase in words.tomorrow:
        return today + timedelta(days=1)
    if phrase in words.day_after_tomorrow:
        return today + timedelta(days=2)
    return _span_date(phrase, today, words) or _weekday_date(phrase, today, words)


def _calendar_date(text: str, today: date) -> date | None:
    """A date written with numbers or a month name."""
    return _named_month_date(text, today) or _written_date(text, today)


def _introduced_date(text: str, today: date, words: DateWords) -> date | None:
    """'den 4. december', 'd. 4/12', 'fredag den 4. december', 'fredag 4.12': a calendar date
    after a weekday and/or an article. A weekday that does not match the date makes the answer
    unclear, and unclear dates are refused rather than guessed."""
    tokens = text.casefold().split()
    weekday = _weekday_table().get(tokens[0].rstrip(".,")) if tokens else None
    if weekday is not None:
        tokens = tokens[1:]
    if tokens and tokens[0].rstrip(".") in words.before_date:
        tokens = tokens[1:]
    elif weekday is None:
        return None  # nothing introduces the date: not this form
    found = _calendar_date(" ".join(tokens), today) if tokens else None
    if found is None or (weekday is not None and found.weekday() != weekday):
        return None
    return found


def parse_date(text: str, today: date, words: DateWords = NO_WORDS) -> date | None:
    """Read a typed date: 15.12.2026, 15. december, den 4. december, 14 (days), or with words
    'om 2 uger', 'næste fredag'."""
    return (_calendar_date(text, today) or _introduced_date(text, today, words)
            or relative_date(text, today, words))
