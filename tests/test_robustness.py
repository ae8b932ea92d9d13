"""QA of the foundation: bad input, broken templates, races and restarts lose nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.dialogue.engine import parse_callback, parse_date
from bot.dialogue.state import ButtonInput, OutMessage
from bot.service import BotService, Who
from bot.store import repo
from bot.store.db import Store, migrations
from tests.conftest import TODAY
from tests.driver import EngineDriver

WHO = Who(leader_id="tg:7", chat_id="7", language_code="da")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def make_service(path: Path, dialogues: Dialogues) -> BotService:
    """A service over a real SQLite file with a fixed clock."""
    return BotService(await Store.open(path), dialogues, ManualClock(NOW))


async def session_of(service: BotService, leader_id: str = "tg:7") -> str | None:
    """The leader's stored state as JSON."""
    async with service.store.transaction() as tx:
        return await repo.load_session(tx, leader_id)


def keys(messages: list[OutMessage]) -> list[str | None]:
    """The wording keys of error replies."""
    return [m.key for m in messages if m.kind == "error"]


# ---- typed input that only looks like a number ---------------------------------------------

@pytest.mark.parametrize("text", ["²", "½", "①", "2²"])
def test_parse_date_refuses_digit_like_characters(text: str) -> None:
    # str.isdigit() is true for these, but int() cannot read them.
    assert parse_date(text, TODAY) is None


def test_forged_callback_with_digit_like_step_is_not_ours() -> None:
    assert parse_callback("abcdef:²:when:7") is None


def test_superscript_digit_at_a_date_question_is_a_clear_reply(
        sample_dialogues: Dialogues) -> None:
    driver = EngineDriver(sample_dialogues, "sample", TODAY)
    driver.text("Mia")
    driver.press("a")
    driver.press("x")
    driver.press("!ok")
    driver.press("3")
    assert driver.prompt.node == "when"
    before = driver.state
    result = driver.text("²")
    assert result.status == "rejected" and result.messages[0].key == "not_a_date"
    # A forged date button with such a value is refused too, not a crash.
    forged = driver.button("7").rsplit(":", 1)[0] + ":²"
    assert driver.send(ButtonInput(data=forged)).status == "rejected"
    assert driver.state == before


# ---- commands a leader can type ------------------------------------------------------------

async def test_start_conversation_is_not_a_leader_command(tmp_path: Path,
                                                          real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    for args in ("", "bogus", "delegation_followup"):
        out = await service.handle_command(WHO, "start_conversation", args)
        assert out[0].kind == "error" and "/start_conversation" in out[0].text
    # Nothing was started: a follow-up without its context would fail to render later.
    assert await session_of(service) is None
    await service.store.close()


# ---- the store ------------------------------------------------------------------------------

async def test_two_processes_opening_a_fresh_file_both_migrate_it(tmp_path: Path) -> None:
    # Two terminal chats started at once on a new file: the second must not re-run 0001.
    for attempt in range(5):
        path = tmp_path / f"fresh{attempt}.db"
        stores = await asyncio.gather(Store.open(path), Store.open(path), Store.open(path))
        for store in stores:
            assert await store.migrate() == len(migrations())
            await store.close()
    conn = sqlite3.connect(tmp_path / "fresh0.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
    conn.close()


@pytest.mark.parametrize("kind", ["text file", "directory"])
def test_chat_on_a_path_that_is_not_a_database_says_so(tmp_path: Path, kind: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    path = tmp_path / "notes.db"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("shopping list\n")
    assert main(["--db", str(path), "chat"]) == 2
    err = capsys.readouterr().err
    assert f"cannot open the database {path}" in err and "Traceback" not in err
