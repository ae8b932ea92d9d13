"""Every file the bot writes about leaders or members is its owner's only: the database and its
-wal/-shm, backups, the team salt, the heartbeat, and the folders the bot creates for them."""

from __future__ import annotations

import os
from pathlib import Path

from bot.config import Settings
from bot.store.backup import backup_database
from bot.store.db import Store
from bot.team.secret import load_secret, secret_path


def mode(path: Path) -> int:
    """Permission bits."""
    return path.stat().st_mode & 0o777


async def test_a_fresh_database_backup_and_salt_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a typical umask: group and others may read what is not guarded
    try:
        db = tmp_path / "new" / "data" / "bot.db"
        store = await Store.open(db)
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO invites (code, uses, created_at) VALUES ('c', 0, 'x')")
        load_secret(Settings(database_path=db))
        for path in (db, db.with_name("bot.db-wal"), db.with_name("bot.db-shm"),
                     secret_path(db)):
            assert mode(path) == 0o600, path
        assert mode(db.parent) == 0o700
        target = tmp_path / "backups" / "2026" / "bot-backup.db"
        assert backup_database(db, target) == "ok"
        await store.close()
        assert mode(target) == 0o600
        assert mode(target.parent) == 0o700
        assert not secret_path(target).exists()  # the salt stays apart from copies
    finally:
        os.umask(old)
