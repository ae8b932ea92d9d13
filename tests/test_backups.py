"""Backups an operator can trust: scheduled inside the bot, checked, rotated; restores refuse
an unsound or newer file and a running bot, and round-trip the data."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot import backups, cli, metrics
from bot.clock import ManualClock, iso
from bot.health import Heartbeat, heartbeat_path
from bot.store.db import migrations
from tests.history_helpers import ALICE, BOB, NOW, make_core
from tests.tgkit import until


async def seeded(tmp_path: Path, *who: object) -> Path:
    """A bot database in which the given leaders said /start."""
    core = await make_core(tmp_path)
    for person in who or (ALICE,):
        await core.service.handle_command(person, "start")  # type: ignore[arg-type]
    await core.close()
    return tmp_path / "bot.db"


def leaders(db: Path) -> list[str]:
    """The leader ids in a database file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:  # closed now, not at the next gc
        return [r[0] for r in conn.execute("SELECT leader_id FROM leaders ORDER BY leader_id")]


def set_aside(folder: Path) -> list[Path]:
    """The databases a restore kept beside the one it replaced."""
    return sorted(folder.glob("bot.db.before-restore-*"))


def wal_left(db: Path) -> bool:
    """Whether a non-empty write-ahead log sits beside the database."""
    wal = db.with_name(db.name + "-wal")
    return wal.exists() and wal.stat().st_size > 0


def sample(name: str, labels: dict[str, str]) -> float:
    """A metric's current value (0 when never recorded)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_backup_is_checked_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    db = await seeded(tmp_path)
    folder = tmp_path / "backups"
    before = sample("tillidsbot_backups_total", {"result": "ok"})
    taken = [backups.take_backup(db, folder, 3, NOW + timedelta(hours=h)) for h in range(5)]
    assert [p.name for p in backups.backups_in(folder)] == [p.name for p in taken[-3:]]
    assert taken[-1].name == "tillidsbot-20261123T130000Z.db"
    for path in backups.backups_in(folder):
        assert backups.check_file(path) == backups.Check("ok", migrations()[-1][0])
        assert leaders(path) == ["tg:42"]
        assert path.stat().st_mode & 0o077 == 0  # the leaders' words: owner-only
    assert sample("tillidsbot_backups_total", {"result": "ok"}) == before + 5
    assert sample("tillidsbot_backup_last_success_timestamp_seconds", {}) == (
        NOW + timedelta(hours=4)).timestamp()


async def test_a_copy_that_fails_its_check_is_set_aside_and_rotates_nothing_away(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = await seeded(tmp_path)
    folder = tmp_path / "backups"
    good = backups.take_backup(db, folder, 1, NOW)

    def damaged_copy(source: Path, target: Path) -> str:
        """A copy whose check reports damage (as SQLite words it)."""
        target.write_bytes(b"damaged")
        return "*** in database main ***\nPage 3: btreeInitPage() returns error code 11"

    monkeypatch.setattr(backups, "backup_database", damaged_copy)
    with pytest.raises(backups.BackupError, match="failed its integrity check"):
        backups.take_backup(db, folder, 1, NOW + timedelta(hours=1))
    assert backups.backups_in(folder) == [good]  # the last sound copy is still there
    assert [p.name for p in folder.glob("*.failed")] == ["tillidsbot-20261123T100000Z.db.failed"]


async def test_the_bot_takes_backups_on_its_own_scheduler(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    # The scheduler runs on real time: a clock at the real now makes the first backup due now.
    clock = ManualClock(datetime.now(UTC))
    core = await make_core(tmp_path, clock, backup_dir=folder, backup_keep=2,
                           backup_interval_hours=6)
    core.start_housekeeping()
    assert core.scheduler.running
    job = core.scheduler.get_job(backups.JOB_ID)
    assert job is not None and isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == timedelta(hours=6)
    assert job.func is backups.scheduled_backup
    await until(lambda: backups.backups_in(folder), what="the scheduled backup")
    await core.close()
    [copy] = backups.backups_in(folder)
    assert copy.name == backups.backup_name(clock.now())
    assert backups.check_file(copy).sound and leaders(copy) == []
    assert not core.scheduler.running


async def test_the_first_scheduled_backup_waits_for_the_newest_to_age(tmp_path: Path) -> None:
    db = await seeded(tmp_path)
    folder = tmp_path / "backups"
    clock = ManualClock(NOW)
    fresh = backups.take_backup(db, folder, 5, NOW)
    os.utime(fresh, (NOW.timestamp(), NOW.timestamp()))
    scheduler = AsyncIOScheduler(timezone="UTC")
    clock.advance(timedelta(hours=2))
    assert backups.schedule_backups(scheduler, db, folder, 5, timedelta(hours=24), clock)
    job = scheduler.get_job(backups.JOB_ID)
    assert job is not None and job.next_run_time == NOW + timedelta(hours=24)
    old = NOW - timedelta(days=3)
    os.utime(fresh, (old.timestamp(), old.timestamp()))
    scheduler = AsyncIOScheduler(timezone="UTC")
    backups.schedule_backups(scheduler, db, folder, 5, timedelta(hours=24), clock)
    job = scheduler.get_job(backups.JOB_ID)
    assert job is not None and job.next_run_time == clock.now()
    assert not backups.schedule_backups(scheduler, db, None, 5, timedelta(hours=24), clock)


async def test_backup_and_restore_round_trip(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = await seeded(tmp_path, ALICE)
    folder = tmp_path / "backups"
    env_db = ["--db", str(db)]
    os.environ["BACKUP_DIR"] = str(folder)
    try:
        assert await asyncio.to_thread(cli.main, [*env_db, "backup"]) == 0
    finally:
        del os.environ["BACKUP_DIR"]
    [copy] = backups.backups_in(folder)
    core = await make_core(tmp_path)  # the bot runs on: Bob arrives after the backup
    await core.service.handle_command(BOB, "start")
    await core.close()
    assert leaders(db) == ["tg:42", "tg:7"]
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, [*env_db, "restore", str(copy)]) == 0
    out = capsys.readouterr().out
    assert f"restored {copy} to {db} (integrity check: ok, schema {migrations()[-1][0]})" in out
    assert leaders(db) == ["tg:42"]
    [kept] = set_aside(tmp_path)
    assert leaders(kept) == ["tg:42", "tg:7"]  # nothing is lost by a restore
    assert not wal_left(db)
    core = await make_core(tmp_path)  # and the bot starts on the restored file
    await core.close()


async def test_restore_refuses_a_damaged_file(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = await seeded(tmp_path)
    copy = backups.take_backup(db, tmp_path / "backups", 3, NOW)
    data = bytearray(copy.read_bytes())
    page = 4096
    data[page * 2: page * 2 + 200] = b"\xff" * 200  # scribble over a table's page
    copy.write_bytes(bytes(data))
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a database at all")
    for bad in (copy, garbage):
        assert backups.check_file(bad).sound is False
        assert await asyncio.to_thread(cli.main, ["--db", str(db), "restore", str(bad)]) == 1
        assert "restore refused:" in capsys.readouterr().err
    assert leaders(db) == ["tg:42"] and not set_aside(tmp_path)


async def test_restore_refuses_a_newer_schema(tmp_path: Path) -> None:
    db = await seeded(tmp_path)
    copy = backups.take_backup(db, tmp_path / "backups", 3, NOW)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        conn.execute(f"PRAGMA user_version = {migrations()[-1][0] + 1}")
    with pytest.raises(backups.BackupError, match="newer than this version's"):
        backups.restore(copy, db, NOW)


async def test_restore_waits_for_the_bot_to_stop(tmp_path: Path) -> None:
    db = await seeded(tmp_path)
    copy = backups.take_backup(db, tmp_path / "backups", 3, NOW)
    beat = Heartbeat("telegram", "tg:", 4242, iso(NOW), iso(NOW))
    beat.save(heartbeat_path(db))
    with pytest.raises(backups.BackupError, match=r"the bot is running .*pid 4242.*stop it"):
        backups.restore(copy, db, NOW + timedelta(seconds=30))
    assert backups.restore(copy, db, NOW + timedelta(hours=1)) is not None  # killed long ago
    beat.stopped_at = iso(NOW)
    beat.save(heartbeat_path(db))
    assert backups.restore(copy, db, NOW + timedelta(seconds=30)) is not None  # stopped


async def test_restore_refuses_a_database_another_process_has_open(tmp_path: Path) -> None:
    db = await seeded(tmp_path)
    copy = backups.take_backup(db, tmp_path / "backups", 3, NOW)
    core = await make_core(tmp_path)  # a bot starting up: the file open, no heartbeat yet
    try:
        with pytest.raises(backups.BackupError, match="another process"):
            await asyncio.to_thread(backups.restore, copy, db, NOW)
        assert leaders(db) == ["tg:42"] and not set_aside(tmp_path)
    finally:
        await core.close()
    assert await asyncio.to_thread(backups.restore, copy, db, NOW) is not None
