"""Restart safety: schedules live in SQLite, downtime is caught up within the grace, never twice."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.clock import ManualClock, iso
from bot.store import repo
from tests.schedule_support import Harness, local, seed_due_nudge
from tests.test_transcript import Chat

CPH = "Europe/Copenhagen"
SUNDAY_NOON = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
MONDAY_0830 = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)


def stamps(h: Harness) -> list[str]:
    """Local send times of weekly nudges."""
    return [local(s.at, CPH).strftime("%a %d %H:%M") for s in h.headers()]


async def reopen(h: Harness, at: datetime) -> Harness:
    """Close the bot and start it again later on the same file (same outbox: one phone)."""
    await h.close()
    h.clock.set(at)
    again = await Harness.open(h.core.settings.database_path, h.clock, h.outbox)
    await again.run()
    return again


async def test_schedules_survive_closing_and_reopening(tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(SUNDAY_NOON))
    await h.command(1, "start")
    await h.command(1, "settings", "followup 10:00")
    before = [(r.kind, r.due_at, r.status) for r in await h.rows(1)]
    h = await reopen(h, SUNDAY_NOON + timedelta(hours=1))
    assert [(r.kind, r.due_at, r.status) for r in await h.rows(1)] == before
    assert before == [("nudge", iso(MONDAY_0830), "pending")]
    await h.step_until(datetime(2026, 12, 1, tzinfo=UTC))
    assert stamps(h) == ["Mon 30 08:30"]
    await h.close()


async def test_a_nudge_due_during_downtime_is_sent_once_within_the_grace(tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(SUNDAY_NOON))
    await h.command(1, "start")
    h = await reopen(h, datetime(2026, 11, 30, 14, 0, tzinfo=UTC))  # down 08:30-15:00 local
    assert stamps(h) == ["Mon 30 15:00"]
    h = await reopen(h, datetime(2026, 11, 30, 15, 0, tzinfo=UTC))  # and restarted again
    await h.step_until(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert stamps(h) == ["Mon 30 15:00"]
    await h.close()


async def test_a_nudge_due_longer_ago_than_the_grace_is_recorded_as_missed(
        tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(SUNDAY_NOON))
    await h.command(1, "start")
    h = await reopen(h, datetime(2026, 11, 30, 19, 45, tzinfo=UTC))  # 12 h 15 min late
    assert h.outbox.sent == []
    missed = [r for r in await h.rows(1) if r.kind == "nudge"][0]
    assert missed.status == "missed"
    await h.step_until(datetime(2026, 12, 8, tzinfo=UTC), timedelta(minutes=15))
    assert stamps(h) == ["Mon 07 08:30"]  # the week after comes as usual
    await h.close()


async def test_the_grace_is_configurable(tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(SUNDAY_NOON), grace=timedelta(hours=1))
    await h.command(1, "start")
    await h.close()
    h.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # 10:00 local, 90 minutes late
    h = await Harness.open(h.core.settings.database_path, h.clock, h.outbox,
                           grace=timedelta(hours=1))
    await h.run()
    assert h.outbox.sent == []
    await h.close()


async def test_a_crash_between_sending_and_recording_never_sends_twice(tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(SUNDAY_NOON))
    await h.command(1, "start")

    async def crash(row_id: int, error: BaseException | None) -> None:
        """The process dies after the channel accepted the message, before 'sent' is stored."""
        raise SystemError("killed")

    h.dispatcher.pacer.finish = crash
    await h.step_until(MONDAY_0830)
    assert stamps(h) == ["Mon 30 08:30"]
    [nudge] = [r for r in await h.rows(1) if r.kind == "nudge" and r.status != "pending"]
    assert nudge.status == "sending"
    h = await reopen(h, MONDAY_0830 + timedelta(minutes=30))
    [nudge] = [r for r in await h.rows(1) if r.id == nudge.id]
    assert nudge.status == "unconfirmed"
    await h.step_until(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    assert stamps(h) == ["Mon 30 08:30", "Mon 07 08:30"]
    await h.close()


async def test_a_failed_delivery_is_recorded_and_not_retried(tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(SUNDAY_NOON))
    await h.command(1, "start")
    h.outbox.fail = True
    await h.step_until(MONDAY_0830)
    h.outbox.fail = False
    await h.step_until(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert h.outbox.sent == []  # no retry, and the reminder of an unseen nudge is dropped
    rows = {r.kind: (r.status, r.note) for r in await h.rows(1) if r.status != "pending"}
    assert rows["nudge"] == ("failed", "delivery failed: ConnectionError")
    assert rows["reminder"] == ("cancelled", "nudge not delivered")
    assert await repo.load_session(h.core.store.conn, "tg:1") is None
    await h.close()


async def test_the_terminal_chat_shows_a_due_nudge_once(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    await seed_due_nudge(db, "console:local", "console")
    chat = Chat(db)
    header = "Det er tid til din ugentlige refleksion"
    shown = chat.expect("Ugens refleksion ·")
    assert header in shown
    chat.say("/quit")
    assert chat.proc.wait(timeout=60) == 0
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status FROM schedules WHERE kind = 'nudge' "
                            "ORDER BY id").fetchall()
    assert rows == [("sent",), ("pending",)]  # sent once; next week's is planned


async def test_a_row_that_cannot_be_prepared_fails_once_and_others_still_go(
        tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(SUNDAY_NOON))
    await h.command(1, "start")
    await h.command(2, "start")
    real_start = h.service.start_in
    calls = []

    async def broken_for_leader_1(tx, leader, *args, **kwargs):  # type: ignore[no-untyped-def]
        """A conversation that cannot render for one leader."""
        calls.append(leader.leader_id)
        if leader.leader_id == "tg:1":
            raise RuntimeError("template broke")
        return await real_start(tx, leader, *args, **kwargs)

    h.service.start_in = broken_for_leader_1  # type: ignore[method-assign]
    await h.step_until(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert [s.chat for s in h.headers()] == ["2"]
    assert calls.count("tg:1") == 1  # not retried on every tick
    [failed] = [r for r in await h.rows(1) if r.status == "failed"]
    assert failed.note == "could not prepare: RuntimeError"
    assert [r.due_at for r in await h.rows(1) if r.status == "pending"] == [
        iso(datetime(2026, 12, 7, 7, 30, tzinfo=UTC))]  # next week's is planned all the same
    await h.close()
