"""The migration runner: statements split where SQLite says they end, one transaction per file,
the schema version checked again under the write lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import bot.store.db as db
from bot.store.db import Store, StoreError, migrations

TRICKY = """-- a comment; with a semicolon
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL DEFAULT 'a;b');
CREATE TABLE log (what TEXT);
/* a block comment; also with one */
CREATE TRIGGER notes_logged AFTER INSERT ON notes BEGIN
    INSERT INTO log (what) VALUES ('inserted; once');
END;
INSERT INTO notes (body) VALUES ('semi;colon inside');
INSERT INTO notes DEFAULT VALUES
"""


def _with(extra: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The shipped migrations followed by test ones."""
    return [*migrations(), *extra]


async def test_semicolons_in_strings_comments_and_triggers_do_not_split_a_statement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    latest = migrations()[-1][0]
    monkeypatch.setattr(db, "migrations", lambda: _with([(latest + 1, TRICKY)]))
    store = await Store.open(tmp_path / "bot.db")
    await store.close()
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest + 1
        assert [r[0] for r in conn.execute("SELECT body FROM notes ORDER BY id")] == [
            "semi;colon inside", "a;b"]
        assert conn.execute("SELECT what FROM log").fetchall() == [("inserted; once",)] * 2


async def test_a_failing_migration_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await Store.open(tmp_path / "bot.db")
    await store.close()
    latest = migrations()[-1][0]
    broken = "CREATE TABLE half (x TEXT);\nINSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(db, "migrations", lambda: _with([(latest + 1, broken)]))
    with pytest.raises(StoreError, match="no_such_table"):
        await Store.open(tmp_path / "bot.db")
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'"
                            ).fetchone()[0] == 0


def test_the_splitter_drops_comment_only_pieces() -> None:
    assert db._statements("-- only a comment;\n;\n") == []
    assert db._statements("SELECT 1;\n-- trailing") == ["SELECT 1;"]
