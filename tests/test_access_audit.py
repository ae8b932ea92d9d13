"""Access control under pressure: every kind of update from people who were not let in, invite
codes raced, reused and flooded, and oversized input from an admitted leader."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.access import REFUSAL_INTERVAL, Cooldown
from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.store.db import Store
from bot.store.privacy import rows_mentioning
from tests.botapi_standin import BotApiStandIn, User
from tests.test_telegram import free_port, make_invite, onboard
from tests.tgkit import InProcessBot, Phone, query

STRANGER = 4400001


async def traces_of(db: Path, user_id: int) -> dict[str, int]:
    """Rows in any table with any column holding the user's id or leader id."""
    store = await Store.open(db)
    try:
        found = await rows_mentioning(store.conn, str(user_id))
        found.update(await rows_mentioning(store.conn, f"tg:{user_id}"))
        return found
    finally:
        await store.close()


def every_table_empty_of_people(db: Path) -> dict[str, int]:
    """Row counts of every table (for a database that only strangers wrote to)."""
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        counts = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()
    # Invite codes are the operator's; the team link's update id names no one; crypto_state
    # only names the key store that belongs to the database.
    return {n: c for n, c in counts.items()
            if c and n not in ("invites", "inbound_events", "crypto_state")}


def member_update(api: BotApiStandIn, user: User, status: str) -> dict[str, Any]:
    """my_chat_member: the user started (member) or blocked (kicked) the bot."""
    old = "kicked" if status == "member" else "member"
    return {"my_chat_member": {
        "chat": api.chats[user.id], "from": user.to_dict(), "date": 0,
        "old_chat_member": {"user": api.bot, "status": old, **(
            {"until_date": 0} if old == "kicked" else {})},
        "new_chat_member": {"user": api.bot, "status": status, **(
            {"until_date": 0} if status == "kicked" else {})}}}


async def test_every_kind_of_update_from_a_stranger_leaves_nothing(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    await make_invite(db, "REALCODE", uses=1)
    refused = real_dialogues.strings("tg_refused", "en")
    async with BotApiStandIn() as api:
        async with InProcessBot(api, db):
            stranger = api.user(STRANGER, "Mallory", "en")
            api.deliver(member_update(api, stranger, "member"))  # pressed START ...
            api.send_text(stranger, "/start")  # ... which also sends /start
            await api.wait_for(lambda: api.sent_texts(STRANGER), what="the refusal")
            first = api.send_text(stranger, "Mit private navn og min adresse")
            api.edit_text(stranger, first_message_id(api, first), "rettet tekst")
            api.callback_queries["q1"] = {"answered": False, "text": None, "chat_id": None}
            api.deliver({"callback_query": {
                "id": "q1", "from": stranger.to_dict(), "chat_instance": "x",
                "message": {"message_id": 1, "date": 0, "chat": api.chats[STRANGER],
                            "text": "?"}, "data": "m:start:delegate"}})
            api.deliver({"inline_query": {"id": "iq1", "from": stranger.to_dict(),
                                          "query": "hej", "offset": ""}})
            for payload in ("group", "gov_", "X" * 10_000, "REAL CODE", "../../etc/passwd",
                            "realcode"):
                api.send_text(stranger, f"/start {payload}")
            api.send_sticker(stranger)
            await api.wait_for(lambda: api.answered("q1"), what="the button's answer")
            api.deliver(member_update(api, stranger, "kicked"))  # blocked the bot
        texts = api.sent_texts(STRANGER)
    # One polite refusal is enough: not one per update, and none for START or blocking.
    # ("/start gov_" is a team member's link, answered by the team feature in their language.)
    unknown_link = real_dialogues.strings("team_gov_unknown_link", "en")
    assert sorted(texts) == sorted([refused, unknown_link])
    assert await traces_of(db, STRANGER) == {}
    assert every_table_empty_of_people(db) == {}
    assert query(db, "SELECT uses FROM invites") == [(0,)]


def first_message_id(api: BotApiStandIn, update_id: int) -> int:
    """The message id of the text message in an update the stand-in delivered."""
    for (chat_id, message_id), message in api.messages.items():
        if chat_id == STRANGER and message.get("text") == "Mit private navn og min adresse":
            return message_id
    raise AssertionError(f"no message for update {update_id}")


async def test_two_people_racing_for_a_one_use_code_admit_one(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    await make_invite(db, "RACE", uses=1)
    welcome = real_dialogues.strings("welcome", "da")
    async with BotApiStandIn() as api, InProcessBot(api, db):
        racers = [api.user(4500000 + n, f"R{n}") for n in range(8)]
        for racer in racers:  # one batch: the bot runs different chats concurrently
            api.send_text(racer, "/start RACE")
        await api.wait_for(lambda: all(api.sent_texts(r.id) for r in racers),
                           what="an answer to everyone")
        # The welcome opens the first message (the language question rides under it).
        welcomed = [r.id for r in racers
                    if any(t.startswith(welcome) for t in api.sent_texts(r.id))]
    assert len(welcomed) == 1
    assert query(db, "SELECT leader_id FROM leaders") == [(f"tg:{welcomed[0]}",)]
    assert query(db, "SELECT uses FROM invites") == [(1,)]


async def test_oversized_text_and_button_data_from_a_leader_change_nothing(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api, InProcessBot(api, db, ALLOWED_USER_IDS="4600001"):
        phone = Phone(api, db, api.user(4600001, "Lea"))
        await onboard(phone)
        await phone.say("/delegate")
        step = phone.step()
        await phone.say("x" * 10_000)  # more than any text question takes
        await phone.press(phone.last(), data="m:" + "9" * 5000)
        assert phone.step() == step
        assert api.answered(max(api.callback_queries, key=int))


def test_refusals_repeat_after_a_minute_and_memory_stays_bounded() -> None:
    clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    cooldown = Cooldown(limit=100)
    assert cooldown.ready(1, clock.now())
    assert not cooldown.ready(1, clock.now() + timedelta(seconds=59))
    clock.advance(REFUSAL_INTERVAL + timedelta(seconds=1))
    assert cooldown.ready(1, clock.now())
    for key in range(10_000):  # a flood from many accounts at once
        cooldown.ready(key + 2, clock.now())
    assert len(cooldown) == 100
    clock.advance(REFUSAL_INTERVAL + timedelta(seconds=1))
    cooldown.ready(0, clock.now())
    assert len(cooldown) == 1


async def test_a_webhook_without_a_configured_secret_gets_a_random_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bot.db"
    port = free_port()
    caplog.set_level(logging.INFO)
    secrets: list[str] = []
    async with BotApiStandIn() as api:
        for _ in range(2):  # each start chooses a new secret and tells Telegram
            async with InProcessBot(api, db, WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
                                    WEBHOOK_PORT=str(port), ALLOWED_USER_IDS="4700001"):
                assert api.webhook is not None
                secret = str(api.webhook["secret_token"])
                secrets.append(secret)
                user = api.user(4700001, "Vera")
                post = {"update_id": 77, "message": {"message_id": 1, "date": 0,
                                                     "chat": api.chats[4700001],
                                                     "from": user.to_dict(), "text": "/start"}}
                assert await api.post_webhook(post, None) == 403
                assert await api.post_webhook(post, "") == 403
                await Phone(api, db, user).say("/help")  # Telegram's post, with the secret
    assert len(secrets[0]) >= 32 and secrets[0] != secrets[1]
    assert query(db, "SELECT count(*) FROM inbound_events WHERE event_id LIKE '%:77'") == [(0,)]
    assert not any(s in caplog.text for s in secrets)
