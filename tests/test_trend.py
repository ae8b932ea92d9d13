"""/trend: the weekly self-rating chart (a real PNG), gaps for skipped weeks, and its reading."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.features import trend
from bot.features.trend import RATING_ANSWER, RATING_CONVERSATION
from bot.service import Request
from bot.store import repo
from tests.history_helpers import ALICE, BOB, NOW, make_core, png_size, seed_thread

SAMPLE = Path("/tmp/tillidsbot-trend-sample.png")
FIRST_MONDAY = NOW - timedelta(weeks=60, days=NOW.weekday())  # a Monday, 09:00 UTC


async def seed_ratings(core, ratings: list[int | None], who=ALICE) -> None:  # type: ignore[no-untyped-def]
    """One finished weekly reflection per entry; None is a skipped week (no conversation)."""
    async with core.store.transaction() as tx:
        for week, value in enumerate(ratings):
            if value is None:
                continue
            await seed_thread(tx, who.leader_id, f"{who.leader_id}-w{week}", RATING_CONVERSATION,
                              FIRST_MONDAY + timedelta(weeks=week, days=1),
                              headline="Ugens refleksion", summary="Resumé",
                              answers={"reflection": "Jeg gav mere plads",
                                       RATING_ANSWER: value})


async def trend_of(core):  # type: ignore[no-untyped-def]
    """Send /trend as Alice."""
    return await core.service.handle_command(ALICE, "trend")


async def test_one_week_says_so_instead_of_drawing(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ratings(core, [4])
    out = await trend_of(core)
    assert out[0].attachments == []
    assert out[0].text == core.service.ui("trend_too_few", "da", count=1, needed=3)
    await core.close()


async def test_three_weeks_draw_a_png_of_sensible_size(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ratings(core, [2, 3, 5])
    out = await trend_of(core)
    [photo] = out[0].attachments
    assert photo.kind == "photo" and photo.filename.endswith(".png")
    assert png_size(photo.data) == (800, 400)
    assert 5_000 < len(photo.data) < 500_000
    # Average 3.33: the last two (3 and 5) are not both above it, and 5 is far from it.
    assert out[0].text == core.service.ui("trend_mixed", "da", count=2, average="3,3")
    await core.close()


async def test_52_weeks_with_skips_has_gaps_and_a_true_reading(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    ratings: list[int | None] = [None if w % 6 == 5 else 2 + (w % 3 == 0) for w in range(48)]
    ratings += [5, None, 4, 5, 4]  # the last four ratings, all above the average
    assert len(ratings) == 53 and ratings[-1] is not None
    await seed_ratings(core, ratings)
    await seed_ratings(core, [1] * 52, who=BOB)  # another leader's ratings never count
    out = await trend_of(core)
    [photo] = out[0].attachments
    assert png_size(photo.data) == (800, 400)
    await asyncio.to_thread(SAMPLE.write_bytes, photo.data)  # a stable path for the note
    values = [float(v) for v in ratings if v is not None]
    average = sum(values) / len(values)
    assert all(v > average for v in values[-4:])
    expected = core.service.ui("trend_above", "da", count=4,
                               average=f"{average:.1f}".replace(".", ","))
    assert out[0].text == expected and photo.caption == expected
    await core.close()


async def test_series_keeps_skipped_weeks_as_gaps(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    ratings: list[int | None] = [3, None, None, 4, 5, None, 2]
    await seed_ratings(core, ratings)
    async with core.store.transaction() as tx:
        leader = await repo.get_leader(tx, ALICE.leader_id)
        assert leader is not None
        points = await trend.weekly_ratings(Request(tx, leader, None, "", core.service))
    series = trend.with_gaps(points)
    assert [v for _, v in series] == [None if r is None else float(r) for r in ratings]
    mondays = [d for d, _ in series]
    assert all(d.weekday() == 0 for d in mondays)
    assert all(b - a == timedelta(weeks=1) for a, b in zip(mondays, mondays[1:], strict=False))
    await core.close()


async def test_last_answer_counts_after_back_and_unfinished_ones_do_not(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ratings(core, [3, 3, 3])
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
        leader = await repo.get_leader(tx, ALICE.leader_id)
        assert leader is not None
        points = await trend.weekly_ratings(Request(tx, leader, None, "", core.service))
    assert [v for _, v in points] == [3.0, 3.0, 5.0]
    await core.close()


@pytest.mark.parametrize(("values", "key", "count"), [
    ([3, 3, 3, 3, 2, 2, 4, 4, 4, 4], "trend_above", 4),
    ([4, 4, 4, 4, 2, 2, 2, 2], "trend_below", 4),
    ([3, 3, 3, 3, 3], "trend_steady", 4),
    ([1, 5, 1, 5, 1, 5], "trend_mixed", 4),
    ([2, 3, 4], "trend_mixed", 2),
    ([1, 4, 4], "trend_above", 2),
])
def test_reading_matches_the_data(values: list[int], key: str, count: int) -> None:
    reading = trend.read([float(v) for v in values])
    assert (reading.key, reading.count) == (key, count)
    assert reading.average == pytest.approx(sum(values) / len(values))


def test_reading_wording_in_every_language(real_dialogues) -> None:  # type: ignore[no-untyped-def]
    reading = trend.read([3, 3, 3, 3, 2, 2, 4, 4, 4, 4])
    for lang, words in (("da", "over dit eget gennemsnit (3,2)"),
                        ("nb", "over ditt eget gjennomsnitt (3,2)"),
                        ("en", "above your own average (3.2)")):
        average = f"{reading.average:.1f}"
        average = average if lang == "en" else average.replace(".", ",")
        text = real_dialogues.strings(reading.key, lang, count=reading.count, average=average)
        assert words in text and "4" in text


def test_png_for_a_single_week_still_renders() -> None:
    labels = {"title": "t", "x": "x", "y": "y", "average": "a"}
    png = trend.render_png([(date(2026, 11, 23), 4.0)], 4.0, "da", labels)
    assert png_size(png) == (800, 400)


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
    assert png_size(await asyncio.to_thread(paths[0].read_bytes)) == (800, 400)
    # A leader's words on a shared machine: files and their folder are the owner's alone.
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in paths)
    assert (tmp_path / "files").stat().st_mode & 0o777 == 0o700
    assert not list((tmp_path / "files").glob("*.partial"))
    await core.close()
