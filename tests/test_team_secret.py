"""The team salt: created whole or not at all, owner-only, never too short to protect the hashes."""

from __future__ import annotations

import errno
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.config import Settings
from bot.team.secret import load_secret, secret_path


def mode(path: Path) -> int:
    """Permission bits."""
    return path.stat().st_mode & 0o777


# ---- T3: two first starts at the same moment -----------------------------------------------


def test_processes_starting_together_all_use_the_first_ones_salt(tmp_path: Path) -> None:
    """Two (here eight) first starts at once: none crashes, none reads a half-written file,
    and all key their hashes with the one salt that ends up on disk."""
    workers = 8
    for attempt in range(20):
        db = tmp_path / f"run{attempt}" / "bot.db"
        barrier = threading.Barrier(workers)

        def start(db: Path = db, barrier: threading.Barrier = barrier) -> bytes:
            barrier.wait()
            return load_secret(Settings(database_path=db))

        with ThreadPoolExecutor(workers) as pool:
            salts = list(pool.map(lambda _: start(), range(workers)))
        assert len(set(salts)) == 1 and len(salts[0]) == 32
        assert secret_path(db).read_bytes() == salts[0]
        assert mode(secret_path(db)) == 0o600
        assert sorted(p.name for p in db.parent.iterdir()) == ["bot.db.team-salt"]


def test_the_second_start_reads_the_salt_the_first_one_just_wrote(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other process wins in the instant between our look and our write."""
    db = tmp_path / "bot.db"
    theirs = os.urandom(32)
    real_link = os.link

    def first_one_wins(src: str, dst: str) -> None:
        Path(dst).write_bytes(theirs)
        os.chmod(dst, 0o600)
        real_link(src, dst)

    monkeypatch.setattr(os, "link", first_one_wins)
    assert load_secret(Settings(database_path=db)) == theirs
    assert secret_path(db).read_bytes() == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.db.team-salt"]


def test_a_file_system_without_hard_links_still_gets_a_whole_salt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: str, dst: str) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    db = tmp_path / "bot.db"
    salt = load_secret(Settings(database_path=db))
    assert len(salt) == 32 and secret_path(db).read_bytes() == salt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.db.team-salt"]
