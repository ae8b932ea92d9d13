"""/trend: a chart of the leader's weekly 1-5 self-rating, with skipped weeks as gaps.

The rating is the scale answer of the weekly reflection conversation; which answer that is
lives in the two constants below and nowhere else.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal

# The Agg canvas with the object-oriented Figure: no pyplot global state, no display needed,
# safe to render in a worker thread.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.dialogue.state import Attachment, OutMessage
from bot.features.common import LOCALES, local
from bot.service import BotService, Request
from bot.store import repo

RATING_CONVERSATION = "reflection"  # dialogues/reflection.yaml
RATING_ANSWER = "rating"  # the `store:` name of its 1-5 scale node
MIN_POINTS = 3
RECENT = 4  # how many of the latest ratings the reading compares with the average
STEADY = 0.5  # within this of the average counts as "around your average"
SIZE_INCHES = (8.0, 4.0)
DPI = 100


@dataclass(frozen=True)
class Reading:
    """The plain-language reading of a series: a wording key and its variables."""

    key: str
    count: int
    average: float


def register(service: BotService) -> None:
    """Add /trend to the service."""
    service.register_command("trend", show_trend)


async def weekly_ratings(request: Request) -> list[tuple[date, float]]:
    """(Monday of the leader's local week, mean rating that week), oldest first."""
    async with request.tx.execute(
        "SELECT a.value, a.created_at, a.id FROM answers a JOIN threads t ON t.thread = a.thread "
        "WHERE a.leader_id = ? AND t.leader_id = ? AND a.conversation = ? AND a.name = ? "
        "AND t.status = 'finished' AND a.id = (SELECT max(b.id) FROM answers b "
        "WHERE b.thread = a.thread AND b.name = a.name) ORDER BY a.created_at",
        (request.leader.leader_id, request.leader.leader_id, RATING_CONVERSATION,
         RATING_ANSWER),
    ) as cur:
        rows = await cur.fetchall()
    weeks: dict[date, list[float]] = {}
    for raw, created, answer_id in rows:
        value = _rating(repo.answer_value(request.tx, request.leader.leader_id, answer_id, raw))
        if value is None:
            continue  # skipped, or not a number
        day = local(str(created), request.leader).date()
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(value)
    return [(week, sum(vals) / len(vals)) for week, vals in sorted(weeks.items())]


def _rating(raw: Any) -> float | None:
    """A stored JSON answer as a 1-5 rating, or None."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 1 <= value <= 5 else None


def with_gaps(points: list[tuple[date, float]]) -> list[tuple[date, float | None]]:
    """Every week from the first rating to the last; weeks without one are None."""
    if not points:
        return []
    known = dict(points)
    first, last = points[0][0], points[-1][0]
    weeks = (last - first).days // 7
    return [(first + timedelta(weeks=i), known.get(first + timedelta(weeks=i)))
            for i in range(weeks + 1)]


def read(values: list[float]) -> Reading:
    """Compare the latest ratings with the leader's own average."""
    average = sum(values) / len(values)
    count = min(RECENT, max(1, len(values) - 1))
    recent = values[-count:]
    if all(v > average for v in recent):
        key = "trend_above"
    elif all(v < average for v in recent):
        key = "trend_below"
    elif all(abs(v - average) <= STEADY for v in recent):
        key = "trend_steady"
    else:
        key = "trend_mixed"
    return Reading(key, count, average)


def render_png(series: list[tuple[date, float | None]], average: float, lang: str,
               labels: dict[str, str]) -> bytes:
    """Draw the series as a PNG: a line broken at skipped weeks, and the average."""
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = list(range(len(series)))
    ys = [math.nan if v is None else v for _, v in series]
    axes.plot(xs, ys, marker="o", linewidth=2, color="#2f6f8f")  # NaN breaks the line
    axes.axhline(average, linestyle="--", linewidth=1, color="#999999",
                 label=labels["average"])
    for x, (_, v) in zip(xs, series, strict=True):
        if v is None:
            axes.axvspan(x - 0.5, x + 0.5, color="#eeeeee", linewidth=0)
    axes.set_ylim(0.5, 5.5)
    axes.set_yticks([1, 2, 3, 4, 5])
    axes.set_xlim(-0.5, max(len(series) - 0.5, 0.5))
    step = max(1, math.ceil(len(series) / 10))
    ticks = xs[::step]
    axes.set_xticks(ticks)
    locale = LOCALES.get(lang, "da_DK")
    axes.set_xticklabels([format_date(series[i][0], format="d MMM", locale=locale)
                          for i in ticks], fontsize=8)
    axes.set_title(labels["title"])
    axes.set_xlabel(labels["x"])
    axes.set_ylabel(labels["y"])
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def show_trend(request: Request) -> list[OutMessage]:
    """The /trend command: the chart and its reading, or why there is none yet."""
    service, lang = request.service, request.leader.language
    points = await weekly_ratings(request)
    if len(points) < MIN_POINTS:
        return [OutMessage(text=service.ui("trend_too_few", lang, count=len(points),
                                           needed=MIN_POINTS))]
    reading = read([v for _, v in points])
    sentence = reading_text(service, reading, lang)
    labels = {key: service.ui(f"trend_chart_{key}", lang) for key in ("title", "x", "y",
                                                                      "average")}
    png = await asyncio.to_thread(render_png, with_gaps(points), reading.average, lang, labels)
    today = service.today(request.leader).isoformat()
    photo = Attachment(kind="photo", filename=f"tillidsbot-trend-{today}.png", data=png,
                       caption=sentence)
    return [OutMessage(text=sentence, attachments=[photo])]


def reading_text(service: BotService, reading: Reading, lang: str) -> str:
    """The reading as a sentence in the leader's language."""
    average = format_decimal(round(reading.average, 1), format="0.0",
                             locale=LOCALES.get(lang, "da_DK"))
    return service.ui(reading.key, lang, count=reading.count, average=average)
