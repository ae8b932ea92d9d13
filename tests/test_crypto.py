"""Encryption at rest: nothing a leader wrote is readable in the files, and /forget reaches
every earlier database backup through the key store (crypto-shredding)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.dialogue.state import OutMessage, TextInput
from bot.features import export
from bot.service import BotService, Who
from bot.store import crypto, repo, schedules
from bot.store import team as team_store
from bot.store.backup import backup_database
from bot.store.db import Store, migrations
from tests.history_helpers import make_core, press

ALICE = Who(leader_id="tg:4711", chat_id="4711", language_code="da")
BOB = Who(leader_id="tg:4712", chat_id="4712", language_code="da")
# Words that occur nowhere else: any copy of them in a file is a leak.
ALICE_WORDS = ("Zylofantvej", "Quorbixmødet", "Plimstrudsagen", "Varnokelteamet",
               "Tessebrask", "Mjuvlindrapport", "Oktrapil")
BOB_WORDS = ("Brenquastel", "Dwimmerlaks", "Fjulbrotten", "Gnarvikplan", "Hostrupvag",
             "Jinkelbo", "Krovnatte")
LONG_KEY = "k" * 40


async def delegation(service: BotService, who: Who, words: tuple[str, ...],
                     finish: bool = True) -> list[OutMessage]:
    """The delegation check with every typed answer carrying one of the marker words."""
    out = await service.handle_command(who, "delegate")
    out = await service.handle_input(who, TextInput(text=f"Opgaven {words[0]} til teamet"))
    out = await service.handle_input(who, TextInput(text=f"Formålet er {words[1]}"))
    if not finish:
        return out
    for _ in range(3):
        out = await service.handle_input(who, press(out, "Ja"))
    out = await service.handle_input(who, TextInput(text=f"Succes er {words[2]}"))
    out = await service.handle_input(who, TextInput(text=f"Rammen er {words[3]}"))
    out = await service.handle_input(who, press(out, "Beslutter selv inden for rammerne"))
    out = await service.handle_input(who, TextInput(text=f"Min rolle: {words[4]}"))
    out = await service.handle_input(who, TextInput(text=f"Opfølgning: {words[5]}"))
    out = await service.handle_input(who, press(out, "3"))
    out = await service.handle_input(who, TextInput(text=f"Første skridt {words[6]}"))
    out = await service.handle_input(who, TextInput(text="15.12.2026"))
    assert any(m.kind == "summary" and words[0] in m.text for m in out)
    return out


def leaked(path: Path, words: tuple[str, ...]) -> list[str]:
    """The marker words found in a file's raw bytes (as UTF-8, and UTF-16 for good measure)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [w for w in words if w.encode() in data or w.encode("utf-16-le") in data]


async def texts_of(store: Store, leader_id: str) -> str:
    """Everything the store API yields of a leader's text, as one string to search."""
    async with store.transaction() as tx:
        threads = await repo.threads_of(tx, leader_id, status=None)
        return json.dumps({
            "answers": await repo.answers_of(tx, leader_id),
            "threads": [(t.headline, t.summary) for t in threads],
            "session": await repo.load_session(tx, leader_id),
            "schedules": await repo.schedules_of(tx, leader_id),
        }, ensure_ascii=False)


def key_id(db: Path, who: Who) -> bytes:
    """Which data key a leader's text in this database file is sealed under."""
    conn = sqlite3.connect(db)
    try:
        return bytes(conn.execute("SELECT key_id FROM data_keys WHERE owner = ?",
                                  (crypto.leader_owner(who.leader_id),)).fetchone()[0])
    finally:
        conn.close()


def mode(path: Path) -> int:
    """A file's permission bits."""
    return stat.S_IMODE(path.stat().st_mode)


async def test_no_marker_word_in_the_database_its_log_a_backup_or_the_key_store(
        tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await delegation(core.service, ALICE, ALICE_WORDS)
    await delegation(core.service, BOB, BOB_WORDS, finish=False)  # an open conversation
    db = tmp_path / "bot.db"
    wal = db.with_name("bot.db-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the log holds the latest pages
    backup = tmp_path / "backups" / "bot.db"
    assert backup_database(db, backup) == "ok"
    everything = ALICE_WORDS + BOB_WORDS
    for path in (db, wal, backup, crypto.key_store_path(db), crypto.master_key_path(db)):
        assert leaked(path, everything) == [], path
    # ...while the bot itself reads all of it back.
    alice = await texts_of(core.store, ALICE.leader_id)
    assert all(w in alice for w in ALICE_WORDS)
    bob = await texts_of(core.store, BOB.leader_id)
    assert all(w in bob for w in BOB_WORDS[:2])  # answers and the live conversation state
    async with core.store.transaction() as tx:
        followup = (await repo.pending_schedules(tx, ALICE.leader_id))[0]
    assert ALICE_WORDS[0] in followup["payload"]["context"]["task"]
    # The cells really are ciphertext, not merely encoded: BLOBs in every sealed column.
    conn = sqlite3.connect(backup)
    kinds = {r[0] for r in conn.execute(
        "SELECT typeof(value) FROM answers UNION SELECT typeof(state) FROM sessions "
        "UNION SELECT typeof(summary) FROM threads WHERE summary IS NOT NULL "
        "UNION SELECT typeof(headline) FROM threads WHERE headline IS NOT NULL "
        "UNION SELECT typeof(payload) FROM schedules WHERE kind = 'followup'")}
    conn.close()
    assert kinds == {"blob"}
    await core.close()
    assert leaked(db, everything) == [] and leaked(wal, everything) == []


@pytest.mark.parametrize("how", ["command", "cli"])
async def test_a_backup_from_before_forget_yields_nothing_of_the_forgotten_leader(
        tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    core = await make_core(tmp_path)
    await delegation(core.service, ALICE, ALICE_WORDS)
    await delegation(core.service, ALICE, ALICE_WORDS, finish=False)  # and one still open
    await delegation(core.service, BOB, BOB_WORDS)
    db = tmp_path / "bot.db"
    before = tmp_path / "backups" / "before.db"
    assert backup_database(db, before) == "ok"
    old = await Store.open(before, key_store=crypto.key_store_path(db))
    readable = await texts_of(old, ALICE.leader_id)
    assert all(w in readable for w in ALICE_WORDS)
    await old.close()

    if how == "command":
        out = await core.service.handle_command(ALICE, "forget")
        done = await core.service.handle_input(ALICE, press(out, "Ja, slet alt om mig"))
        assert done[0].text == core.service.ui("forget_done", "da")
        await core.close()
    else:
        await core.close()
        argv = ["--db", str(db), "forget", "--user", ALICE.leader_id, "--yes"]
        assert await asyncio.to_thread(cli.main, argv) == 0

    ring = crypto.open_keyring(db, create=False)
    assert not ring.has_key(key_id(before, ALICE))  # gone from the key store...
    assert ring.has_key(key_id(before, BOB))
    # The old backup still holds Alice's rows, but with the current key store none of her
    # text comes out: not through the store API, not through an export.
    old = await Store.open(before, key_store=crypto.key_store_path(db))
    alice = await texts_of(old, ALICE.leader_id)
    assert [w for w in ALICE_WORDS if w in alice] == []
    async with old.transaction() as tx:
        assert await repo.answers_of(tx, ALICE.leader_id) == []
        assert await repo.load_session(tx, ALICE.leader_id) is None
        assert {(t.headline, t.summary) for t in await repo.threads_of(
            tx, ALICE.leader_id, status=None)} == {(None, None)}
        rows = await repo.schedules_of(tx, ALICE.leader_id)
        assert rows and all("context" not in r["payload"] for r in rows)
        document = await export.collect(tx, core.service, ALICE.leader_id)
    assert [w for w in ALICE_WORDS if w in json.dumps(document, ensure_ascii=False)] == []
    # Bob's text in the very same backup still reads.
    bob = await texts_of(old, BOB.leader_id)
    assert all(w in bob for w in BOB_WORDS)
    await old.close()
    assert leaked(before, ALICE_WORDS + BOB_WORDS) == []


async def test_key_store_and_master_key_are_owner_only_and_sealed(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await delegation(core.service, ALICE, ALICE_WORDS, finish=False)
    await core.close()
    db = tmp_path / "bot.db"
    keys, master = crypto.key_store_path(db), crypto.master_key_path(db)
    assert mode(keys) == 0o600 and mode(master) == 0o600
    assert mode(keys.with_name(keys.name + ".lock")) == 0o600
    assert len(master.read_bytes()) == crypto.MASTER_BYTES
    data = keys.read_bytes()
    assert data.startswith(crypto.FILE_MAGIC)
    assert ALICE.leader_id.encode() not in data  # sealed whole (and names no owner anyway)
    with pytest.raises(crypto.KeyStoreError, match="another master key"):
        crypto.open_keyring(db, LONG_KEY)
    keys.chmod(0o644)  # restored without its mode: tightened on the next read
    crypto.open_keyring(db, create=False)
    assert mode(keys) == 0o600
    backup = tmp_path / "elsewhere" / "keys.bak"
    assert await asyncio.to_thread(cli.main, ["--db", str(db), "keys", "backup", str(backup)]) == 0
    assert mode(backup) == 0o600 and mode(backup.parent) == 0o700
    assert crypto.open_file(backup.read_bytes(), master.read_bytes(), backup).keys.keys() == \
        crypto.open_file(data, master.read_bytes(), keys).keys.keys()


@pytest.mark.parametrize("source", ["env", "file"])
async def test_a_too_short_master_key_is_refused_with_one_line(
        tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "bot.db"
    if source == "env":
        monkeypatch.setenv("TILLIDSBOT_MASTER_KEY", "too-short")
    else:
        crypto.master_key_path(db).write_bytes(b"0123456789")
    with pytest.raises(crypto.KeyStoreError):
        await Store.open(db, os.environ.get("TILLIDSBOT_MASTER_KEY"))
    assert await asyncio.to_thread(cli.main, ["--db", str(db), "invite", "list"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"a master key needs at least {crypto.MIN_MASTER_BYTES}" in err
    assert "too-short" not in err  # never the secret itself
    assert not crypto.key_store_path(db).exists()


async def test_rotate_keeps_everything_readable(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    core = await make_core(tmp_path)
    await delegation(core.service, ALICE, ALICE_WORDS)
    await core.close()
    db = tmp_path / "bot.db"
    master = crypto.master_key_path(db)
    first = master.read_bytes()
    assert await asyncio.to_thread(cli.main, ["--db", str(db), "keys", "rotate"]) == 0
    assert master.read_bytes() != first and mode(master) == 0o600
    with pytest.raises(crypto.KeyStoreError):  # the old master key opens nothing any more
        crypto.open_file(crypto.key_store_path(db).read_bytes(), first, db)
    store = await Store.open(db)
    text = await texts_of(store, ALICE.leader_id)
    assert all(w in text for w in ALICE_WORDS)
    await store.close()

    # From the generated file to a configured key, and on to another one.
    monkeypatch.setenv("TILLIDSBOT_NEW_MASTER_KEY", LONG_KEY)
    assert await asyncio.to_thread(cli.main, ["--db", str(db), "keys", "rotate"]) == 0
    assert not master.exists()
    monkeypatch.setenv("TILLIDSBOT_MASTER_KEY", LONG_KEY)
    monkeypatch.setenv("TILLIDSBOT_NEW_MASTER_KEY", "n" * 40)
    assert await asyncio.to_thread(cli.main, ["--db", str(db), "keys", "rotate"]) == 0
    with pytest.raises(crypto.KeyStoreError, match="another master key"):
        await Store.open(db, LONG_KEY)
    store = await Store.open(db, "n" * 40)
    text = await texts_of(store, ALICE.leader_id)
    assert all(w in text for w in ALICE_WORDS)
    await store.close()


async def test_a_rotation_cut_short_leaves_a_usable_pair(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await delegation(core.service, ALICE, ALICE_WORDS, finish=False)
    await core.close()
    db = tmp_path / "bot.db"
    # Crash after the key store was sealed under the new key, before the rename.
    new = os.urandom(crypto.MASTER_BYTES)
    ring = crypto.open_keyring(db, create=False)
    crypto.next_master_path(db).write_bytes(new)
    ring.rotate(new)
    store = await Store.open(db)
    assert ALICE_WORDS[0] in await texts_of(store, ALICE.leader_id)
    await store.close()
    assert crypto.master_key_path(db).read_bytes() == new
    assert not crypto.next_master_path(db).exists()
    # Crash before the key store was sealed: the new key is dropped, the old one holds.
    crypto.next_master_path(db).write_bytes(os.urandom(crypto.MASTER_BYTES))
    store = await Store.open(db)
    assert ALICE_WORDS[0] in await texts_of(store, ALICE.leader_id)
    await store.close()
    assert crypto.master_key_path(db).read_bytes() == new


async def test_a_missing_or_foreign_key_store_is_refused(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await delegation(core.service, ALICE, ALICE_WORDS, finish=False)
    await core.close()
    db = tmp_path / "bot.db"
    keys = crypto.key_store_path(db)
    keys.rename(tmp_path / "aside.keys")
    with pytest.raises(crypto.KeyStoreError, match="key store .* is missing"):
        await Store.open(db)
    assert not keys.exists()  # no empty key store was made in its place
    other = await Store.open(tmp_path / "other.db")
    await other.close()
    with pytest.raises(crypto.KeyStoreError, match="belongs to another database"):
        await Store.open(db, key_store=crypto.key_store_path(tmp_path / "other.db"))
    (tmp_path / "aside.keys").rename(keys)
    store = await Store.open(db)
    assert ALICE_WORDS[0] in await texts_of(store, ALICE.leader_id)
    await store.close()


async def test_a_ciphertext_moved_to_another_row_does_not_open(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await delegation(core.service, ALICE, ALICE_WORDS, finish=False)
    await delegation(core.service, BOB, BOB_WORDS, finish=False)
    await core.close()
    db = tmp_path / "bot.db"
    conn = sqlite3.connect(db)
    first, second = conn.execute("SELECT id FROM answers WHERE leader_id = ? ORDER BY id",
                                 (ALICE.leader_id,)).fetchall()
    # Alice's first answer copied over her second, Bob's state over Alice's.
    conn.execute("UPDATE answers SET value = (SELECT value FROM answers WHERE id = ?) "
                 "WHERE id = ?", (first[0], second[0]))
    conn.execute("UPDATE sessions SET state = (SELECT state FROM sessions WHERE leader_id = ?) "
                 "WHERE leader_id = ?", (BOB.leader_id, ALICE.leader_id))
    conn.commit()
    conn.close()
    store = await Store.open(db)
    async with store.transaction() as tx:
        answers = await repo.answers_of(tx, ALICE.leader_id)
        assert [a["value"] for a in answers] == [f"Opgaven {ALICE_WORDS[0]} til teamet"]
        assert await repo.load_session(tx, ALICE.leader_id) is None
        assert BOB_WORDS[0] not in await texts_of_tx(tx, ALICE.leader_id)
    await store.close()


async def texts_of_tx(tx: Any, leader_id: str) -> str:
    """The leader's answers as the store yields them, as one string."""
    return json.dumps(await repo.answers_of(tx, leader_id), ensure_ascii=False)


async def test_an_erasure_cut_short_still_removes_the_key_and_a_rollback_keeps_it(
        tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await delegation(core.service, ALICE, ALICE_WORDS, finish=False)
    await delegation(core.service, BOB, BOB_WORDS, finish=False)
    db = tmp_path / "bot.db"

    class Boom(Exception):
        pass

    from bot.store import privacy

    with pytest.raises(Boom):
        async with core.store.transaction() as tx:
            await privacy.erase_leader(tx, BOB.leader_id)
            raise Boom
    assert BOB_WORDS[0] in await texts_of(core.store, BOB.leader_id)  # rolled back: all there
    assert crypto.open_keyring(db).has_key(key_id(db, BOB))
    # The process dies after the key was marked and before the commit.
    alice_key = key_id(db, ALICE)
    await core.store.conn.execute("BEGIN IMMEDIATE")
    await core.store.keys.doom(core.store.conn, crypto.leader_owner(ALICE.leader_id))
    await core.close()  # closing without a commit rolls the transaction back
    store = await Store.open(db)
    assert not store.keys.has_key(alice_key)
    assert ALICE_WORDS[0] not in await texts_of(store, ALICE.leader_id)
    assert BOB_WORDS[0] in await texts_of(store, BOB.leader_id)
    await store.close()


async def test_a_forget_in_another_process_is_not_undone_by_the_running_bot(
        tmp_path: Path) -> None:
    core = await make_core(tmp_path)  # the running bot
    await delegation(core.service, ALICE, ALICE_WORDS, finish=False)
    db = tmp_path / "bot.db"
    alice_key = key_id(db, ALICE)
    other = await Store.open(db)  # `tillidsbot forget` beside it, with its own keyring
    from bot.features.forget import forget_leader

    async with other.transaction() as tx:
        await forget_leader(tx, ALICE.leader_id)
    await other.close()
    await delegation(core.service, BOB, BOB_WORDS, finish=False)  # the bot makes a new key
    ring = crypto.open_keyring(db, create=False)
    assert not ring.has_key(alice_key)
    assert ring.has_key(key_id(db, BOB))
    await core.close()


async def test_governance_examples_are_sealed_and_go_with_their_round(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    store = await Store.open(db)
    async with store.transaction() as tx:
        await team_store.ensure_group(tx, "telegram", "-100123", "da", "2026-11-23T09:00:00+00:00")
        found = await team_store.create_round(tx, "telegram", "-100123", "tok", "da", None,
                                              "2026-11-23T09:00:00+00:00",
                                              "2026-11-24T09:00:00+00:00", 24)
        await team_store.add_example(tx, found.id, "e1", "red", f"Vi skal {ALICE_WORDS[0]}",
                                     "h1")
        await team_store.add_example(tx, found.id, "e2", "green", f"Godt: {ALICE_WORDS[1]}",
                                     "h2")
        await team_store.set_round(tx, found.id, items=[
            {"n": 1, "colour": "red", "text": f"Vi skal {BOB_WORDS[0]}", "count": 1}])
    before = tmp_path / "before.db"
    backup_database(db, before)
    assert leaked(db, ALICE_WORDS + BOB_WORDS) == [] and leaked(before, ALICE_WORDS) == []
    async with store.transaction() as tx:
        assert [e.text for e in await team_store.examples_of(tx, found.id)] == [
            f"Vi skal {ALICE_WORDS[0]}", f"Godt: {ALICE_WORDS[1]}"]
        await team_store.forget_round_inputs(tx, found.id)  # voting starts: raw inputs go
    await store.close()
    old = await Store.open(before, key_store=crypto.key_store_path(db))
    async with old.transaction() as tx:
        assert await team_store.example_count(tx, found.id) == 2  # rows in the old backup...
        assert await team_store.examples_of(tx, found.id) == []  # ...that no longer open
        again = await team_store.get_round(tx, found.id)
    assert again is not None and again.items is not None
    assert again.items[0]["text"] == f"Vi skal {BOB_WORDS[0]}"  # the merged list stays
    await old.close()


OLD_ROWS = [
    "INSERT INTO leaders (leader_id, chat_id, language, timezone, settings, created_at, "
    "updated_at) VALUES ('tg:1', '1', 'da', 'Europe/Copenhagen', '{}', '2026-01-01', "
    "'2026-01-01')",
    "INSERT INTO sessions VALUES ('tg:1', '{\"open\": \"Zylofantvej\"}', '2026-01-01')",
    "INSERT INTO threads (thread, leader_id, conversation, status, language, headline, summary, "
    "started_at) VALUES ('t1', 'tg:1', 'delegation', 'finished', 'da', 'Quorbixmødet', "
    "'Resumé: Plimstrudsagen', '2026-01-01')",
    "INSERT INTO answers (leader_id, thread, conversation, node, name, value, created_at) "
    "VALUES ('tg:1', 't1', 'delegation', 'task', 'task', '\"Varnokelteamet\"', '2026-01-01')",
    "INSERT INTO schedules (leader_id, kind, conversation, thread, due_at, payload, created_at, "
    "updated_at) VALUES ('tg:1', 'followup', 'delegation_followup', 't1', '2026-02-01', "
    "'{\"context\": {\"task\": \"Tessebrask\"}}', '2026-01-01', '2026-01-01')",
    "INSERT INTO schedules (leader_id, kind, conversation, due_at, status, payload, created_at, "
    "updated_at) VALUES ('tg:1', 'nudge', 'reflection', '2026-01-05', 'sent', "
    "'{\"slot\": \"2026-01-05\", \"key\": \"k\"}', '2026-01-01', '2026-01-01')",
    "INSERT INTO team_groups (chat_id, created_at, updated_at) VALUES ('-1', '2026', '2026')",
    "INSERT INTO team_gov_rounds (chat_id, token, status, language, opened_at, collect_until, "
    "vote_hours, items) VALUES ('-1', 'tok', 'voting', 'da', '2026', '2026', 24, "
    "'[{\"n\": 1, \"colour\": \"red\", \"text\": \"Mjuvlindrapport\", \"count\": 1}]')",
    "INSERT INTO team_gov_examples VALUES (1, 'e1', 'red', 'Oktrapil')",
]


def old_database(path: Path) -> None:
    """A database as the version before encryption left it: every text in plain."""
    conn = sqlite3.connect(path)
    for number, sql in migrations():
        if number >= 19:
            break
        conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {number}")
    for statement in OLD_ROWS:
        conn.execute(statement)
    conn.commit()
    conn.close()


def cells(path: Path) -> dict[str, Any]:
    """Every sealed column's stored cells, raw."""
    conn = sqlite3.connect(path)
    try:
        return {f"{s.table}.{s.column}": conn.execute(
            f"SELECT {s.column} FROM {s.table} ORDER BY rowid" if s.table != "team_gov_examples"
            else f"SELECT {s.column} FROM {s.table} ORDER BY id").fetchall()
            for s in crypto.SEALED}
    finally:
        conn.close()


async def test_the_migration_encrypts_an_old_plaintext_database_once(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old_database(db)
    assert leaked(db, ALICE_WORDS) == list(ALICE_WORDS)  # the words are there to be found
    store = await Store.open(db)
    assert await crypto.seal_existing(store.conn) == 0  # done, and recorded as done
    await store.close()
    for path in (db, db.with_name("old.db-wal")):
        assert leaked(path, ALICE_WORDS) == [], path
    sealed = cells(db)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT typeof(payload) FROM schedules WHERE kind = 'nudge'"
                        ).fetchall() == [("text",)]  # no free text: stays readable to SQL
    conn.close()
    assert all(isinstance(v[0], bytes) for rows in sealed.values() for v in rows
               if v[0] is not None and not str(v[0]).startswith("{\"slot\""))

    async def read_back() -> None:
        again = await Store.open(db)
        text = await texts_of(again, "tg:1")
        for word in ALICE_WORDS[:5]:
            assert word in text
        async with again.transaction() as tx:
            found = await team_store.get_round(tx, 1)
            assert found is not None and found.items is not None
            assert found.items[0]["text"] == "Mjuvlindrapport"
            assert [e.text for e in await team_store.examples_of(tx, 1)] == ["Oktrapil"]
            assert await schedules.last_slot(tx, "tg:1") is not None
            assert (await schedules.last_slots(tx))["tg:1"].isoformat() == "2026-01-05"
        await again.close()

    await read_back()
    assert cells(db) == sealed  # opening again seals nothing twice
    # Interrupted half-way (some rows sealed, one still plain, not yet recorded as done): the
    # next start seals just the rest.
    conn = sqlite3.connect(db)
    conn.execute("UPDATE crypto_state SET sealed = 0")
    conn.execute("INSERT INTO answers (leader_id, thread, conversation, node, name, value, "
                 "created_at) VALUES ('tg:1', 't1', 'delegation', 'risk', 'risk', "
                 "'\"Krovnatte\"', '2026-01-02')")
    conn.commit()
    conn.close()
    await read_back()
    after = cells(db)
    assert after["answers.value"][0] == sealed["answers.value"][0]
    assert isinstance(after["answers.value"][1][0], bytes)
    assert leaked(db, ("Krovnatte",)) == []
    store = await Store.open(db)
    assert "Krovnatte" in await texts_of(store, "tg:1")
    await store.close()
