"""Access follows the operator: a leader dropped from ALLOWED_USER_IDS or revoked is shut out
(their data kept, nothing more sent), an invited leader keeps access, and `grant` reopens it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import cli
from bot.dialogue import Dialogues
from bot.store.db import Store, migrations
from tests.botapi_standin import BotApiStandIn
from tests.test_telegram import make_invite, onboard
from tests.tgkit import InProcessBot, Phone, query, until


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A local Bot API stand-in."""
    async with BotApiStandIn() as stand_in:
        yield stand_in


def pending_nudges(db: Path, leader_id: str) -> int:
    """Weekly reflections still to be sent to a leader."""
    return int(query(db, "SELECT count(*) FROM schedules WHERE leader_id = ? AND kind = 'nudge' "
                         "AND status = 'pending'", (leader_id,))[0][0])


async def test_a_leader_dropped_from_the_list_is_shut_out_and_sent_nothing(
        api: BotApiStandIn, tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    await make_invite(db, "KOMMUNE")
    closed = real_dialogues.strings("tg_access_closed", "da")
    async with InProcessBot(api, db, ALLOWED_USER_IDS="2101,2102"):
        kept, dropped = (Phone(api, db, api.user(2101, "Karin")),
                         Phone(api, db, api.user(2102, "Dennis")))
        invited = Phone(api, db, api.user(2103, "Ida"))
        await onboard(kept)
        await onboard(dropped)
        await onboard(invited, "KOMMUNE")
        await dropped.say("/delegate")
    assert pending_nudges(db, "tg:2102") == 1

    async with InProcessBot(api, db, ALLOWED_USER_IDS="2101"):
        mark = dropped.mark()
        api.send_text(dropped.user, "Budgettet til AB")  # refused: never recorded as handled
        await api.wait_for(lambda: dropped.texts_since(mark), what="a refusal")
        assert dropped.texts_since(mark) == [closed]
        for phone in (kept, invited):  # still listed, or came in with an invite
            mark = phone.mark()
            await phone.say("/help")
            assert closed not in phone.texts_since(mark)
    # Nothing more goes to the dropped leader, and what they wrote is still there to export.
    assert pending_nudges(db, "tg:2102") == 0
    assert query(db, "SELECT note FROM schedules WHERE leader_id = 'tg:2102' "
                     "AND kind = 'nudge'") == [("access closed",)]
    assert query(db, "SELECT count(*) FROM sessions WHERE leader_id = 'tg:2102'") == [(1,)]
    assert query(db, "SELECT admitted_via FROM leaders ORDER BY leader_id") == [
        (None,), ("revoked",), ("invite",)]


async def test_the_operator_revokes_and_grants_access(
        api: BotApiStandIn, tmp_path: Path, real_dialogues: Dialogues,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "bot.db"
    await make_invite(db, "AFDELING")
    async with InProcessBot(api, db):
        leader = Phone(api, db, api.user(2201, "Lone"))
        await onboard(leader, "AFDELING")

    def run(*argv: str) -> int:
        return cli.main(["--db", str(db), *argv])

    assert await asyncio.to_thread(run, "access", "revoke", "--user", "2201") == 0
    assert "access closed" in capsys.readouterr().out
    assert pending_nudges(db, "tg:2201") == 0
    async with InProcessBot(api, db):
        mark = leader.mark()
        api.send_text(leader.user, "/reflect")
        await api.wait_for(lambda: leader.texts_since(mark), what="a refusal")
        assert leader.texts_since(mark) == [real_dialogues.strings("tg_access_closed", "da")]

    # Let in again while the bot runs: effective at once, and the weekly reflection is planned
    # by the next tick rather than the next restart.
    async with InProcessBot(api, db, TILLIDSBOT_SCHEDULE_TICK_SECONDS="1"):
        assert await asyncio.to_thread(run, "access", "grant", "--user", "tg:2201") == 0
        mark = leader.mark()
        await leader.say("/help")
        assert real_dialogues.strings("tg_access_closed", "da") not in leader.texts_since(mark)
        await until(lambda: pending_nudges(db, "tg:2201") == 1, what="a planned nudge")
    assert await asyncio.to_thread(run, "access", "revoke", "--user", "tg:999") == 1


async def test_leaders_from_before_the_upgrade_keep_their_access(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    for number, sql in migrations():
        if number >= 10:
            break
        conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO leaders (leader_id, chat_id, language, timezone, settings, "
                 "created_at, updated_at) VALUES ('tg:1', '1', 'da', 'Europe/Copenhagen', '{}', "
                 "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')")
    conn.commit()
    conn.close()
    store = await Store.open(db)  # migrates to the newest version
    await store.close()
    assert query(db, "SELECT admitted_via FROM leaders") == [("granted",)]
