"""/trend: the leader's weekly 1-5 ratings, one series per kind of question, and their own words.

The ratings answer 22 different questions, so they are never averaged into one line and never
read as better or worse: the chart shows one panel per comparable kind of prompt (the nine
levers, Bentzen's trust compass, Bentzen's five misunderstandings, the other perspectives), and
the message gives back the leader's latest written reflections, which carry the story (seed 004:
"mere tillid eller øget autonomi [er] ikke altid den rigtige løsning").
Which answer is the rating lives in the two constants below and nowhere else.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from babel.dates import format_date

from bot.dialogue.state import Attachment, OutMessage
from bot.features.common import day_text, local
from bot.features.reflection import ReflectionPrompt
from bot.locale import babel_locale
from bot.service import BotService, Request
from bot.store import reflections as store

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RATING_CONVERSATION = "reflection"  # dialogues/reflection.yaml
RATING_ANSWER = "rating"  # the `store:` name of its 1-5 scale node
WORDS_ANSWER = "reflection"  # the `store:` name of its free-text node
OPEN = "open"  # a rating given without a recorded weekly prompt (the open fallback question)
KINDS = ("lever", "compass", "misunderstanding", "perspective", OPEN)  # panel order
MIN_POINTS = 3
OWN_WORDS = 3  # how many of the latest written reflections the message gives back
EXCERPT = 160
SIZE_INCHES = (6.0, 8.0)  # portrait, for a phone screen
DPI = 150
COLOURS = {"lever": "#2f6f8f", "compass": "#8f5a2f", "misunderstanding": "#5a2f8f",
           "perspective": "#2f8f5a", OPEN: "#666666"}


@dataclass(frozen=True)
class Point:
    """One finished weekly reflection: its local week, prompt, rating and the leader's words."""

    week: date
    day: date
    prompt: str | None
    kind: str
    rating: float | None
    words: str


def register(service: BotService, prompts: Sequence[ReflectionPrompt] = ()) -> None:
    """Add /trend to the service; the prompts say which kind each weekly question is."""
    by_id = {p.id: p for p in prompts}

    async def show(request: Request) -> list[OutMessage]:
        """The /trend command with the rotation's prompts."""
        return await show_trend(request, by_id)

    service.register_command("trend", show)


async def reflections(request: Request,
                      prompts: dict[str, ReflectionPrompt]) -> list[Point]:
    """Every finished weekly reflection of the leader, oldest first.

    The prompt of a thread is the one recorded for the leader last before (or as) the thread
    began: both are written in the transaction that starts it (bot/features/reflection.py).
    """
    leader = request.leader.leader_id
    threads = await store.finished_threads(request.tx, leader, RATING_CONVERSATION)
    answers = await store.latest_answers(request.tx, leader, RATING_CONVERSATION, RATING_ANSWER,
                                         WORDS_ANSWER)
    points = []
    for thread, finished, prompt_id in threads:
        day = local(str(finished), request.leader).date()
        prompt = prompts.get(str(prompt_id)) if prompt_id is not None else None
        words = _words(answers.get((thread, WORDS_ANSWER)))
        points.append(Point(week=day - timedelta(days=day.weekday()), day=day,
                            prompt=prompt.id if prompt else None,
                            kind=prompt.kind if prompt else OPEN,
                            rating=_rating(answers.get((thread, RATING_ANSWER))), words=words))
    return points


def _rating(raw: Any) -> float | None:
    """A stored JSON answer as a 1-5 rating, or None."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 1 <= value <= 5 else None


def _words(raw: Any) -> str:
    """A stored JSON text answer as one line, or '' (skipped)."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return ""
    return " ".join(value.split()) if isinstance(value, str) else ""


def weeks(points: Sequence[Point]) -> list[date]:
    """Every Monday from the first rated week to the last (skipped weeks included)."""
    rated = sorted({p.week for p in points if p.rating is not None})
    if not rated:
        return []
    return [rated[0] + timedelta(weeks=i) for i in range((rated[-1] - rated[0]).days // 7 + 1)]


def series_by_kind(points: Sequence[Point]) -> dict[str, list[tuple[date, float]]]:
    """One series per comparable kind of question: (week, rating), oldest first, never mixed."""
    series: dict[str, list[tuple[date, float]]] = {}
    for kind in KINDS:
        rated = [(p.week, p.rating) for p in points if p.kind == kind and p.rating is not None]
        if rated:
            series[kind] = rated
    return series


def draw(series: dict[str, list[tuple[date, float]]], all_weeks: Sequence[date], lang: str,
         labels: dict[str, str]) -> Figure:
    """One panel per kind on a shared week axis: dots, no connecting line, no average."""
    # Loaded on the first chart, not at start-up (matplotlib is most of the bot's memory).
    # The Agg canvas with the object-oriented Figure: no pyplot global state, no display
    # needed, safe to render in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(figure)
    panels = max(1, len(series))
    axes_list = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    index = {week: i for i, week in enumerate(all_weeks)}
    locale = babel_locale(lang)
    for axes, (kind, values) in zip(axes_list, series.items(), strict=False):
        xs = [index[week] for week, _ in values]
        axes.scatter(xs, [v for _, v in values], s=60, color=COLOURS[kind], zorder=3)
        axes.set_title(labels[f"kind_{kind}"], fontsize=12, loc="left")
        axes.set_ylim(0.5, 5.5)
        axes.set_yticks([1, 3, 5])
        axes.set_yticklabels([f"1 {labels['low']}", "3", f"5 {labels['high']}"], fontsize=9)
        axes.grid(axis="y", alpha=0.3)
        axes.set_xlim(-1, max(len(all_weeks), 1))  # room for the first and last dot
    step = max(1, math.ceil(len(all_weeks) / 6))
    ticks = list(range(0, len(all_weeks), step))
    last = axes_list[-1]
    last.set_xticks(ticks)
    last.set_xticklabels([format_date(all_weeks[i], format="d MMM", locale=locale)
                          for i in ticks], fontsize=10)
    last.set_xlabel(labels["x"], fontsize=11)
    figure.suptitle(labels["title"], fontsize=14)
    figure.supylabel(labels["y"], fontsize=11)
    figure.tight_layout()
    return figure


def render_png(series: dict[str, list[tuple[date, float]]], all_weeks: Sequence[date],
               lang: str, labels: dict[str, str]) -> bytes:
    """The chart as PNG bytes."""
    buffer = io.BytesIO()
    draw(series, all_weeks, lang, labels).savefig(buffer, format="png")
    return buffer.getvalue()


def chart_labels(service: BotService, lang: str) -> dict[str, str]:
    """Every word the chart shows, in the leader's language."""
    keys = ("title", "x", "y", "low", "high", *(f"kind_{k}" for k in KINDS))
    return {key: service.ui(f"trend_chart_{key}", lang) for key in keys}


def own_words(service: BotService, points: Sequence[Point],
              prompts: dict[str, ReflectionPrompt], lang: str) -> str:
    """The leader's latest written reflections, newest first, as a short list."""
    written = [p for p in points if p.words][-OWN_WORDS:]
    if not written:
        return service.ui("trend_no_words", lang)
    lines = []
    for point in reversed(written):
        prompt = prompts.get(point.prompt or "")
        about = prompt.title.get(lang, "") if prompt else ""
        text = point.words if len(point.words) <= EXCERPT else point.words[:EXCERPT - 1] + "…"
        lines.append(service.ui("trend_words_item", lang, date=day_text(point.day, lang),
                                about=about, words=text))
    return "\n".join([service.ui("trend_words_heading", lang), *lines])


async def show_trend(request: Request,
                     prompts: dict[str, ReflectionPrompt]) -> list[OutMessage]:
    """The /trend command: the chart per kind and the leader's own words, or why not yet."""
    service, lang = request.service, request.leader.language
    points = await reflections(request, prompts)
    rated = [p for p in points if p.rating is not None]
    if len(rated) < MIN_POINTS:
        return [OutMessage(text=service.ui("trend_too_few", lang, count=len(rated),
                                           needed=MIN_POINTS))]
    series = series_by_kind(points)
    caption = service.ui("trend_intro", lang, count=len(rated), kinds=len(series))
    png = await asyncio.to_thread(render_png, series, weeks(points), lang,
                                  chart_labels(service, lang))
    today = service.today(request.leader).isoformat()
    photo = Attachment(kind="photo", filename=f"tillidsbot-trend-{today}.png", data=png,
                       caption=caption)
    text = "\n\n".join([caption, own_words(service, points, prompts, lang),
                        service.ui("trend_history_hint", lang)])
    return [OutMessage(text=text, attachments=[photo])]
