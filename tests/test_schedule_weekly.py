"""Weekly nudges with a controlled clock: one per week at the leader's local time, across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from tests.schedule_support import Harness, local

ZONES = ["Europe/Copenhagen", "Europe/Oslo"]
# Three weeks on each side of the 2026 changes (29 March forward, 25 October back).
SEASONS = {"spring": date(2026, 3, 9), "autumn": date(2026, 10, 5)}


async def started(tmp_path: Path, begin: datetime, zone: str) -> Harness:
    """One leader who said /start and chose a time zone."""
    h = await Harness.open(tmp_path / "bot.db", ManualClock(begin))
    await h.command(1, "start")
    await h.command(1, "timezone", zone)
    return h


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("season", SEASONS)
async def test_default_monday_0830_exactly_once_a_week_across_dst(
        tmp_path: Path, zone: str, season: str) -> None:
    first = SEASONS[season]
    h = await started(tmp_path, datetime.combine(first, time(0, 0), tzinfo=UTC), zone)
    await h.step_until(h.clock.now() + timedelta(weeks=6))
    sent = [local(s.at, zone) for s in h.headers()]
    mondays = [first + timedelta(weeks=w) for w in range(6)]
    # 6 April 2026 is 2. påskedag (DK) / andre påskedag (NO): that week's comes on Tuesday.
    mondays = [m + timedelta(days=1) if m == date(2026, 4, 6) else m for m in mondays]
    assert [(s.date(), s.time()) for s in sent] == [(m, time(8, 30)) for m in mondays]
    # The UTC instant really moved with the clock change (08:30 CET = 07:30Z, CEST = 06:30Z).
    assert len({s.astimezone(UTC).time() for s in sent}) == 2
    await h.close()


@pytest.mark.parametrize("zone", ZONES)
async def test_a_time_inside_the_spring_gap_is_sent_once_just_after_it(
        tmp_path: Path, zone: str) -> None:
    h = await started(tmp_path, datetime(2026, 3, 20, 12, 0, tzinfo=UTC), zone)
    await h.command(1, "settings", "quiet off")
    await h.press(1, "st:day:6")  # Sunday
    await h.command(1, "settings", "time 02:30")  # 02:30 does not exist on 29 March
    await h.step_until(datetime(2026, 4, 8, tzinfo=UTC), timedelta(minutes=15))
    sent = [local(s.at, zone) for s in h.headers()]
    assert [(s.date(), s.time()) for s in sent] == [
        (date(2026, 3, 22), time(2, 30)), (date(2026, 3, 29), time(3, 30)),
        # 5 April 2026 is Easter Sunday and the 6th 2. påskedag: the first working day after.
        (date(2026, 4, 7), time(2, 30))]
    await h.close()


@pytest.mark.parametrize("zone", ZONES)
async def test_a_time_that_happens_twice_in_autumn_is_sent_only_the_first_time(
        tmp_path: Path, zone: str) -> None:
    h = await started(tmp_path, datetime(2026, 10, 16, 12, 0, tzinfo=UTC), zone)
    await h.command(1, "settings", "quiet off")
    await h.press(1, "st:day:6")
    await h.command(1, "settings", "time 02:30")  # 02:30 happens twice on 25 October
    await h.step_until(datetime(2026, 11, 2, tzinfo=UTC), timedelta(minutes=15))
    sent = h.headers()
    assert [local(s.at, zone).date() for s in sent] == [
        date(2026, 10, 18), date(2026, 10, 25), date(2026, 11, 1)]
    assert sent[1].at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 summer time
    await h.close()


async def test_changing_the_time_after_this_weeks_nudge_does_not_send_a_second(
        tmp_path: Path) -> None:
    h = await started(tmp_path, datetime(2026, 11, 30, 6, 0, tzinfo=UTC), "Europe/Copenhagen")
    await h.step_until(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # Monday 09:00 local
    assert len(h.headers()) == 1
    await h.command(1, "settings", "time 11:00")  # later the same Monday
    await h.step_until(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    assert [local(s.at, "Europe/Copenhagen").strftime("%a %d %H:%M") for s in h.headers()] == [
        "Mon 30 08:30", "Mon 07 11:00"]
    await h.close()


async def test_the_nudge_opens_the_reflection_with_snooze_buttons(tmp_path: Path) -> None:
    h = await started(tmp_path, datetime(2026, 11, 29, 12, 0, tzinfo=UTC), "Europe/Copenhagen")
    await h.step_until(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    [nudge] = h.headers()
    labels = [b.label for row in nudge.message.buttons for b in row]
    assert labels == ["Om en time", "I morgen", "Næste uge (spring over)"]
    after = [s.message for s in h.outbox.sent[h.outbox.sent.index(nudge) + 1:]]
    assert any("Ugens refleksion" in m.text for m in after)
    rows = await h.rows(1)
    assert [(r.kind, r.status) for r in rows] == [
        ("nudge", "sent"), ("reminder", "pending"), ("nudge", "pending")]
    await h.close()
