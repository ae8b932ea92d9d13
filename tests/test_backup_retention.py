"""Operator backup while the bot writes, and RETENTION_DAYS at start-up and daily."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot import cli
from bot.clock import ManualClock, iso
from bot.dialogue.state import TextInput
from bot.features import retention
from bot.service import Who
from bot.store import repo
from bot.store.backup import backup_database
from tests.history_helpers import ALICE, NOW, make_core, seed_thread


async def test_backup_while_conversations_are_written(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    stop = asyncio.Event()
    steps = 0

    async def chatter() -> None:
        """Many leaders start conversations and answer, each step its own transaction."""
        nonlocal steps
        n = 0
        while not stop.is_set():
            who = Who(leader_id=f"tg:{1000 + n}", chat_id=str(1000 + n), language_code="da")
            await core.service.handle_command(who, "delegate")
            await core.service.handle_input(who, TextInput(text="Vagtplanen " * 50))
            await core.service.handle_input(who, TextInput(text="Mere tid hos borgerne"))
            n += 1
            steps += 3

    writer = asyncio.create_task(chatter())
    await asyncio.sleep(0.05)
    copies = []
    for i in range(3):
        target = tmp_path / "backups" / f"copy-{i}.db"
        check = await asyncio.to_thread(backup_database, tmp_path / "bot.db", target)
        assert check == "ok"
        copies.append(target)
    stop.set()
    await writer
    assert steps > 0
    for target in copies:
        conn = sqlite3.connect(target)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # Each step is one transaction: a copied session always has its thread and answers.
        orphans = conn.execute("SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 "
                               "FROM threads t WHERE t.leader_id = s.leader_id AND "
                               "t.status = 'active')").fetchone()[0]
        assert orphans == 0
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        conn.close()
        assert not await asyncio.to_thread(Path(str(target) + "-wal").exists)
    await core.close()


async def test_backup_command(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    core = await make_core(tmp_path)
    await core.service.handle_command(ALICE, "delegate")
    target = tmp_path / "out" / "copy.db"
    code = await asyncio.to_thread(cli.main, ["--db", str(tmp_path / "bot.db"), "backup",
                                              str(target)])
    assert code == 0 and "integrity check: ok" in capsys.readouterr().out
    # Leaders' words: the live database and the copy are for their owner's eyes only.
    assert (tmp_path / "bot.db").stat().st_mode & 0o777 == 0o600
    assert target.stat().st_mode & 0o777 == 0o600
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
    conn.close()
    missing = await asyncio.to_thread(cli.main, ["--db", str(tmp_path / "nope.db"), "backup",
                                                 str(tmp_path / "x.db")])
    assert missing == 1
    await core.close()


async def seed_ages(core) -> None:  # type: ignore[no-untyped-def]
    """Old and recent history, an old thread with a pending follow-up, an old active one."""
    async with core.store.transaction() as tx:
        await seed_thread(tx, ALICE.leader_id, "old", "delegation", NOW - timedelta(days=100),
                          summary="gammel", answers={"task": "gammel opgave"})
        for days in (102, 95):  # two sent nudges: the latest stays as the scheduler's guard
            sid = await repo.add_schedule(tx, ALICE.leader_id, "nudge",
                                          iso(NOW - timedelta(days=days)),
                                          iso(NOW - timedelta(days=days)))
            await tx.execute("UPDATE schedules SET status = 'sent' WHERE id = ?", (sid,))
        await seed_thread(tx, ALICE.leader_id, "recent", "delegation", NOW - timedelta(days=5),
                          summary="ny", answers={"task": "ny opgave"})
        await seed_thread(tx, ALICE.leader_id, "waiting", "delegation",
                          NOW - timedelta(days=100), summary="venter", answers={"task": "x"})
        await repo.add_schedule(tx, ALICE.leader_id, "followup", iso(NOW + timedelta(days=3)),
                                iso(NOW - timedelta(days=100)), thread="waiting")
        await seed_thread(tx, ALICE.leader_id, "open", "delegation", NOW - timedelta(days=100),
                          answers={"task": "i gang"}, status="active")


def thread_ids(db: Path) -> set[str]:
    """Threads left in the database."""
    conn = sqlite3.connect(db)
    found = {r[0] for r in conn.execute("SELECT thread FROM threads")}
    conn.close()
    return found


async def test_retention_deletes_only_old_history(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    core = await make_core(tmp_path, clock)
    await seed_ages(core)
    assert await retention.run_retention(core.store, clock, None) is None  # unset: keep all
    assert thread_ids(tmp_path / "bot.db") == {"old", "recent", "waiting", "open"}
    result = await retention.run_retention(core.store, clock, 30)
    assert result is not None and (result.threads, result.answers, result.schedules) == (1, 1, 1)
    assert thread_ids(tmp_path / "bot.db") == {"recent", "waiting", "open"}
    conn = sqlite3.connect(tmp_path / "bot.db")
    answers = {r[0] for r in conn.execute("SELECT thread FROM answers")}
    assert answers == {"recent", "waiting", "open"}
    assert conn.execute("SELECT count(*) FROM leaders").fetchone()[0] == 1  # profile stays
    nudges = [r[0] for r in conn.execute("SELECT due_at FROM schedules WHERE kind = 'nudge'")]
    assert nudges == [iso(NOW - timedelta(days=95))]
    conn.close()
    clock.advance(timedelta(days=26))  # the next days' runs catch "recent" once it is old
    result = await retention.run_retention(core.store, clock, 30)
    assert result is not None and result.threads == 1
    assert thread_ids(tmp_path / "bot.db") == {"waiting", "open"}
    await core.close()


async def test_retention_runs_at_start_up_and_is_scheduled_daily(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_ages(core)
    await core.close()
    core = await make_core(tmp_path, retention_days=30)  # start-up applies it
    assert "old" not in thread_ids(tmp_path / "bot.db")
    scheduler = AsyncIOScheduler(timezone="UTC")
    retention.schedule_retention(scheduler, core.store, core.clock, 30)
    job = scheduler.get_job(retention.JOB_ID)
    assert job is not None and isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == timedelta(days=1)
    assert job.func is retention.run_retention
    core.start_housekeeping()
    assert core.scheduler.running
    assert core.scheduler.get_job(retention.JOB_ID) is not None
    await core.close()
    assert not core.scheduler.running


async def test_history_deleted_by_retention_leaves_no_copy_on_disk(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    core = await make_core(tmp_path, clock)
    await seed_ages(core)
    db = tmp_path / "bot.db"
    wal = db.with_name("bot.db-wal")

    def on_disk() -> bytes:
        return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    def stored(thread: str) -> bytes:
        """The answer as it sits in the file: sealed, so its bytes are what to look for."""
        conn = sqlite3.connect(db)
        try:
            return bytes(conn.execute("SELECT value FROM answers WHERE thread = ?",
                                      (thread,)).fetchone()[0])
        finally:
            conn.close()

    old, new = stored("old"), stored("recent")
    assert b"gammel opgave" not in on_disk()  # encrypted at rest, even before it is deleted
    assert old in on_disk()
    await retention.run_retention(core.store, clock, 30)
    assert old not in on_disk()
    assert new in on_disk()
    await core.close()
