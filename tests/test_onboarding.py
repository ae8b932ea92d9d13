"""First contact on a channel: language, time zone, then when the weekly reflection comes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.clock import ManualClock
from tests.schedule_support import Harness

SUNDAY_NOON = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


async def test_onboarding_ends_with_the_weekly_reflection_and_plans_it(tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(SUNDAY_NOON))
    await h.command(7, "onboarding")
    await h.press(7, "ob:l:nb")
    out = await h.press(7, "ob:t:Europe/Oslo")
    texts = [m.text for m in out]
    weekly = h.service.ui("sched_nudge_every", "nb", day="mandag", time="08:30")
    assert any(weekly in t for t in texts), texts
    assert out[-1].buttons, "the menu ends the onboarding"
    nudges = [r for r in await h.rows(7) if r.kind == "nudge" and r.status == "pending"]
    assert len(nudges) == 1
    # 08:30 in Oslo on Monday 23 November is 07:30 UTC.
    assert nudges[0].due_at.startswith("2026-11-23T07:30")
    # A later /start does not repeat it.
    again = await h.command(7, "start")
    assert not any(weekly in m.text for m in again)
    await h.close()
