"""The team salt: created whole or not at all, owner-only, never too short to protect the hashes."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.team.secret import MIN_SECRET_BYTES, load_secret, secret_path
from tests.conftest import ROOT

TOKEN = "123456789:" + "A" * 35


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


# ---- T1: all or nothing, and never too short ------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"0123456789abcde"])
def test_a_salt_file_too_short_is_refused_not_used(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "bot.db"
    secret_path(db).write_bytes(content)
    os.chmod(secret_path(db), 0o600)
    with pytest.raises(ConfigError) as raised:
        load_secret(Settings(database_path=db))
    message = str(raised.value)
    assert str(secret_path(db)) in message and f"at least {MIN_SECRET_BYTES}" in message
    assert secret_path(db).read_bytes() == content  # left for the operator to look at


def test_a_salt_file_of_the_minimum_length_is_used(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    content = secrets.token_bytes(MIN_SECRET_BYTES)
    secret_path(db).write_bytes(content)
    os.chmod(secret_path(db), 0o600)
    assert load_secret(Settings(database_path=db)) == content


def test_a_short_team_salt_setting_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env={"TILLIDSBOT_TEAM_SALT": "kort-salt-42"})
    message = str(raised.value)
    assert "TILLIDSBOT_TEAM_SALT" in message and "at least 16" in message
    assert "kort-salt-42" not in message
    settings = load_settings(env={"TILLIDSBOT_TEAM_SALT": "x" * 16})
    assert load_secret(settings) == b"x" * 16


@pytest.mark.parametrize("fail", ["generating", "syncing"])
def test_a_start_interrupted_while_creating_the_salt_leaves_no_salt_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: str) -> None:
    """A crash between creating the file and writing it must not leave an empty salt behind."""
    db = tmp_path / "bot.db"

    def crash(*args: object) -> object:
        raise OSError("the process died here")

    with monkeypatch.context() as patch:
        if fail == "generating":
            patch.setattr(secrets, "token_bytes", crash)
        else:
            patch.setattr(os, "fsync", crash)
        with pytest.raises(OSError):
            load_secret(Settings(database_path=db))
    assert not secret_path(db).exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing half-written left beside it
    salt = load_secret(Settings(database_path=db))  # the next start creates a whole one
    assert len(salt) == 32 and secret_path(db).read_bytes() == salt
    assert mode(secret_path(db)) == 0o600


def test_the_cli_refuses_an_empty_salt_file_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    secret_path(db).write_bytes(b"")
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TILLIDSBOT_DB": str(db),
           "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot"}
    env.pop("TILLIDSBOT_TEAM_SALT", None)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith("tillidsbot: ") and str(secret_path(db)) in lines[-1]


# ---- T2: a salt file others can read --------------------------------------------------------


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o666])
def test_a_salt_file_others_can_read_is_made_owner_only_with_a_warning(
        tmp_path: Path, loose: int, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bot.db"
    salt = secrets.token_bytes(32)
    secret_path(db).write_bytes(salt)
    os.chmod(secret_path(db), loose)
    with caplog.at_level(logging.DEBUG):
        assert load_secret(Settings(database_path=db)) == salt
    assert mode(secret_path(db)) == 0o600
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "0600" in warnings[0].getMessage()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert salt.hex() not in logged and repr(salt) not in logged
    caplog.clear()
    load_secret(Settings(database_path=db))  # owner-only now: nothing more to say
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
