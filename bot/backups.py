"""Backups an operator can trust: taken on a schedule inside the bot, checked, rotated, and
restored only from a sound file into a stopped bot.

BACKUP_DIR turns the scheduled backup on: every BACKUP_INTERVAL_HOURS (and at start when the
newest backup is older than that) the live database is copied with SQLite's online backup API
into `tillidsbot-<UTC time>.db`, the copy is checked with PRAGMA integrity_check, and only the
newest BACKUP_KEEP sound copies are kept. A copy that fails its check is renamed `.failed` and
never counts as one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot import metrics
from bot.clock import Clock
from bot.health import MAX_SILENCE, Heartbeat, heartbeat_path
from bot.private_files import private_dir
from bot.store.backup import backup_database
from bot.store.db import migrations

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

JOB_ID = "tillidsbot-backup"
PREFIX = "tillidsbot-"
SUFFIX = ".db"


class BackupError(Exception):
    """A backup could not be taken or a file cannot be restored (one line for the operator)."""


@dataclass(frozen=True)
class Check:
    """What a database file says about itself."""

    integrity: str  # 'ok' or SQLite's first complaint
    schema: int

    @property
    def sound(self) -> bool:
        """Passed PRAGMA integrity_check."""
        return self.integrity == "ok"


def backup_name(now: datetime) -> str:
    """A file name that sorts by time: tillidsbot-20270329T031500Z.db."""
    return f"{PREFIX}{now.astimezone(UTC):%Y%m%dT%H%M%SZ}{SUFFIX}"


def backups_in(folder: Path) -> list[Path]:
    """The sound backups in a folder, oldest first (failed ones end in .failed)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX) and p.is_file())


def take_backup(database: Path, folder: Path, keep: int, now: datetime) -> Path:
    """Copy the database into the folder, check it, and rotate; return the new copy.

    Raises BackupError when the copy fails its integrity check (the bad copy is kept as
    `.failed` for a look, and no older sound copy is deleted for it).
    """
    private_dir(folder)
    target = folder / backup_name(now)
    try:
        check = backup_database(database, target)
    except (OSError, sqlite3.Error) as exc:
        metrics.backup_done("error")
        raise BackupError(f"backup failed: {exc}") from exc
    if check != "ok":
        failed = target.with_name(target.name + ".failed")
        os.replace(target, failed)
        metrics.backup_done("failed_check")
        raise BackupError(f"the backup {failed.name} failed its integrity check: {check}")
    removed = rotate(folder, keep)
    metrics.backup_done("ok", size=target.stat().st_size, at=now)
    log.info("backup written to %s (integrity ok; %d old backups removed)", target.name,
             len(removed))
    return target


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` sound backups; return what was deleted."""
    found = backups_in(folder)
    old = found[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


def check_file(path: Path) -> Check:
    """Open a file read-only and ask SQLite whether it is sound, and which schema it has."""
    if not path.is_file():
        raise BackupError(f"no file at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
            schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return Check(f"not a readable SQLite database ({exc})", 0)
    return Check(integrity, schema)


def running_bot(database: Path, now: datetime) -> Heartbeat | None:
    """The heartbeat of a bot that is running on this database, if one is."""
    beat = Heartbeat.load(heartbeat_path(database))
    if beat is None or beat.stopped_at:
        return None
    if now - datetime.fromisoformat(beat.at) > MAX_SILENCE:
        return None  # killed or long hung: it writes nothing any more
    return beat


def restore(source: Path, database: Path, now: datetime) -> Path | None:
    """Replace the database with a checked backup; return where the old database was kept.

    Refuses (BackupError) a file that fails its integrity check or has a schema newer than this
    version knows, and refuses while the bot is running (its heartbeat is fresh). The current
    database is kept beside it as `<name>.before-restore-<time>`; its -wal and -shm companions
    are folded in first so nothing of it is lost, and none are left to mix with the restored file.
    """
    check = check_file(source)
    if not check.sound:
        raise BackupError(f"{source} failed its integrity check: {check.integrity}")
    latest = migrations()[-1][0]
    if check.schema > latest:
        raise BackupError(f"{source} has database schema {check.schema}, newer than this "
                          f"version's {latest}: restore it with the version that wrote it")
    beat = running_bot(database, now)
    if beat is not None:
        raise BackupError(f"the bot is running on {database} (pid {beat.pid}, last heartbeat "
                          f"{beat.at}); stop it first, then restore")
    kept = None
    if database.is_file():
        _fold_wal(database)
        kept = database.with_name(f"{database.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
        os.replace(database, kept)
    # Written beside the database and renamed into place: never a half-restored file.
    copied = backup_database(source, database)
    if copied != "ok":  # the source was sound a moment ago; still, never restore silently
        raise BackupError(f"the restored copy failed its integrity check: {copied}")
    return kept


def _fold_wal(database: Path) -> None:
    """Checkpoint a stopped bot's write-ahead log into its file and remove -wal and -shm.

    Leaving WAL mode needs the only connection to the file, so this is also the lock: a
    process that has the database open (a bot starting up, before its first heartbeat; a
    `tillidsbot` command) keeps it in WAL mode, and the restore is refused.
    """
    with contextlib.closing(sqlite3.connect(str(database), timeout=1)) as conn:
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            mode = str(conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0])
        except sqlite3.OperationalError as exc:
            raise BackupError(f"{database} is in use by another process ({exc}); stop the "
                              "bot first, then restore") from exc
    if mode.lower() != "delete":
        raise BackupError(f"{database} is open in another process (a bot starting, or a "
                          "tillidsbot command); stop it first, then restore")
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


async def scheduled_backup(database: Path, folder: Path, keep: int, clock: Clock) -> None:
    """The job: one backup in a thread; a failure is logged, never raised into the scheduler."""
    try:
        await asyncio.to_thread(take_backup, database, folder, keep, clock.now())
    except BackupError as exc:
        log.error("%s", exc)


def schedule_backups(scheduler: BaseScheduler, database: Path, folder: Path | None,
                     keep: int, interval: timedelta, clock: Clock) -> bool:
    """Add the backup job to the bot's scheduler (none without BACKUP_DIR); the first run is
    now when the newest backup is older than the interval. Returns whether a job was added."""
    if folder is None or str(database) == ":memory:":
        return False
    newest = backups_in(folder)[-1:] if folder.is_dir() else []
    now = clock.now()
    first = now
    if newest:
        taken = datetime.fromtimestamp(newest[0].stat().st_mtime, UTC)
        first = max(now, taken + interval)
    scheduler.add_job(scheduled_backup, IntervalTrigger(seconds=interval.total_seconds()),
                      args=(database, folder, keep, clock), id=JOB_ID, name="database backup",
                      replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=int(interval.total_seconds()), next_run_time=first)
    return True


def add_backup_job(scheduler: BaseScheduler, settings: Settings, clock: Clock) -> bool:
    """The bot's scheduled backup from its settings (BACKUP_DIR, BACKUP_KEEP,
    BACKUP_INTERVAL_HOURS): the one call a scheduler needs."""
    return schedule_backups(scheduler, settings.database_path, settings.backup_dir,
                            settings.backup_keep, timedelta(hours=settings.backup_interval_hours),
                            clock)
