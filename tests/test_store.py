"""Store and service tests on a real SQLite file in a temporary directory."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.service import BotService, Who, language_for
from bot.store import crypto, repo
from bot.store.db import Store, latest_migration

WHO = Who(leader_id="tg:42", chat_id="42", language_code="da")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def press(messages: list[OutMessage], label: str) -> ButtonInput:
    """The button with this label in the last message that has buttons."""
    for message in reversed(messages):
        for row in message.buttons:
            for button in row:
                if button.label == label:
                    return ButtonInput(data=button.data)
    raise AssertionError(f"no button {label!r}")


async def test_migrations_from_empty_file(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.db")
    await store.close()
    conn = sqlite3.connect(tmp_path / "bot.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_migration()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"leaders", "sessions", "threads", "answers", "schedules"} <= tables
    conn.close()
    again = await Store.open(tmp_path / "bot.db")  # re-opening applies nothing twice
    assert await again.migrate() == latest_migration()
    await again.close()


async def test_transaction_rolls_back_state_and_answer_together(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.db")
    now = "2026-11-23T09:00:00+00:00"
    async with store.transaction() as tx:
        await repo.create_leader(tx, "tg:1", "1", "da", now)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await repo.save_session(tx, "tg:1", '{"x": 1}', now)
            await repo.add_answer(tx, "tg:1", "t", "c", "n", "name", "v", now)
            raise RuntimeError("crash before commit")
    async with store.transaction() as tx:
        assert await repo.load_session(tx, "tg:1") is None
        assert await repo.answers_of(tx, "tg:1") == []
    await store.close()


async def make_service(path: Path, dialogues: Dialogues) -> BotService:
    """A service over a real file with a fixed clock."""
    store = await Store.open(path)
    return BotService(store, dialogues, ManualClock(NOW))


async def test_answers_are_committed_before_the_reply(tmp_path: Path,
                                                      real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    await service.handle_command(WHO, "delegate")
    await service.handle_input(WHO, TextInput(text="Budgetopfølgning til teamet"))
    # A second, independent connection sees the answer and the new state already.
    conn = sqlite3.connect(tmp_path / "bot.db")
    answer_id, sealed = conn.execute("SELECT id, value FROM answers WHERE name='task'").fetchone()
    stored = conn.execute("SELECT state FROM sessions WHERE leader_id='tg:42'").fetchone()[0]
    conn.close()
    # Both are sealed at rest: opened with the key store file, not through this connection.
    ring = crypto.open_keyring(tmp_path / "bot.db", create=False)
    value = crypto.open_stored(ring, "answers", "value", {"leader_id": "tg:42", "id": answer_id},
                               sealed)
    assert value == '"Budgetopfølgning til teamet"'
    state = crypto.open_stored(ring, "sessions", "state", {"leader_id": "tg:42"}, stored)
    assert state is not None and '"node":"purpose"' in state
    await service.store.close()


async def test_resume_after_reopening(tmp_path: Path, real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    await service.handle_command(WHO, "delegate")
    await service.handle_input(WHO, TextInput(text="Vagtplanen til HR-teamet"))
    await service.store.close()
    reopened = await make_service(tmp_path / "bot.db", real_dialogues)
    messages = await reopened.resume(WHO)
    assert "Hvad er formålet" in messages[-1].text
    await reopened.store.close()


async def test_full_delegation_stores_summary_and_followup(tmp_path: Path,
                                                           real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    out = await service.handle_command(WHO, "delegate")
    for step in ["Vagtplanen til HR-teamet", "Mere tid hos borgerne"]:
        out = await service.handle_input(WHO, TextInput(text=step))
    out = await service.handle_input(WHO, press(out, "Ja"))
    out = await service.handle_input(WHO, press(out, "Ja"))
    out = await service.handle_input(WHO, press(out, "Ja"))
    out = await service.handle_input(WHO, TextInput(text="Borgerne kender deres hjælpere"))
    out = await service.handle_input(WHO, TextInput(text="Ingen ændringer uden MED-udvalget"))
    within = "Beslutter selv inden for rammerne – som hverdagsdirektør"
    out = await service.handle_input(WHO, press(out, within))
    out = await service.handle_input(WHO, TextInput(text="Jeg sparrer, men beslutter ikke"))
    out = await service.handle_input(WHO, TextInput(text="Et kort møde hver fredag"))
    out = await service.handle_input(WHO, press(out, "3"))
    out = await service.handle_input(WHO, TextInput(text="Teamet laver selv budgettet"))
    out = await service.handle_input(WHO, TextInput(text="15.12.2026"))
    summary = next(m for m in out if m.kind == "summary")
    assert "Vagtplanen til HR-teamet" in summary.text and "Gå videre." in summary.text
    async with service.store.transaction() as tx:
        threads = await repo.threads_of(tx, "tg:42")
        schedules = await repo.pending_schedules(tx, "tg:42")
        session = await repo.load_session(tx, "tg:42")
    assert threads[0].status == "finished" and threads[0].headline == "Vagtplanen til HR-teamet"
    # Both the recommendation and the forwardable agreement draft are kept in the history.
    assert threads[0].summary is not None and "Gå videre." in threads[0].summary
    assert "UDKAST TIL AFTALE" in threads[0].summary
    assert session is None
    assert len(schedules) == 1
    # 09:00 Copenhagen on 15 December is 08:00 UTC.
    assert schedules[0]["due_at"] == "2026-12-15T08:00:00+00:00"
    assert schedules[0]["conversation"] == "delegation_followup"
    assert schedules[0]["payload"]["context"]["task"] == "Vagtplanen til HR-teamet"
    await service.store.close()


async def test_cancel_cancels_followups_and_keeps_history(tmp_path: Path,
                                                          real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    await service.handle_command(WHO, "delegate")
    await service.handle_input(WHO, TextInput(text="Indkøb"))
    out = await service.handle_command(WHO, "cancel")
    assert "afbrudt" in out[0].text
    async with service.store.transaction() as tx:
        assert await repo.load_session(tx, "tg:42") is None
        assert len(await repo.answers_of(tx, "tg:42")) == 1
    await service.store.close()


async def test_unknown_node_restarts_politely(tmp_path: Path, real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    await service.handle_command(WHO, "delegate")
    async with service.store.transaction() as tx:
        raw = await repo.load_session(tx, "tg:42")
        assert raw is not None
        await repo.save_session(tx, "tg:42", raw.replace('"node":"task"', '"node":"removed"'),
                                "now")
    out = await service.handle_input(WHO, TextInput(text="hej"))
    assert "opdateret" in out[0].text
    assert out[-1].buttons  # the menu, so the leader can start again
    async with service.store.transaction() as tx:
        assert await repo.load_session(tx, "tg:42") is None
    await service.store.close()


async def test_commands_mid_conversation_keep_state(tmp_path: Path,
                                                    real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    await service.handle_command(WHO, "delegate")
    for command in ("help", "nonsense", "delegate", "history", "start"):
        out = await service.handle_command(WHO, command)
        assert "Hvilken opgave" in out[-1].text, command
    async with service.store.transaction() as tx:
        raw = await repo.load_session(tx, "tg:42")
    assert raw is not None and '"node":"task"' in raw
    await service.store.close()


@pytest.mark.parametrize(("code", "expected"), [
    ("da", "da"), ("nb", "da"), ("fr", "da"), (None, "da"), ("da-DK", "da")])
def test_language_for_with_only_danish(code: str | None, expected: str) -> None:
    assert language_for(code, ("da",)) == expected


def test_language_for_norwegian_codes() -> None:
    for code in ("nb", "no", "nn", "nb-NO"):
        assert language_for(code, ("da", "nb", "en")) == "nb"
    assert language_for("en-GB", ("da", "nb", "en")) == "en"
    assert language_for("sv", ("da", "nb", "en")) == "da"
