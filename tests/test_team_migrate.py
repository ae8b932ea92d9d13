"""A team's group becomes a supergroup: the real bot (run_telegram, PTB) follows it to its new
chat id, whether a service message or a refused send tells it first. Against the Bot API
stand-in, with the clock moved by the test; nothing here sleeps."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.store import team as repo
from bot.store.db import Store
from tests.botapi_standin import BotApiStandIn, Call, User
from tests.tgkit import InProcessBot, query, until, update_status

OLD = -4009876543  # a basic group
NEW = -1009876543210  # the supergroup it became
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Copenhagen
NEXT_PULSE = datetime(2026, 11, 30, 8, 0, 30, tzinfo=UTC)  # the next scheduled one
NAMES = ("Anna", "Bjørn", "Cecilie", "Dorte", "Emil")
TICK = {"TILLIDSBOT_TEAM_TICK_SECONDS": "0.05"}


class Group:
    """A basic group with an admin and five members, and how to act in it."""

    def __init__(self, api: BotApiStandIn, db: Path) -> None:
        """Create the group and its people."""
        self.api = api
        self.db = db
        self.chat = api.group(OLD, "Hjemmeplejen Syd", kind="group")
        self.admin = api.user(7000000002, "Lene", "da")
        api.set_member(OLD, self.admin, "administrator")
        self.members = [api.user(5300000001 + i, name, "da") for i, name in enumerate(NAMES)]

    async def done(self, update_id: int) -> None:
        """Wait until the bot has finished an update."""
        await until(lambda: update_status(self.db, update_id) == "done",
                    what=f"update {update_id}")

    async def say(self, user: User, text: str, chat_id: int = OLD) -> None:
        """Write in the group and wait for the bot."""
        await self.done(self.api.send_text(user, text, self.api.chats[chat_id]))

    async def answer(self, user: User, message: dict[str, Any], label: str) -> None:
        """Press a pulse button by its label and wait."""
        await self.done(self.api.press(user, message, self.api.button_data(message, label)))

    def pulse(self, chat_id: int, seq: int) -> dict[str, Any] | None:
        """The newest message of pulse #seq in a chat that still has answer buttons."""
        found = [m for m in self.api.bot_messages(chat_id) if f"#{seq}" in m.get("text", "")
                 and any(str(b.get("callback_data", "")).startswith("tp:")
                         for b in self.api.buttons(m))]
        return found[-1] if found else None

    async def first_result(self) -> None:
        """Set the weekly pulse up and run pulse #1 to a shown result (three answer 4, Ja)."""
        await self.say(self.admin, "/checkin setup ugentlig mandag 09:00 Europe/Copenhagen da")
        await self.say(self.admin, "/checkin now")
        first = self.pulse(OLD, 1)
        assert first is not None
        for member in self.members[:3]:
            await self.answer(member, first, "4")
            await self.answer(member, first, "Ja")
        await self.say(self.admin, "/checkin close")
        assert self.api.calls_of("sendPhoto")[-1].params["chat_id"] == OLD


def calls_to(api: BotApiStandIn, chat_id: int, since: int = 0) -> list[Call]:
    """Every call the bot made that named a chat, from index since of the call log on."""
    return [c for c in api.calls[since:] if c.params.get("chat_id") == chat_id
            and not c.method.startswith("_")]


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """A query's rows, sorted."""
    return sorted(query(db, sql))


async def test_service_message_moves_the_team_and_history_continues(tmp_path: Path) -> None:
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        group = Group(api, db)
        anna, bjorn, cecilie, dorte, _ = group.members
        async with InProcessBot(api, db, clock=clock, **TICK):
            await group.first_result()
            # Pulse #2 is open with two answers when the group is upgraded.
            await group.say(group.admin, "/checkin now")
            second = group.pulse(OLD, 2)
            assert second is not None
            await group.answer(anna, second, "2")
            await group.answer(bjorn, second, "2")
            api.upgrade_group(OLD, NEW)
            upgraded = len(api.calls)
            await group.done(api.deliver(api.migrate_to_message(OLD, group.admin)))

            # Everything moved in one go, under the same ids.
            assert rows(db, "SELECT chat_id FROM team_groups") == [(str(NEW),)]
            assert rows(db, "SELECT chat_id, seq, status FROM team_pulses") == [
                (str(NEW), 1, "closed"), (str(NEW), 2, "open")]
            # The open pulse is posted again in the supergroup, its two answers counted.
            again = group.pulse(NEW, 2)
            assert again is not None and "Svar indtil nu: 2" in again["text"]
            assert api.buttons(again) == api.buttons(second)  # the same pulse

            # Anna changes her answer there: it replaces the one she gave before the move.
            await group.answer(anna, again, "3")
            await group.answer(cecilie, again, "4")
            # A press on the message left in the old chat still counts, in the same pulse.
            await group.answer(dorte, second, "3")
            assert rows(db, "SELECT COUNT(*) FROM team_pulse_answers") == [(4,)]
            assert "Svar indtil nu: 4" in api.messages[(NEW, again["message_id"])]["text"]

            # The result comes in the supergroup and compares with pulse #1 (mean 4.0).
            clock.advance(timedelta(hours=48))
            photo = await until(lambda: [c for c in api.calls_of("sendPhoto")
                                         if "#2" in str(c.params.get("caption"))],
                                what="the result of pulse #2")
            caption = str(photo[-1].params["caption"])
            assert photo[-1].params["chat_id"] == NEW
            assert caption.startswith("Tillidspuls #2 – resultat (4 svar)")
            assert "Gennemsnit 3,0 (−1,0 siden sidste puls)" in caption

            # The schedule carries on in the supergroup: pulse #3 on Monday.
            clock.set(NEXT_PULSE)
            third = await until(lambda: group.pulse(NEW, 3), what="the scheduled pulse #3")
            assert third is not None
            assert calls_to(api, OLD, upgraded) == []  # nothing was aimed at the old id
            assert rows(db, f"SELECT seq FROM team_pulses WHERE chat_id = '{NEW}'") == [
                (1,), (2,), (3,)]


async def test_refused_send_moves_the_team_and_posts_once(tmp_path: Path) -> None:
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        group = Group(api, db)
        async with InProcessBot(api, db, clock=clock, **TICK):
            await group.first_result()
            # Upgraded without any service message reaching the bot; then the pulse is due.
            api.upgrade_group(OLD, NEW)
            upgraded = len(api.calls)
            clock.set(NEXT_PULSE)
            pulse = await until(lambda: group.pulse(NEW, 2), what="pulse #2 in the supergroup")
            assert pulse is not None and "Svar indtil nu: 0" in pulse["text"]
            await until(lambda: rows(db, "SELECT status FROM team_pulses WHERE seq = 2") == [
                ("open",)] and not rows(db, "SELECT * FROM team_sends"),
                what="pulse #2 recorded as posted")

            # One refused send to the old id, then the pulse exactly once in the supergroup.
            refused = calls_to(api, OLD, upgraded)
            assert [(c.method, c.status) for c in refused] == [("sendMessage", 400)]
            posted = [c for c in calls_to(api, NEW) if "#2" in str(c.params.get("text"))]
            assert [(c.method, c.ok) for c in posted] == [("sendMessage", True)]
            assert rows(db, "SELECT chat_id FROM team_groups") == [(str(NEW),)]
            assert rows(db, "SELECT chat_id, seq, status FROM team_pulses") == [
                (str(NEW), 1, "closed"), (str(NEW), 2, "open")]
            assert rows(db, "SELECT * FROM team_sends") == []

            # Answered and closed in the supergroup, compared with the pulse before the move.
            for member in group.members[:3]:
                await group.answer(member, pulse, "5")
            clock.advance(timedelta(hours=48))
            photo = await until(lambda: [c for c in api.calls_of("sendPhoto")
                                         if "#2" in str(c.params.get("caption"))],
                                what="the result of pulse #2")
            assert photo[-1].params["chat_id"] == NEW
            assert "Gennemsnit 5,0 (+1,0 siden sidste puls)" in str(photo[-1].params["caption"])
            # A second tick round changes nothing: still a single pulse #2 message.
            assert len([c for c in calls_to(api, NEW) if "#2" in str(c.params.get("text"))
                        and c.method == "sendMessage"]) == 1
            assert len(calls_to(api, OLD, upgraded)) == 1


async def test_service_messages_twice_and_both_ways_move_once(tmp_path: Path) -> None:
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        group = Group(api, db)
        anna = group.members[0]
        async with InProcessBot(api, db, clock=clock, **TICK):
            await group.say(group.admin, "/checkin setup ugentlig mandag 09:00 "
                                         "Europe/Copenhagen da")
            await group.say(group.admin, "/checkin now")
            first = group.pulse(OLD, 1)
            assert first is not None
            await group.answer(anna, first, "4")
            await group.say(group.admin, "/checkin governance 2")
            before = {table: rows(db, f"SELECT COUNT(*) FROM {table}") for table in (
                "team_groups", "team_pulses", "team_pulse_answers", "team_gov_rounds",
                "team_gov_leaders")}

            api.upgrade_group(OLD, NEW)
            # The supergroup's message first (the same update delivered twice), then the old
            # group's, then the old group's again as a separate update.
            await group.done(api.deliver_twice(api.migrate_from_message(OLD)))
            await group.done(api.deliver(api.migrate_to_message(OLD, group.admin)))
            await group.done(api.deliver(api.migrate_to_message(OLD, group.admin)))
            await group.done(api.deliver(api.migrate_from_message(OLD)))

            after = {table: rows(db, f"SELECT COUNT(*) FROM {table}") for table in before}
            assert after == before  # nothing duplicated, nothing lost
            assert rows(db, "SELECT chat_id FROM team_groups") == [(str(NEW),)]
            assert rows(db, "SELECT chat_id FROM team_pulses") == [(str(NEW),)]
            assert rows(db, "SELECT chat_id FROM team_gov_rounds") == [(str(NEW),)]
            assert rows(db, "SELECT old_chat_id, new_chat_id FROM team_chat_moves") == [
                (str(OLD), str(NEW))]
            # The open pulse and the round's invitation were posted again, once each.
            posts = [str(c.params.get("text")) for c in calls_to(api, NEW)
                     if c.method == "sendMessage"]
            assert len(posts) == 2, posts
            assert "#1" in posts[0] and "Svar indtil nu: 1" in posts[0]
            assert "start=gov_" in posts[1]
            # Anna answering again in the supergroup changes her answer, no second row.
            again = group.pulse(NEW, 1)
            assert again is not None
            await group.answer(anna, again, "2")
            assert rows(db, "SELECT trust FROM team_pulse_answers") == [(2,)]


async def test_every_group_chat_column_is_moved(tmp_path: Path) -> None:
    """A table that keys something by a group's chat id must be moved with the group."""
    store = await Store.open(tmp_path / "schema.db")
    await store.close()
    conn = sqlite3.connect(tmp_path / "schema.db")
    chat_columns = set()
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for column in conn.execute(f"PRAGMA table_info({table})"):
            if "chat" in column[1].lower():
                chat_columns.add((table, column[1]))
    conn.close()
    private_chats = {("leaders", "chat_id"), ("team_gov_leaders", "leader_chat")}
    moves = {("team_chat_moves", "old_chat_id"), ("team_chat_moves", "new_chat_id")}
    assert chat_columns == set(repo.GROUP_CHAT_COLUMNS) | private_chats | moves
