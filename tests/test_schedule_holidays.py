"""Public holidays: weekly reflections, follow-ups and team pulses move to the next working day
at the same local time, the leader is told once why, and /settings can turn it off."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock, iso
from bot.dialogue import Dialogues
from bot.schedule import holidays
from bot.store import schedules
from bot.store.db import Store
from bot.team.service import TeamService
from tests.conftest import ROOT
from tests.schedule_support import Harness, local
from tests.test_team_service import ADMIN, GROUP, RecordingGateway

COPENHAGEN, OSLO = "Europe/Copenhagen", "Europe/Oslo"
# The Monday holidays that hit the default Monday 08:30 reflection in 2027.
MONDAY_HOLIDAYS = [
    (COPENHAGEN, date(2027, 3, 29), "Anden påskedag"),
    (COPENHAGEN, date(2027, 5, 17), "Anden pinsedag"),
    (OSLO, date(2027, 3, 29), "Andre påskedag"),
    (OSLO, date(2027, 5, 17), "Andre pinsedag"),
]


async def leader_in(tmp_path: Path, begin: datetime, zone: str, lang: str = "da") -> Harness:
    """One leader who said /start and chose a time zone (and a language)."""
    h = await Harness.open(tmp_path / "bot.db", ManualClock(begin))
    await h.command(1, "start")
    await h.command(1, "timezone", zone)
    if lang != "da":
        await h.press(1, f"m:lang:{lang}")
    return h


def notes(h: Harness) -> list[str]:
    """Every holiday note the leader got (any language)."""
    starts = {h.service.ui("sched_holiday_moved", lang, holiday="", date="")[:12]
              for lang in ("da", "nb", "en")}
    return [s.message.text for s in h.outbox.sent if s.message.text[:12] in starts]


@pytest.mark.parametrize(("zone", "holiday", "name"), MONDAY_HOLIDAYS)
async def test_the_monday_reflection_waits_for_the_tuesday_after_a_monday_holiday(
        tmp_path: Path, zone: str, holiday: date, name: str) -> None:
    week_before = holiday - timedelta(weeks=1)
    h = await leader_in(tmp_path, datetime.combine(week_before, time(0, 0), tzinfo=UTC), zone)
    await h.step_until(h.clock.now() + timedelta(weeks=2, days=1))
    sent = [local(s.at, zone) for s in h.headers()]
    assert [(s.date(), s.time()) for s in sent] == [
        (week_before, time(8, 30)), (holiday + timedelta(days=1), time(8, 30)),
        (holiday + timedelta(weeks=1), time(8, 30))]
    # Told once, with the moved reflection, naming the day; not with the reminder, nor after.
    told = notes(h)
    assert len(told) == 1 and name in told[0]
    moved_at = next(s.at for s in h.outbox.sent if s.message.text == told[0])
    assert local(moved_at, zone).date() == holiday + timedelta(days=1)
    await h.close()


async def test_easter_in_norway_moves_a_thursday_reflection_past_the_long_weekend(
        tmp_path: Path) -> None:
    h = await leader_in(tmp_path, datetime(2027, 3, 15, tzinfo=UTC), OSLO, lang="nb")
    await h.press(1, "st:day:3")  # Thursday: skjærtorsdag, then langfredag, then 2. påskedag
    await h.step_until(datetime(2027, 4, 2, tzinfo=UTC))
    header = h.service.ui("sched_nudge_header", "nb")
    sent = [local(s.at, OSLO) for s in h.outbox.sent if s.message.text == header]
    assert [(s.date(), s.time()) for s in sent] == [
        (date(2027, 3, 18), time(8, 30)), (date(2027, 3, 30), time(8, 30)),
        (date(2027, 4, 1), time(8, 30))]
    told = notes(h)
    assert len(told) == 1 and "Skjærtorsdag" in told[0] and "Denne meldingen" in told[0]
    await h.close()


@pytest.mark.parametrize("zone", [COPENHAGEN, OSLO])
async def test_a_follow_up_set_for_christmas_day_comes_on_the_next_working_day(
        tmp_path: Path, zone: str) -> None:
    h = await leader_in(tmp_path, datetime(2026, 12, 20, 12, 0, tzinfo=UTC), zone)
    christmas = datetime(2026, 12, 25, 9, 0, tzinfo=local(h.clock.now(), zone).tzinfo)
    async with h.core.store.transaction() as tx:
        await schedules.add(tx, "tg:1", "followup", iso(christmas.astimezone(UTC)),
                            iso(h.clock.now()), conversation="reflection")
    await h.step_until(datetime(2026, 12, 29, tzinfo=UTC))
    row = [r for r in await h.rows(1) if r.kind == "followup"][0]
    assert row.status == "sent" and row.note == "public holiday"
    sent_at = local(datetime.fromisoformat(row.due_at), zone)
    # Friday 25th and Saturday 26th are holidays, Sunday is no working day: Monday 28th 09:00.
    assert (sent_at.date(), sent_at.time()) == (date(2026, 12, 28), time(9, 0))
    told = notes(h)
    assert len(told) == 1 and "25. december" in told[0]
    await h.close()


async def test_settings_can_send_on_public_holidays_instead(tmp_path: Path) -> None:
    h = await leader_in(tmp_path, datetime(2027, 3, 22, tzinfo=UTC), COPENHAGEN)
    overview = await h.command(1, "settings")
    labels = [b.label for row in overview[-1].buttons for b in row]
    assert h.texts("sched_btn_holidays_off") in labels
    after = await h.press(1, "st:hol:off")
    labels = [b.label for row in after[-1].buttons for b in row]
    assert h.texts("sched_btn_holidays_on") in labels
    await h.step_until(datetime(2027, 4, 6, tzinfo=UTC))
    sent = [local(s.at, COPENHAGEN).date() for s in h.headers()]
    assert sent == [date(2027, 3, 22), date(2027, 3, 29), date(2027, 4, 5)]
    assert notes(h) == []
    await h.press(1, "st:hol:on")  # and back: the default again
    assert "holidays" not in list(await h.core.store.conn.execute_fetchall(
        "SELECT settings FROM leaders"))[0][0]
    await h.close()


async def test_settings_shows_the_moved_time_as_the_next_reflection(tmp_path: Path) -> None:
    h = await leader_in(tmp_path, datetime(2027, 3, 23, tzinfo=UTC), COPENHAGEN)
    text = (await h.command(1, "settings"))[-1].text
    assert "30. marts" in text and "29. marts" not in text
    await h.close()


@pytest.fixture
async def team(tmp_path: Path, real_dialogues: Dialogues) -> AsyncIterator[
        tuple[TeamService, ManualClock, RecordingGateway]]:
    """A team service on a real SQLite file with a manual clock."""
    clock = ManualClock(datetime(2027, 3, 22, 6, 0, tzinfo=UTC))
    store = await Store.open(tmp_path / "team.db")
    gateway = RecordingGateway(clock)
    service = TeamService.standalone(store, real_dialogues, clock, b"test-secret", gateway)
    yield service, clock, gateway
    await store.close()


@pytest.mark.parametrize(("zone", "lang"), [(COPENHAGEN, "da"), (OSLO, "nb")])
async def test_a_monday_team_pulse_moves_to_tuesday_after_easter_and_returns_to_monday(
        team: tuple[TeamService, ManualClock, RecordingGateway], zone: str, lang: str) -> None:
    service, clock, gateway = team
    await service.command(GROUP, ADMIN, f"setup weekly monday 09:00 {zone} {lang}")
    posted: list[datetime] = []
    end = datetime(2027, 4, 13, tzinfo=UTC)
    while clock.now() < end:
        clock.advance(timedelta(minutes=30))
        await service.tick()
        for s in gateway.out:
            if (s.action == "send" and s.message.buttons
                    and s.message.buttons[0][0].data.startswith("tp:") and s.at not in posted):
                posted.append(s.at)
    days = [(local(at, zone).date(), local(at, zone).time()) for at in posted]
    assert days == [(date(2027, 3, 22), time(9, 0)), (date(2027, 3, 30), time(9, 0)),
                    (date(2027, 4, 5), time(9, 0)), (date(2027, 4, 12), time(9, 0))]


def test_the_country_comes_from_every_offered_time_zone() -> None:
    from bot.features.onboarding import TIMEZONES
    from bot.features.settings import ZONES

    for zone in {*ZONES, *TIMEZONES}:
        country = holidays.country_of(zone)
        assert country is not None, zone
        assert holidays.holiday_name(date(2027, 12, 25), country) is not None, zone
    assert holidays.country_of("Asia/Tokyo") is None
    assert holidays.moved_off_holiday(datetime(2027, 3, 29, 7, tzinfo=UTC), "Asia/Tokyo") is None


def test_a_weekend_day_that_is_no_holiday_is_not_moved() -> None:
    saturday = datetime(2027, 3, 20, 9, tzinfo=UTC)
    assert holidays.moved_off_holiday(saturday, COPENHAGEN) is None
    easter_sunday = datetime(2027, 3, 28, 9, tzinfo=UTC)
    moved = holidays.moved_off_holiday(easter_sunday, OSLO)
    assert moved is not None and local(moved, OSLO).date() == date(2027, 3, 30)


def test_the_2027_moves_script_lists_denmark_and_norway() -> None:
    done = subprocess.run([sys.executable, "-m", "bot.schedule.holidays", "2027", "DK", "NO"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    lines = done.stdout.splitlines()
    assert "DK  Mon 2027-03-29  Anden påskedag  ->  Tue 2027-03-30" in lines
    assert "NO  Mon 2027-05-17  Andre pinsedag; Grunnlovsdag  ->  Tue 2027-05-18" in lines
    assert "NO  Thu 2027-03-25  Skjærtorsdag  ->  Tue 2027-03-30" in lines
