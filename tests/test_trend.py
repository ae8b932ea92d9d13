"""/trend: one series per comparable kind of question (a real PNG), the leader's own words, and
no verdicts: the ratings answer different questions and are never averaged or graded."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import yaml

from bot.features import reflection, trend
from bot.features.trend import RATING_ANSWER, RATING_CONVERSATION
from bot.service import Request
from bot.store import repo
from tests.conftest import ROOT
from tests.history_helpers import ALICE, BOB, NOW, make_core, png_size, seed_thread

SAMPLE = Path("/tmp/tillidsbot-trend-sample.png")
FIRST_MONDAY = NOW - timedelta(weeks=60, days=NOW.weekday())  # a Monday, 09:00 UTC
PHONE = (900, 1200)  # 6 x 8 inches at 150 dpi: portrait, for a phone screen
PROMPTS = reflection.load_prompts(ROOT / "dialogues" / reflection.PROMPTS_FILE, ("da", "nb", "en"))
ORDER = [p.id for p in PROMPTS]
KIND = {p.id: p.kind for p in PROMPTS}
# Words that would grade the leader or read the numbers as development, in da, nb and en.
VERDICT = re.compile(r"gennemsnit|gjennomsnitt|average|\bover\b|\bunder\b|above|below|bedre|"
                     r"dårligere|better|worse|fremgang|tilbagegang|improv|udvikl|utvikl|develop|"
                     r"progress|trend_above|trend_below", re.IGNORECASE)


async def seed_ratings(core, ratings: list[int | None], who=ALICE,  # type: ignore[no-untyped-def]
                       words: str = "Jeg gav mere plads", prompts: bool = True) -> None:
    """One finished weekly reflection per entry, its prompt taken in rotation order and recorded
    as the service records it; None is a skipped week (no conversation)."""
    async with core.store.transaction() as tx:
        for week, value in enumerate(ratings):
            if value is None:
                continue
            at = FIRST_MONDAY + timedelta(weeks=week, days=1)
            if prompts:
                if await repo.get_leader(tx, who.leader_id) is None:
                    await repo.create_leader(tx, who.leader_id, who.chat_id, "da", at.isoformat())
                await reflection.record_prompt(tx, who.leader_id, ORDER[week % len(ORDER)],
                                               at.isoformat())
            await seed_thread(tx, who.leader_id, f"{who.leader_id}-w{week}", RATING_CONVERSATION,
                              at, headline="Ugens refleksion", summary="Resumé",
                              answers={"reflection": f"{words} (uge {week})",
                                       RATING_ANSWER: value})


async def trend_of(core, who=ALICE):  # type: ignore[no-untyped-def]
    """Send /trend."""
    return await core.service.handle_command(who, "trend")


async def points_of(core) -> list[trend.Point]:  # type: ignore[no-untyped-def]
    """Alice's reflections as /trend reads them."""
    async with core.store.transaction() as tx:
        leader = await repo.get_leader(tx, ALICE.leader_id)
        assert leader is not None
        return await trend.reflections(Request(tx, leader, None, "", core.service),
                                       {p.id: p for p in PROMPTS})


async def test_one_week_says_so_instead_of_drawing(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ratings(core, [4])
    out = await trend_of(core)
    assert out[0].attachments == []
    assert out[0].text == core.service.ui("trend_too_few", "da", count=1, needed=3)
    await core.close()


async def test_three_weeks_draw_a_png_sized_for_a_phone(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ratings(core, [2, 3, 5])
    out = await trend_of(core)
    [photo] = out[0].attachments
    assert photo.kind == "photo" and photo.filename.endswith(".png")
    assert png_size(photo.data) == PHONE
    assert 5_000 < len(photo.data) < 500_000
    # purpose (lever), culture (compass), control (lever): two kinds, two panels.
    assert photo.caption == core.service.ui("trend_intro", "da", count=3, kinds=2)
    assert out[0].text.startswith(photo.caption)
    await core.close()


async def test_one_series_per_comparable_kind_never_mixed(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    ratings: list[int | None] = [None if w % 7 == 6 else 1 + w % 5 for w in range(53)]
    await seed_ratings(core, ratings)
    await seed_ratings(core, [1] * 52, who=BOB)  # another leader's ratings never count
    points = await points_of(core)
    series = trend.series_by_kind(points)
    assert list(series) == ["lever", "compass", "misunderstanding", "perspective"]
    expected: dict[str, list[float]] = {}
    for week, value in enumerate(ratings):
        if value is not None:
            expected.setdefault(KIND[ORDER[week % len(ORDER)]], []).append(float(value))
    assert {kind: [v for _, v in values] for kind, values in series.items()} == expected
    labels = trend.chart_labels(core.service, "da")
    figure = trend.draw(series, trend.weeks(points), "da", labels)
    panels = figure.get_axes()
    assert [a.get_title(loc="left") for a in panels] == [
        labels[f"kind_{k}"] for k in series]
    for axes, values in zip(panels, series.values(), strict=True):
        # Dots only: no line through different questions, no average line.
        assert axes.get_lines() == [] and len(axes.collections) == 1
        assert len(np.asarray(axes.collections[0].get_offsets())) == len(values)
    out = await trend_of(core)
    [photo] = out[0].attachments
    assert png_size(photo.data) == PHONE
    await asyncio.to_thread(SAMPLE.write_bytes, photo.data)  # a stable path for the note
    await core.close()


async def test_no_verdict_words_in_any_language(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ratings(core, [1, 1, 1, 1, 5, 5, 5, 5])  # a run that an average would "read"
    for lang in ("da", "nb", "en"):
        async with core.store.transaction() as tx:
            leader = await repo.get_leader(tx, ALICE.leader_id)
            assert leader is not None
            await repo.update_leader(tx, replace(leader, language=lang), NOW.isoformat())
        out = await trend_of(core)
        assert out[0].attachments, lang
        assert not VERDICT.search(out[0].text), (lang, out[0].text)
        labels = trend.chart_labels(core.service, lang)
        assert not any(VERDICT.search(v) for v in labels.values()), (lang, labels)
    wording = yaml.safe_load((ROOT / "dialogues" / "_ui_history.yaml").read_text("utf-8"))
    trend_keys = [k for k in wording if k.startswith(("trend_", "command_trend"))]
    assert len(trend_keys) >= 15
    for key in trend_keys:
        for lang, text in wording[key].items():
            assert not VERDICT.search(text), (key, lang, text)
    await core.close()


async def test_the_leaders_own_words_carry_the_story(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ratings(core, [3, 4, None, 2, 5])
    out = await trend_of(core)
    text = out[0].text
    # The latest three written reflections, newest first, each with its week's question.
    quoted = re.findall(r"“Jeg gav mere plads \(uge (\d+)\)”", text)
    assert quoted == ["4", "3", "1"]
    culture = next(p for p in PROMPTS if p.id == ORDER[1])
    assert culture.title["da"] in text and "/history" in text
    await core.close()


async def test_series_keeps_skipped_weeks_as_gaps(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    ratings: list[int | None] = [3, None, None, 4, 5, None, 2]
    await seed_ratings(core, ratings)
    points = await points_of(core)
    mondays = trend.weeks(points)
    assert len(mondays) == len(ratings)
    assert all(d.weekday() == 0 for d in mondays)
    assert all(b - a == timedelta(weeks=1) for a, b in zip(mondays, mondays[1:], strict=False))
    rated = {p.week for p in points}
    assert [d in rated for d in mondays] == [r is not None for r in ratings]
    await core.close()


async def test_last_answer_counts_after_back_and_unfinished_ones_do_not(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ratings(core, [3, 3, 3], prompts=False)
    async with core.store.transaction() as tx:
        # The leader answered 1, went /back and answered 5 in the last week's conversation.
        await repo.add_answer(tx, ALICE.leader_id, f"{ALICE.leader_id}-w2", RATING_CONVERSATION,
                              RATING_ANSWER, RATING_ANSWER, 5, "2026-01-01T00:00:00+00:00")
        # A skipped rating and an unfinished conversation add nothing.
        await seed_thread(tx, ALICE.leader_id, "skipped", RATING_CONVERSATION,
                          FIRST_MONDAY + timedelta(weeks=3), answers={RATING_ANSWER: None})
        await seed_thread(tx, ALICE.leader_id, "open", RATING_CONVERSATION,
                          FIRST_MONDAY + timedelta(weeks=4), answers={RATING_ANSWER: 1},
                          status="active")
    points = await points_of(core)
    assert [p.rating for p in points] == [3.0, 3.0, 5.0, None]
    # Without a recorded prompt a rating is the open question's, its own kind.
    assert list(trend.series_by_kind(points)) == ["open"]
    await core.close()


def test_png_for_a_single_week_still_renders(real_dialogues) -> None:  # type: ignore[no-untyped-def]
    labels = {"title": "t", "x": "x", "y": "y", "low": "l", "high": "h",
              **{f"kind_{k}": k for k in trend.KINDS}}
    png = trend.render_png({"lever": [(date(2026, 11, 23), 4.0)]}, [date(2026, 11, 23)], "da",
                           labels)
    assert png_size(png) == PHONE


async def test_terminal_chat_writes_the_chart_and_exports_to_files(tmp_path: Path) -> None:
    import io

    from bot.channels.console import CONSOLE_LEADER, ConsoleChannel

    core = await make_core(tmp_path)
    await seed_ratings(core, [2, 4, 3, 5], who=CONSOLE_LEADER)
    out = io.StringIO()
    console = ConsoleChannel(core.service, stdout=out, files_dir=tmp_path / "files")
    await console.send(await console.handle("/trend"))
    await console.send(await console.handle("/export"))
    printed = out.getvalue()
    paths = [Path(line.split(": ", 1)[1].split("]")[0]) for line in printed.splitlines()
             if line.startswith(("[photo: ", "[document: "))]
    assert [p.suffix for p in paths] == [".png", ".md", ".json"]
    assert all(p.parent == tmp_path / "files" for p in paths)
    assert png_size(await asyncio.to_thread(paths[0].read_bytes)) == PHONE
    # A leader's words on a shared machine: files and their folder are the owner's alone.
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in paths)
    assert (tmp_path / "files").stat().st_mode & 0o777 == 0o700
    assert not list((tmp_path / "files").glob("*.partial"))
    await core.close()
