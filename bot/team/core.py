"""The team check-in domain, pure: cadence, anonymous aggregation, governance examples, votes.

Nothing here reads the clock, the database or a channel; callers pass instants and rows in.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.locale import every_weeks_after, local_instant, weekly_after  # noqa: F401 - re-exported

# Results are shown only when at least this many members answered; never configurable lower.
MIN_RESPONDENTS = 3
TRUST_VALUES: tuple[int, ...] = (1, 2, 3, 4, 5)
MEANING_VALUES: tuple[str, ...] = ("yes", "partly", "no")
# Red (obstructive) governance is voted fjerne / forandre / leve med (og skabe mening i): seeds
# 001 and 004. The third is stored as 'anchor', the value team_gov_votes' CHECK allows (renaming
# it needs a migration); its wording (team_vote_anchor) is "Leve med". Green governance is not
# voted on: it is to be anchored (forankre), asked as a question in team_gov_vote.j2.
VOTE_VALUES: tuple[str, ...] = ("remove", "change", "anchor")
COLOURS: tuple[str, ...] = ("red", "green")
CADENCES: dict[str, int] = {"weekly": 1, "biweekly": 2}  # weeks between pulses
EXAMPLE_LIMIT = 400  # characters kept of one governance example
SIMILAR = 0.88  # difflib ratio above which two examples count as the same

Colour = Literal["red", "green"]


def threshold(configured: int | None) -> int:
    """The anonymity threshold in force: the configured value, but never below the minimum."""
    return max(MIN_RESPONDENTS, configured or MIN_RESPONDENTS)


def member_key(secret: bytes, scope: str, user_id: str) -> str:
    """A salted, keyed hash of a user id within one scope (a pulse, a round); never reversible
    without the deployment secret, and different in every scope so rows cannot be linked."""
    return hmac.new(secret, f"{scope}\x1f{user_id}".encode(), hashlib.sha256).hexdigest()


# ---- cadence ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cadence:
    """When a group's pulse comes round: every N weeks on a weekday at a local time."""

    cadence: str  # 'weekly' | 'biweekly'
    weekday: int  # Monday = 0
    at: time
    timezone: str

    @property
    def weeks(self) -> int:
        """Weeks between pulses."""
        return CADENCES[self.cadence]


def first_occurrence(cadence: Cadence, after: datetime) -> datetime:
    """The first pulse time strictly after an instant (for a new or re-activated group)."""
    return weekly_after(cadence.weekday, cadence.at, ZoneInfo(cadence.timezone), after)


def next_occurrence(cadence: Cadence, previous: datetime, now: datetime) -> datetime:
    """The pulse after `previous`, N weeks on in local time, skipping any missed while down."""
    return every_weeks_after(previous, cadence.weeks, cadence.at, ZoneInfo(cadence.timezone),
                             now)


# ---- pulse aggregation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One member's current answers in a pulse (either may be missing); no identity inside."""

    trust: int | None
    meaning: str | None


@dataclass(frozen=True)
class PulseResult:
    """Aggregates of one pulse: counts only, and only what the threshold allows."""

    respondents: int
    minimum: int
    trust: dict[int, int] | None  # None when too few answered this question
    meaning: dict[str, int] | None
    trust_mean: float | None

    @property
    def shown(self) -> bool:
        """Whether any result may be shown at all."""
        return self.respondents >= self.minimum

    @property
    def meaning_answers(self) -> int:
        """How many answered the governance question (0 when hidden)."""
        return sum(self.meaning.values()) if self.meaning else 0


def result_to_json(result: PulseResult) -> dict[str, object]:
    """A result as JSON-ready data (counts only)."""
    return {"respondents": result.respondents, "minimum": result.minimum,
            "trust": None if result.trust is None else {str(k): v for k, v in result.trust.items()},
            "meaning": result.meaning, "trust_mean": result.trust_mean}


def result_from_json(data: dict[str, Any]) -> PulseResult:
    """A stored result back as a PulseResult."""
    trust = data.get("trust")
    return PulseResult(int(data["respondents"]), int(data["minimum"]),
                       None if trust is None else {int(k): int(v) for k, v in trust.items()},
                       data.get("meaning"), data.get("trust_mean"))


def aggregate(answers: Iterable[Answer], minimum: int | None = None) -> PulseResult:
    """Distributions per question, each withheld unless enough members answered it."""
    need = threshold(minimum)
    rows = [a for a in answers if a.trust is not None or a.meaning is not None]
    trusts = [a.trust for a in rows if a.trust in TRUST_VALUES]
    meanings = [a.meaning for a in rows if a.meaning in MEANING_VALUES]
    shown = len(rows) >= need
    trust = None
    mean = None
    if shown and len(trusts) >= need:
        counted = Counter(trusts)
        trust = {v: counted.get(v, 0) for v in TRUST_VALUES}
        mean = round(sum(t for t in trusts if t is not None) / len(trusts), 2)
    meaning = None
    if shown and len(meanings) >= need:
        counted_m = Counter(meanings)
        meaning = {v: counted_m.get(v, 0) for v in MEANING_VALUES}
    return PulseResult(len(rows), need, trust, meaning, mean)


@dataclass(frozen=True)
class Change:
    """How a shown pulse differs from the previous shown one."""

    trust_delta: float | None  # mean now minus mean before
    yes_share_delta: float | None  # share answering 'yes' now minus before (percentage points)


def change_since(current: PulseResult, previous: PulseResult | None) -> Change | None:
    """The change since the previous pulse, only where both sides were shown."""
    if previous is None or not current.shown or not previous.shown:
        return None
    trust_delta = None
    if current.trust_mean is not None and previous.trust_mean is not None:
        trust_delta = round(current.trust_mean - previous.trust_mean, 2)
    share_delta = None
    if current.meaning and previous.meaning:
        share_delta = round(100 * (_yes_share(current.meaning) - _yes_share(previous.meaning)))
    if trust_delta is None and share_delta is None:
        return None
    return Change(trust_delta, share_delta)


def _yes_share(meaning: dict[str, int]) -> float:
    """The share of 'yes' among the governance answers."""
    total = sum(meaning.values())
    return meaning.get("yes", 0) / total if total else 0.0


def prompt_number(sequence: int, result: PulseResult, count: int = 9) -> int:
    """Which of the nine discussion questions (1-based) follows a pulse: the trust-and-control
    question when most found the governance less than meaningful, otherwise the next in turn."""
    if result.meaning and result.meaning["yes"] * 2 < result.meaning_answers:
        return 2 if sequence % 2 else 9
    return (sequence - 1) % count + 1


# ---- governance examples ----------------------------------------------------------------------

_MENTION = re.compile(r"(?<!\w)@\w{2,}")
_URL = re.compile(r"\b(?:https?://|www\.|t\.me/)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d \-]{6,}\d(?!\w)")
_SPACE = re.compile(r"\s+")


def anonymise(text: str, redacted: str = "…") -> str:
    """Strip what could point at a person (handles, links, e-mails, phone numbers) and trim."""
    cleaned = _EMAIL.sub(redacted, text)
    cleaned = _URL.sub(redacted, cleaned)
    cleaned = _MENTION.sub(redacted, cleaned)
    cleaned = _PHONE.sub(redacted, cleaned)
    cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch)[0] != "C" or ch in "\n ")
    cleaned = _SPACE.sub(" ", cleaned).strip()
    if len(cleaned) > EXAMPLE_LIMIT:
        cleaned = cleaned[:EXAMPLE_LIMIT - 1].rstrip() + "…"
    return cleaned


def normalise(text: str) -> str:
    """A comparison key: case-folded letters and digits, single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    letters = "".join(ch if ch.isalnum() else " " for ch in folded)
    return _SPACE.sub(" ", letters).strip()


@dataclass
class Example:
    """A governance example as collected: colour and anonymised text, no author."""

    colour: str
    text: str
    id: int = 0


@dataclass
class Merged:
    """One example as shown to the group: duplicates folded together, with how many sent it."""

    colour: str
    text: str
    count: int
    ids: list[int] = field(default_factory=list)

    @property
    def key(self) -> int:
        """The stable id used on vote buttons (the first collected example)."""
        return min(self.ids)


def merge_examples(examples: Sequence[Example], similar: float = SIMILAR) -> list[Merged]:
    """Fold identical or near-identical examples of the same colour; order by colour, then how
    many sent it, then text, so the order reveals nothing about who sent what when."""
    merged: list[Merged] = []
    keys: list[str] = []
    for example in examples:
        key = normalise(example.text)
        if not key:
            continue
        for index, existing in enumerate(merged):
            if existing.colour != example.colour:
                continue
            if keys[index] == key or difflib.SequenceMatcher(
                    None, keys[index], key).ratio() >= similar:
                existing.count += 1
                existing.ids.append(example.id)
                break
        else:
            merged.append(Merged(example.colour, example.text, 1, [example.id]))
            keys.append(key)
    merged.sort(key=lambda m: (COLOURS.index(m.colour) if m.colour in COLOURS else 9,
                               -m.count, normalise(m.text)))
    return merged


def tally(votes: Iterable[tuple[int, str]], items: Iterable[int]) -> dict[int, dict[str, int]]:
    """Votes per item and option from (item, option) pairs; one pair per member and item."""
    table = {item: dict.fromkeys(VOTE_VALUES, 0) for item in items}
    for item, option in votes:
        if item in table and option in VOTE_VALUES:
            table[item][option] += 1
    return table


def leading(counts: dict[str, int]) -> str | None:
    """The option with most votes, or None on a tie or no votes."""
    best = max(counts.values(), default=0)
    if best == 0:
        return None
    winners = [k for k, v in counts.items() if v == best]
    return winners[0] if len(winners) == 1 else None
