"""A consistent copy of the live database through SQLite's online backup API."""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path

from bot.private_files import create_private, private_dir

BUSY_MS = 5000


def backup_database(source: Path, target: Path) -> str:
    """Copy source to target while the bot may be writing; return the copy's integrity check.

    The whole copy is one backup step under one read transaction, so it is a snapshot of a
    single committed moment (WAL lets the bot keep writing meanwhile). It is written next to
    the target and renamed into place, so a half-written file never appears under that name.
    """
    if not source.is_file():
        raise FileNotFoundError(f"no database at {source}")
    private_dir(target.parent)  # a folder the backup creates is its owner's only (0700)
    # A name of its own, so two backups to one target at once (the schedule and an operator)
    # never write into the same unfinished file; the last rename wins, both are whole.
    partial = target.with_name(f"{target.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    create_private(partial)  # an empty file is an empty database to SQLite; the copy keeps 0600
    try:
        check = _copy(source, partial)
    except BaseException:
        partial.unlink(missing_ok=True)  # a failed copy leaves nothing behind
        raise
    os.replace(partial, target)
    return check


def _copy(source: Path, partial: Path) -> str:
    """The online backup into an empty file; return its integrity check."""
    src = sqlite3.connect(str(source), timeout=BUSY_MS / 1000)
    try:
        dst = sqlite3.connect(str(partial))
        try:
            src.backup(dst, pages=-1)
            # A standalone copy: one file, no -wal/-shm companions needed.
            dst.execute("PRAGMA journal_mode=DELETE")
            return str(dst.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()
