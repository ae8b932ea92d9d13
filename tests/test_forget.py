"""/forget: after confirmation no table holds a row about the leader, and no job is left."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import cli
from bot.clock import ManualClock, iso
from bot.dialogue import Dialogues
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.service import Who
from bot.store import outbox, privacy, repo
from tests.history_helpers import NOW, make_core, press, seed_thread

ALICE = Who(leader_id="tg:424242", chat_id="424242", language_code="da")
BOB = Who(leader_id="tg:777001", chat_id="777001", language_code="da")
GROUP = "-100987654"

# Tables as later features might add them: other names for the leader column, a chat column,
# a child of schedules that holds no leader id at all, and a WITHOUT ROWID table.
LATER_TABLES = """
CREATE TABLE processed_updates (update_id INTEGER PRIMARY KEY, chat_id TEXT, at TEXT);
CREATE TABLE leader_invites (code TEXT PRIMARY KEY, created_by_leader TEXT, note TEXT);
CREATE TABLE schedule_attempts (id INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES schedules(id), attempt INTEGER);
CREATE TABLE leader_flags (leader_id TEXT NOT NULL, flag TEXT NOT NULL,
    PRIMARY KEY (leader_id, flag)) WITHOUT ROWID;
CREATE TABLE thread_notes (thread_id TEXT, note TEXT);
"""


async def seed(core) -> list[str]:  # type: ignore[no-untyped-def]
    """Alice and Bob with data in every kind of table; return Alice's thread ids."""
    async with core.store.transaction() as tx:
        for statement in LATER_TABLES.split(";"):
            if statement.strip():
                await tx.execute(statement)
        for who, tag in ((ALICE, "a"), (BOB, "b")):
            await repo.create_leader(tx, who.leader_id, who.chat_id, "da", iso(NOW))
            await seed_thread(tx, who.leader_id, f"{tag}-thread-1", "delegation",
                              NOW - timedelta(days=3), headline="Opgave", summary="Resumé",
                              answers={"task": f"{tag} opgave", "risk": 3})
            await seed_thread(tx, who.leader_id, f"{tag}-thread-2", "reflection", NOW,
                              answers={"rating": 4})
            sid = await repo.add_schedule(tx, who.leader_id, "followup",
                                          iso(NOW + timedelta(days=14)), iso(NOW),
                                          conversation="delegation_followup",
                                          thread=f"{tag}-thread-1",
                                          payload={"context": {"task": f"{tag} opgave"}})
            await repo.add_schedule(tx, who.leader_id, "nudge", iso(NOW + timedelta(days=7)),
                                    iso(NOW), conversation="reflection")
            await tx.execute("INSERT INTO schedule_attempts (schedule_id, attempt) VALUES (?, 1)",
                             (sid,))
            await tx.execute("INSERT INTO processed_updates (chat_id, at) VALUES (?, ?)",
                             (who.chat_id, iso(NOW)))
            await tx.execute("INSERT INTO leader_invites VALUES (?, ?, 'x')",
                             (f"code-{tag}", who.leader_id))
            await tx.execute("INSERT INTO leader_flags VALUES (?, 'beta')", (who.leader_id,))
            await tx.execute("INSERT INTO thread_notes VALUES (?, 'note')", (f"{tag}-thread-1",))
            await tx.execute("INSERT INTO reflection_prompts (leader_id, prompt_id, shown_at) "
                             "VALUES (?, 'lever-1', ?)", (who.leader_id, iso(NOW)))
            # A reply a crash held back (bot/store/outbox.py): pending, quoting their words.
            await outbox.write(tx, "telegram", who.leader_id, f"1:{tag}", [OutMessage(
                text=f"{tag} opgave", kind="prompt", node="purpose", step=1)], NOW)
        # The team feature's tables: a group, an anonymous pulse answer, and a governance
        # round Alice opened (its result goes to her private chat).
        await tx.execute("INSERT INTO team_groups (chat_id, created_at, updated_at) "
                         "VALUES (?, ?, ?)", (GROUP, iso(NOW), iso(NOW)))
        await tx.execute("INSERT INTO team_pulses (chat_id, seq, status, language, opened_at, "
                         "closes_at) VALUES (?, 1, 'open', 'da', ?, ?)",
                         (GROUP, iso(NOW), iso(NOW)))
        await tx.execute("INSERT INTO team_pulse_answers (pulse_id, member_hash, trust) "
                         "VALUES (1, 'hmac-of-someone', 4)")
        await tx.execute("INSERT INTO team_gov_rounds (chat_id, token, status, language, "
                         "opened_at, collect_until, vote_hours) VALUES "
                         "(?, 'tok', 'collecting', 'da', ?, ?, 24)", (GROUP, iso(NOW), iso(NOW)))
        await tx.execute("INSERT INTO team_gov_leaders (round_id, leader_chat) VALUES (1, ?)",
                         (ALICE.chat_id,))
        await tx.execute("INSERT INTO team_gov_examples (round_id, id, colour, text) "
                         "VALUES (1, 'r1', 'red', 'et eksempel')")
        # The newest team tables (migrations 0008, 0009) hold group chat ids only.
        await tx.execute("INSERT INTO team_chat_moves (old_chat_id, new_chat_id, moved_at) "
                         "VALUES ('-4242', ?, ?)", (GROUP, iso(NOW)))
        await tx.execute("INSERT INTO team_setup_wizards (chat_id, language, created_at, "
                         "updated_at) VALUES (?, 'da', ?, ?)", (GROUP, iso(NOW), iso(NOW)))
    # An open conversation with an answer, through the real service.
    await core.service.handle_command(ALICE, "delegate")
    await core.service.handle_input(ALICE, TextInput(text="Indkøb af skraldespande"))
    async with core.store.transaction() as tx:
        return [t.thread for t in await repo.threads_of(tx, ALICE.leader_id, status=None)]


def rows_about(db: Path, who: Who, threads: list[str]) -> dict[str, int]:
    """Scan EVERY table and column (found from sqlite_master) for the leader's identifiers."""
    conn = sqlite3.connect(db)
    found: dict[str, int] = {}
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    assert len(names) >= 15  # our 5, reflection, team, and the later ones above
    for table in names:
        columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
        tests, params = [], []
        for col in columns:
            text = f'CAST("{col}" AS TEXT)'
            tests += [f"{text} = ?", f"{text} = ?", f"{text} LIKE ?"]
            params += [who.leader_id, who.chat_id, f"%{who.leader_id}%"]
            for thread in threads:
                tests.append(f"{text} = ?")
                params.append(thread)
        count = conn.execute(f'SELECT count(*) FROM "{table}" WHERE {" OR ".join(tests)}',
                             params).fetchone()[0]
        if count:
            found[table] = count
    conn.close()
    return found


async def test_forget_leaves_no_row_about_the_leader_in_any_table(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    alice_threads = await seed(core)
    assert len(alice_threads) == 3
    bob_threads = ["b-thread-1", "b-thread-2"]
    before = rows_about(tmp_path / "bot.db", ALICE, alice_threads)
    assert set(before) >= {"leaders", "sessions", "threads", "answers", "schedules",
                           "processed_updates", "leader_invites", "leader_flags",
                           "thread_notes", "reply_outbox",
                           "reflection_prompts", "team_gov_leaders"}
    bob_before = rows_about(tmp_path / "bot.db", BOB, bob_threads)

    # The scheduler holds one job per pending schedule; the forget hook must drop Alice's.
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start(paused=True)
    async with core.store.transaction() as tx:
        for who in (ALICE, BOB):
            for item in await repo.pending_schedules(tx, who.leader_id):
                scheduler.add_job(print, "date", run_date=item["due_at"],
                                  id=f"schedule:{item['id']}",
                                  kwargs={"sep": who.leader_id})

    async def drop_jobs(leader_id: str) -> None:
        for job in scheduler.get_jobs():
            if job.kwargs.get("sep") == leader_id:
                job.remove()

    core.forget_hooks.add(drop_jobs)

    out = await core.service.handle_command(ALICE, "forget")
    statement = out[0].text
    assert "3 samtaler" in statement and "2 planlagte beskeder" in statement
    assert "tillidspuls" in statement  # says the anonymous pulse answers stay (one term, issue 15)
    async with core.store.transaction() as tx:
        assert await repo.get_leader(tx, ALICE.leader_id) is not None  # nothing gone yet
    done = await core.service.handle_input(ALICE, press(out, "Ja, slet alt om mig"))
    assert done[0].text == core.service.ui("forget_done", "da")

    assert rows_about(tmp_path / "bot.db", ALICE, alice_threads) == {}
    assert rows_about(tmp_path / "bot.db", BOB, bob_threads) == bob_before
    assert {job.kwargs["sep"] for job in scheduler.get_jobs()} == {BOB.leader_id}
    async with core.store.transaction() as tx:
        assert await repo.pending_schedules(tx, ALICE.leader_id) == []
        assert len(await repo.pending_schedules(tx, BOB.leader_id)) == 2
    conn = sqlite3.connect(tmp_path / "bot.db")
    # Anonymous team data stays: the pulse answer and the round's example link to nobody.
    assert conn.execute("SELECT count(*) FROM team_pulse_answers").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM team_gov_examples").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM team_chat_moves").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM team_setup_wizards").fetchone()[0] == 1
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    scheduler.shutdown(wait=False)
    await core.close()


async def test_saying_no_or_an_old_button_deletes_nothing(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    core = await make_core(tmp_path, clock)
    threads = await seed(core)
    before = rows_about(tmp_path / "bot.db", ALICE, threads)
    out = await core.service.handle_command(ALICE, "forget")
    kept = await core.service.handle_input(ALICE, press(out, "Nej, behold"))
    assert kept[0].text == core.service.ui("forget_kept", "da")
    assert "Hvad er formålet" in kept[-1].text  # back to the open question
    clock.advance(timedelta(hours=2))
    stale = await core.service.handle_input(ALICE, press(out, "Ja, slet alt om mig"))
    assert stale[0].kind == "error"
    for forged in ("fg:yes", "fg:yes:abc", "fg:maybe", "fg:yes:99999999999"):
        reply = await core.service.handle_input(ALICE, ButtonInput(data=forged))
        assert reply[0].kind == "error", forged
    assert rows_about(tmp_path / "bot.db", ALICE, threads) == before
    await core.close()


async def test_a_forgotten_leader_can_start_afresh(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed(core)
    out = await core.service.handle_command(ALICE, "forget")
    await core.service.handle_input(ALICE, press(out, "Ja, slet alt om mig"))
    again = await core.service.handle_command(ALICE, "history")
    assert again[0].text.startswith(core.service.ui("history_empty", "da"))
    await core.close()


async def test_operator_export_and_forget_from_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    core = await make_core(tmp_path)
    threads = await seed(core)
    await core.close()
    db = str(tmp_path / "bot.db")
    out_dir = tmp_path / "request"
    assert await _run(["--db", db, "export", "--user", "424242", "--out", str(out_dir)]) == 0
    files = sorted(p.name for p in out_dir.iterdir())
    assert [f.rsplit(".", 1)[1] for f in files] == ["json", "md"]
    assert all("tg-424242" in f for f in files)
    assert all((out_dir / f).stat().st_mode & 0o777 == 0o600 for f in files)
    assert await _run(["--db", db, "export", "--user", "tg:nobody"]) == 1
    assert await _run(["--db", db, "forget", "--user", "tg:424242", "--yes"]) == 0
    assert "deleted" in capsys.readouterr().out
    assert rows_about(tmp_path / "bot.db", ALICE, threads) == {}
    assert b"a opgave" not in _raw_bytes(tmp_path / "bot.db")  # the operator's erase scrubs too
    assert rows_about(tmp_path / "bot.db", BOB, ["b-thread-1"]) != {}


async def _run(argv: list[str]) -> int:
    """Run the console script's main() in a worker thread (it runs its own event loop)."""
    return await asyncio.to_thread(cli.main, argv)


def test_discovery_sees_every_leader_table() -> None:
    info = privacy.TableInfo("x", ["leader_chat", "owner_leader", "thread_id", "chat_id"], [])
    assert info.leader_columns() == ["owner_leader"]
    assert info.chat_columns() == ["leader_chat", "chat_id"]
    assert info.thread_columns() == ["thread_id"]
    later = privacy.TableInfo("y", ["conversation_reference", "leader_ref", "admin_user_id",
                                    "user_id", "leader_reference", "conversation"], [])
    assert later.chat_columns() == ["conversation_reference", "leader_ref", "admin_user_id",
                                    "user_id", "leader_reference"]
    assert later.leader_columns() == []


# Words in a column's name that say it may hold who someone is or how to reach them.
IDENTITY_WORDS = ("leader", "chat", "user", "member", "person", "admin", "reference", "_ref",
                  "tenant", "recipient", "sender", "author")
# Columns with such a name that hold no one's identity, and why.
NOT_AN_IDENTITY = {
    "member_hash": "a salted hash: team answers and votes are anonymous by design and stay",
    "min_respondents": "a count of members, not a member",
}


async def test_every_column_holding_an_identity_or_reference_is_exported_and_forgotten(
        tmp_path: Path) -> None:
    """A guard for later migrations: a column whose name says it holds a person's id or
    conversation reference is one the schema discovery follows (so export and forget find
    the rows), or it is named above with the reason it identifies no one."""
    core = await make_core(tmp_path)
    schema = await privacy.tables(core.store.conn)
    missed = []
    for info in schema.values():
        if info.name == privacy.LEADERS:
            continue  # the leader's own row: found by leader_id, every column goes with it
        followed = {*info.leader_columns(), *info.chat_columns()}
        for column in info.columns:
            low = column.lower()
            if any(word in low for word in IDENTITY_WORDS) and column not in followed \
                    and column not in NOT_AN_IDENTITY:
                missed.append(f"{info.name}.{column}")
    assert missed == []
    await core.close()


async def test_a_leader_on_another_channel_is_found_by_reference_and_platform_id(
        tmp_path: Path) -> None:
    """The stored conversation reference (JSON on Teams) is not the platform's user id: rows
    holding either are the leader's, in export and in forget (issue 12)."""
    core = await make_core(tmp_path)
    leader_id, raw = "teams:29:1a2b", "29:1a2b"
    reference = '{"conversation": {"id": "a:1"}, "serviceUrl": "http://127.0.0.1/"}'
    async with core.store.transaction() as tx:
        await repo.create_leader(tx, leader_id, reference, "da", iso(NOW))
        await tx.execute("CREATE TABLE later_contacts (conversation_reference TEXT, note TEXT)")
        await tx.execute("INSERT INTO later_contacts VALUES (?, 'by reference')", (reference,))
        await tx.execute("INSERT INTO team_groups (chat_id, language, cadence, weekday, "
                         "at_time, timezone, status, min_respondents, open_hours, "
                         "next_pulse_at, created_at, updated_at) VALUES ('teams:g1', 'da', "
                         "'weekly', 1, '09:00', 'Europe/Copenhagen', 'active', 3, 48, NULL, "
                         "?, ?)", (iso(NOW), iso(NOW)))
        await tx.execute("INSERT INTO team_gov_rounds (id, chat_id, token, status, language, "
                         "opened_at, collect_until, vote_hours) VALUES (1, 'teams:g1', "
                         "'tok', 'collecting', 'da', ?, ?, 24)", (iso(NOW), iso(NOW)))
        await tx.execute("INSERT INTO team_gov_leaders (round_id, leader_chat) VALUES "
                         "(1, ?)", (raw,))
        found = await privacy.leader_rows(tx, leader_id)
    assert found["leaders"][0]["chat_id"] == reference  # the reference is in the export
    assert [r["note"] for r in found["later_contacts"]] == ["by reference"]
    assert [r["leader_chat"] for r in found["team_gov_leaders"]] == [raw]
    async with core.store.transaction() as tx:
        await privacy.erase_leader(tx, leader_id)
        assert await privacy.leader_rows(tx, leader_id) == {}
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        assert conn.execute("SELECT count(*) FROM later_contacts").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM team_gov_leaders").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM team_groups").fetchone() == (1,)  # the group's
    await core.close()


async def test_the_real_scheduler_sends_nothing_after_forget(tmp_path: Path) -> None:
    from tests.schedule_support import Harness

    clock = ManualClock(NOW)
    h = await Harness.open(tmp_path / "bot.db", clock)
    for n in (424242, 777001):
        await h.command(n, "start")
    await h.run()  # start-up planning gives both their weekly nudge
    async with h.core.store.transaction() as tx:
        await seed_thread(tx, ALICE.leader_id, "a-thread-1", "delegation", NOW,
                          headline="Opgave", summary="Resumé", answers={"task": "x"})
        await repo.add_schedule(tx, ALICE.leader_id, "followup", iso(NOW + timedelta(days=3)),
                                iso(NOW), conversation="delegation_followup",
                                thread="a-thread-1", payload={"context": {"task": "x"}})
    assert [r.status for r in await h.rows(424242)].count("pending") == 2
    out = await h.command(424242, "forget")
    await h.service.handle_input(ALICE, press(out, "Ja, slet alt om mig"))
    assert await h.rows(424242) == []
    await h.step_until(NOW + timedelta(days=22), step=timedelta(hours=6))
    assert [s for s in h.outbox.sent if s.chat == ALICE.chat_id] == []
    assert len(h.headers(chat=BOB.chat_id)) >= 3  # Bob's weekly nudges keep coming
    assert await h.rows(424242) == []  # and nothing was planned again for Alice
    await h.close()


def _raw_bytes(db: Path) -> bytes:
    """The database file and its write-ahead log as they lie on disk."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_forgotten_words_are_gone_from_the_files_on_disk_too(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    alice_words, bob_words = "Zebrafinken fra Ørsted-7431", "Glenten over Mols-5150"
    for who, words, thread in ((ALICE, alice_words, "a-1"), (BOB, bob_words, "b-1")):
        async with core.store.transaction() as tx:
            await seed_thread(tx, who.leader_id, thread, "delegation", NOW,
                              headline=words, summary=words, answers={"task": words})
    db = tmp_path / "bot.db"

    def stored(leader_id: str) -> list[bytes]:
        """The leader's cells as they sit in the file (sealed: their bytes are the words)."""
        conn = sqlite3.connect(db)
        try:
            return [bytes(r[0]) for r in conn.execute(
                "SELECT value FROM answers WHERE leader_id = ? UNION ALL SELECT summary FROM "
                "threads WHERE leader_id = ? UNION ALL SELECT headline FROM threads WHERE "
                "leader_id = ?", (leader_id,) * 3)]
        finally:
            conn.close()

    alice_cells, bob_cells = stored(ALICE.leader_id), stored(BOB.leader_id)
    assert len(alice_cells) == 3 and all(c in _raw_bytes(db) for c in alice_cells)  # seen
    assert alice_words.encode() not in _raw_bytes(db)  # encrypted at rest, before and after
    out = await core.service.handle_command(ALICE, "forget")
    await core.service.handle_input(ALICE, press(out, "Ja, slet alt om mig"))
    # Deleted rows leave no copy behind: not in freed pages, not in old log frames.
    assert not any(c in _raw_bytes(db) for c in alice_cells)
    assert all(c in _raw_bytes(db) for c in bob_cells)
    assert alice_words.encode() not in _raw_bytes(db)
    assert bob_words.encode() not in _raw_bytes(db)
    await core.close()


@pytest.mark.parametrize("lang", ["da", "nb", "en"])
@pytest.mark.parametrize("other", [0, 1, 2])
def test_the_forget_statement_puts_each_item_on_its_own_line(
        real_dialogues: Dialogues, lang: str, other: int) -> None:
    # With the usual counts (no "other" rows) the planned-messages bullet ran straight into
    # the paragraph about the team's answers: "…annulleretDine anonyme svar…".
    for schedules in (0, 1, 3):
        text = real_dialogues.strings("forget_statement", lang, conversations=2, answers=5,
                                      schedules=schedules, other=other)
        lines = text.split("\n")
        bullets = [line for line in lines if line.startswith("•")]
        assert len(bullets) == (5 if other else 4), text
        assert bullets[3].startswith(f"• {schedules} ") and bullets[3].rstrip()[-1].isalpha()
        assert "/export" in lines[-1] and not lines[-1].startswith("•"), text
        if other:
            assert bullets[4].startswith(f"• {other} "), text
