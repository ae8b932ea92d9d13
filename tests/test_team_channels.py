"""Team check-ins on more than one channel: groups carry their channel, each channel's gateway
ticks only its own groups, the at-most-once guard, per-group locks, the 0014 migration, and a
leader's private text costing no draft lookup. Real SQLite files, a manual clock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.dialogue.state import OutMessage
from bot.store import db as store_db
from bot.store.db import Store
from bot.team.delivery import GroupLocks, Mark, SendMarks, at_most_once
from bot.team.service import Team, TeamService

GROUP = "-1001"  # the same chat id on both channels
ADMIN = "7000000900"
MEMBERS = ["5100000001", "5100000002", "5100000003"]
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday


@dataclass
class Recorder:
    """A channel's gateway that records what it is asked to do (channel-neutral ids)."""

    name: str
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (what, chat, text)
    hold_edits_in: str | None = None  # edits in this chat wait for `release`
    release: asyncio.Event = field(default_factory=asyncio.Event)
    editing: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, chat_id: str, message: OutMessage) -> str | None:
        self.sent.append(("send", chat_id, message.text))
        return str(len(self.sent))

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        if chat_id == self.hold_edits_in:
            self.editing.set()
            await self.release.wait()
        self.sent.append(("edit", chat_id, message.text))

    async def private(self, to: str, message: OutMessage) -> None:
        self.sent.append(("private", to, message.text))

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return user_id == ADMIN

    def private_link(self) -> str:
        return f"{self.name}://bot"

    def round_link(self, token: str) -> str:
        return f"{self.name}://bot/round/{token}"

    def round_token(self, payload: str) -> str | None:
        prefix = f"{self.name}-round-"
        return payload[len(prefix):] if payload.startswith(prefix) else None

    def round_button(self, token: str) -> str | None:
        return None


@dataclass
class Two:
    """One Team, two channels attached, one database file."""

    team: Team
    clock: ManualClock
    telegram: TeamService
    teams: TeamService
    tg: Recorder
    ms: Recorder
    db: Path


@pytest.fixture
async def two(tmp_path: Path, real_dialogues: Dialogues) -> AsyncIterator[Two]:
    clock = ManualClock(START)
    store = await Store.open(tmp_path / "team.db")
    team = Team(store, real_dialogues, clock, b"test-secret")
    tg, ms = Recorder("telegram"), Recorder("teams")
    yield Two(team, clock, team.attach("telegram", tg), team.attach("teams", ms), tg, ms,
              tmp_path / "team.db")
    await store.close()


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows read with a separate connection, as an operator would."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def pulse_buttons(pulse_id: int) -> tuple[str, str]:
    """The callback data of 'trust 4' and 'meaning yes' for a pulse."""
    return f"tp:{pulse_id}:t:4", f"tp:{pulse_id}:m:y"


async def live_pulse_id(two: Two, channel: str) -> int:
    """The id of the channel's open pulse in GROUP."""
    found = rows(two.db, f"SELECT id FROM team_pulses WHERE channel = '{channel}' "
                         "AND status != 'closed'")
    assert len(found) == 1
    return int(str(found[0][0]))


async def test_the_same_group_id_on_two_channels_does_not_collide(two: Two) -> None:
    await two.telegram.command(GROUP, ADMIN, "setup weekly friday 13:30 da")
    await two.teams.command(GROUP, ADMIN, "setup weekly monday 10:00 Europe/Oslo nb")
    assert rows(two.db, "SELECT channel, chat_id, weekday, language FROM team_groups "
                        "ORDER BY channel") == [("teams", GROUP, 0, "nb"),
                                                ("telegram", GROUP, 4, "da")]
    # Each channel's reply went through its own gateway only, in its group's language.
    assert [s[0] for s in two.tg.sent] == ["send"] and "fredag" in two.tg.sent[0][2]
    assert [s[0] for s in two.ms.sent] == ["send"] and "mandag" in two.ms.sent[0][2]

    await two.telegram.command(GROUP, ADMIN, "now")
    await two.teams.command(GROUP, ADMIN, "now")
    tg_pulse, ms_pulse = await live_pulse_id(two, "telegram"), await live_pulse_id(two, "teams")
    assert tg_pulse != ms_pulse
    assert rows(two.db, "SELECT channel, seq FROM team_pulses ORDER BY channel") == [
        ("teams", 1), ("telegram", 1)]  # numbered per group, and these are two groups

    # A press carrying the other channel's pulse is stale here, although the chat id matches.
    trust, _ = pulse_buttons(tg_pulse)
    assert await two.teams.button(GROUP, MEMBERS[0], trust) == two.teams.ui(
        "team_toast_stale", "nb")
    for member in MEMBERS:
        for data in pulse_buttons(tg_pulse):
            assert await two.telegram.button(GROUP, member, data) == two.telegram.ui(
                "team_toast_saved", "da")
    assert rows(two.db, f"SELECT COUNT(*) FROM team_pulse_answers WHERE pulse_id = {tg_pulse}"
                ) == [(3,)]
    assert rows(two.db, f"SELECT COUNT(*) FROM team_pulse_answers WHERE pulse_id = {ms_pulse}"
                ) == [(0,)]


async def test_each_gateway_ticks_only_its_own_groups(two: Two) -> None:
    await two.telegram.command(GROUP, ADMIN, "now")
    await two.teams.command(GROUP, ADMIN, "now")
    two.clock.advance(timedelta(hours=49))
    tg_before, ms_before = len(two.tg.sent), len(two.ms.sent)

    await two.teams.tick()  # one channel's tick: the other channel's due pulse stays open
    assert len(two.tg.sent) == tg_before
    assert [s[0] for s in two.ms.sent[ms_before:]] == ["edit", "send"]
    assert "for få svar" in two.ms.sent[-1][2]  # nb wording is 'for få svar' as well
    assert rows(two.db, "SELECT channel, status FROM team_pulses ORDER BY channel") == [
        ("teams", "closed"), ("telegram", "open")]

    await two.team.tick()  # the core's tick: every channel, each through its own gateway
    assert [(s[0], s[1]) for s in two.tg.sent[tg_before:]] == [("edit", GROUP), ("send", GROUP)]
    assert len(two.ms.sent) == ms_before + 2  # nothing more for the channel done already
    assert rows(two.db, "SELECT channel, status FROM team_pulses ORDER BY channel") == [
        ("teams", "closed"), ("telegram", "closed")]


async def test_a_group_moving_on_one_channel_leaves_the_other_channels_group(two: Two) -> None:
    await two.telegram.command(GROUP, ADMIN, "setup weekly friday 13:30")
    await two.teams.command(GROUP, ADMIN, "setup weekly friday 13:30")
    await two.telegram.follow(GROUP, "-1002")
    assert rows(two.db, "SELECT channel, chat_id FROM team_groups ORDER BY channel") == [
        ("teams", GROUP), ("telegram", "-1002")]
    assert rows(two.db, "SELECT channel, old_chat_id, new_chat_id FROM team_chat_moves") == [
        ("telegram", GROUP, "-1002")]


async def test_governance_links_and_private_starts_are_the_channels_own(two: Two) -> None:
    await two.teams.command(GROUP, ADMIN, "governance 2")
    invitation = next(s for s in two.ms.sent if s[0] == "send")[2]
    token = invitation.split("teams://bot/round/")[1].split()[0]
    assert ("private", ADMIN, two.teams.ui("team_gov_leader_hello", "da")) in two.ms.sent
    # Telegram's payload shape means nothing here; the round is not Telegram's either.
    assert not await two.teams.private_start(MEMBERS[0], MEMBERS[0], f"gov_{token}")
    assert await two.telegram.private_start(MEMBERS[0], MEMBERS[0],
                                            f"telegram-round-{token}")
    assert two.tg.sent[-1] == ("private", MEMBERS[0],
                               two.telegram.ui("team_gov_unknown_link", "da"))
    assert await two.teams.private_start(MEMBERS[0], MEMBERS[0], f"teams-round-{token}")
    assert two.ms.sent[-1][0] == "private"
    assert two.ms.sent[-1][2] == two.teams.ui("team_gov_intro", "da")
    assert await two.teams.has_draft(MEMBERS[0])
    assert not await two.telegram.has_draft(MEMBERS[0])  # the same user id, another channel


class Steps:
    """A guarded step that records how often its body ran and can be held mid-send."""

    def __init__(self, marks: SendMarks) -> None:
        """Nothing ran yet."""
        self.marks = marks
        self.ran: list[int] = []
        self.inside = asyncio.Event()
        self.go_on = asyncio.Event()

    @at_most_once("post")
    async def post(self, number: int, mark: Mark) -> None:
        """Mark, then 'send' (waiting for go_on)."""
        async with mark as mine:
            if not mine:
                return
            self.ran.append(number)
            self.inside.set()
            await self.go_on.wait()


async def test_at_most_once_runs_a_step_once_per_key_and_survives_a_restart(
        tmp_path: Path) -> None:
    clock = ManualClock(START)
    store = await Store.open(tmp_path / "marks.db")
    try:
        steps = Steps(SendMarks(store, clock))
        first = asyncio.ensure_future(steps.post(1))
        await steps.inside.wait()
        await steps.post(1)  # the same key while the first runs: returns at once, no send
        assert steps.ran == [1]
        steps.go_on.set()
        await first
        await steps.post(2)  # another key runs
        assert steps.ran == [1, 2]
        assert rows(tmp_path / "marks.db", "SELECT * FROM team_sends") == []

        # A process that died mid-send left its mark: a new process does not send again.
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO team_sends (key, owner, started_at) "
                             "VALUES ('post:3', 'dead-process', '2026-11-23T08:00:00+00:00')")
        restarted = Steps(SendMarks(store, clock))
        restarted.go_on.set()
        await restarted.post(3)
        assert restarted.ran == []
        assert await restarted.marks.settle_orphaned() == 1
        assert rows(tmp_path / "marks.db", "SELECT * FROM team_sends") == []

        # A step that fails in this process takes its mark away, so the next try sends.
        failing = Steps(SendMarks(store, clock))

        @at_most_once("publish")
        async def broken(self: Steps, number: int, mark: Mark) -> None:
            async with mark as mine:
                assert mine
                raise ConnectionError("network down")

        with pytest.raises(ConnectionError):
            await broken(failing, 4)
        assert rows(tmp_path / "marks.db", "SELECT * FROM team_sends") == []
        assert failing.marks.inflight == set()
    finally:
        await store.close()


async def test_a_slow_edit_in_one_group_does_not_hold_up_another_group(two: Two) -> None:
    await two.telegram.command("-2001", ADMIN, "now")
    await two.telegram.command("-2002", ADMIN, "now")
    ids = {chat: int(str(rows(two.db, f"SELECT id FROM team_pulses WHERE chat_id = '{chat}'"
                                      )[0][0])) for chat in ("-2001", "-2002")}
    two.tg.hold_edits_in = "-2001"
    slow = asyncio.ensure_future(two.telegram.button("-2001", MEMBERS[0], f"tp:{ids['-2001']}:t:4"))
    await two.tg.editing.wait()  # group -2001's count edit is on the network, holding its lock
    assert len(two.team.locks) == 1
    other = asyncio.ensure_future(two.telegram.button("-2002", MEMBERS[0],
                                                      f"tp:{ids['-2002']}:t:4"))
    # A guard against a deadlock, not a measure of speed: one shared lock would never let the
    # second group's edit through while the first waits.
    done, _ = await asyncio.wait({other}, timeout=30)
    assert other in done and not slow.done()
    assert ("edit", "-2002") in [(s[0], s[1]) for s in two.tg.sent]
    two.tg.release.set()
    await slow
    assert [(s[0], s[1]) for s in two.tg.sent if s[0] == "edit"] == [("edit", "-2002"),
                                                                    ("edit", "-2001")]
    assert len(two.team.locks) == 0  # pruned once nobody holds or waits


async def test_group_locks_serialise_one_group_and_are_pruned() -> None:
    locks = GroupLocks()
    order: list[str] = []
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold(name: str, key: str, wait: bool) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            if wait:
                entered.set()
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.ensure_future(hold("a", "g1", True))
    await entered.wait()
    second = asyncio.ensure_future(hold("b", "g1", False))  # same group: waits
    await hold("c", "g2", False)  # another group: straight through
    assert order == ["a in", "c in", "c out"]
    assert len(locks) == 1
    release.set()
    await asyncio.gather(first, second)
    assert order[3:] == ["a out", "b in", "b out"]
    assert len(locks) == 0


async def test_a_leaders_private_text_costs_no_draft_lookup(two: Two) -> None:
    calls = 0
    real = two.team.store.transaction

    def counting():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real()

    await two.telegram.has_draft(ADMIN)  # the first question reads who has drafts, once
    two.team.store.transaction = counting  # type: ignore[method-assign]
    try:
        assert not await two.telegram.has_draft(ADMIN)
        assert not await two.telegram.private_text(ADMIN, ADMIN, "Hvordan går det?")
        assert calls == 0
    finally:
        two.team.store.transaction = real  # type: ignore[method-assign]


async def test_migration_0014_keeps_every_team_row_as_telegrams(tmp_path: Path) -> None:
    """A database from before groups had a channel: rows, ids and counters survive."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys=ON")
    for number, sql in store_db.migrations():
        if number > 13:
            break
        for statement in store_db._statements(sql):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 13")
    now = "2026-11-23T08:00:00+00:00"
    conn.execute("INSERT INTO team_groups (chat_id, created_at, updated_at, status) "
                 "VALUES ('-1001', ?, ?, 'active')", (now, now))
    conn.execute("INSERT INTO team_pulses (id, chat_id, seq, status, language, opened_at, "
                 "closes_at) VALUES (7, '-1001', 1, 'open', 'da', ?, ?)", (now, now))
    conn.execute("INSERT INTO team_pulses (id, chat_id, seq, status, language, opened_at, "
                 "closes_at) VALUES (9, '-1001', 2, 'closed', 'da', ?, ?)", (now, now))
    conn.execute("DELETE FROM team_pulses WHERE id = 9")  # the counter stays at 9
    conn.execute("INSERT INTO team_pulse_answers (pulse_id, member_hash, trust) "
                 "VALUES (7, 'h', 4)")
    conn.execute("INSERT INTO team_gov_rounds (id, chat_id, token, status, language, "
                 "opened_at, collect_until, vote_hours) VALUES (3, '-1001', 'tok', "
                 "'collecting', 'da', ?, ?, 48)", (now, now))
    conn.execute("INSERT INTO team_gov_leaders (round_id, leader_chat) VALUES (3, '42')")
    conn.execute("INSERT INTO team_gov_examples (round_id, id, colour, text) "
                 "VALUES (3, 'e', 'red', 'x')")
    conn.execute("INSERT INTO team_chat_moves (old_chat_id, new_chat_id, moved_at) "
                 "VALUES ('-5', '-1001', ?)", (now,))
    conn.execute("INSERT INTO team_setup_wizards (chat_id, language, created_at, updated_at) "
                 "VALUES ('-1001', 'da', ?, ?)", (now, now))
    conn.commit()
    conn.close()

    store = await Store.open(db)
    try:
        async with store.conn.execute("PRAGMA foreign_keys") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 1  # switched back on after the migration
    finally:
        await store.close()
    for table in ("team_groups", "team_pulses", "team_gov_rounds", "team_chat_moves",
                  "team_setup_wizards"):
        assert rows(db, f"SELECT DISTINCT channel FROM {table}") == [("telegram",)], table
    assert rows(db, "SELECT id, seq FROM team_pulses") == [(7, 1)]
    assert rows(db, "SELECT pulse_id, trust FROM team_pulse_answers") == [(7, 4)]
    assert rows(db, "SELECT round_id, leader_chat FROM team_gov_leaders") == [(3, "42")]
    assert rows(db, "SELECT round_id FROM team_gov_examples") == [(3,)]
    assert rows(db, "SELECT seq FROM sqlite_sequence WHERE name = 'team_pulses'") == [(9,)]
    assert rows(db, "PRAGMA foreign_key_check") == []
    # Deleting a group still cascades to its pulses and rounds (the new composite keys).
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("DELETE FROM team_groups")
    conn.commit()
    conn.close()
    assert rows(db, "SELECT COUNT(*) FROM team_pulses") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM team_pulse_answers") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM team_gov_leaders") == [(0,)]
