"""Queries for team check-ins, each taking the connection of the caller's transaction.

No function here takes or stores a member's user id: callers pass scoped hashes only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.store import crypto
from bot.team.core import Answer, Example


@dataclass
class Group:
    """A group chat's check-in settings; a group is (channel, chat_id)."""

    channel: str
    chat_id: str
    language: str
    cadence: str
    weekday: int
    at_time: str
    timezone: str
    status: str
    min_respondents: int
    open_hours: int
    next_pulse_at: str | None


@dataclass
class Pulse:
    """One pulse in a group."""

    id: int
    channel: str
    chat_id: str
    seq: int
    status: str
    language: str
    opened_at: str
    closes_at: str
    closed_at: str | None
    message_id: str | None
    shown_count: int
    result: dict[str, Any] | None


@dataclass
class Round:
    """One red/green governance round."""

    id: int
    channel: str
    chat_id: str
    token: str
    status: str
    language: str
    leader_chat: str | None  # None once told the result, or erased with their data
    opened_at: str
    collect_until: str
    vote_hours: int
    vote_until: str | None
    closed_at: str | None
    message_id: str | None
    vote_message_id: str | None
    shown_count: int
    items: list[dict[str, Any]] | None
    result: dict[str, Any] | None
    notified: bool


_SETTINGS = ("language, cadence, weekday, at_time, timezone, status, min_respondents, "
             "open_hours, next_pulse_at")
_GROUP = f"channel, chat_id, {_SETTINGS}"
_PULSE = ("id, channel, chat_id, seq, status, language, opened_at, closes_at, closed_at, "
          "message_id, shown_count, result")
_ROUND = ("r.id, r.channel, r.chat_id, r.token, r.status, r.language, l.leader_chat, r.opened_at, "
          "r.collect_until, r.vote_hours, r.vote_until, r.closed_at, r.message_id, "
          "r.vote_message_id, r.shown_count, r.items, r.result, r.notified")
_ROUNDS = "team_gov_rounds r LEFT JOIN team_gov_leaders l ON l.round_id = r.id"


def _group(row: Any) -> Group:
    """A row as a Group."""
    return Group(*tuple(row))


def _pulse(row: Any) -> Pulse:
    """A row as a Pulse."""
    values = list(row)
    values[11] = json.loads(values[11]) if values[11] else None
    return Pulse(*values)


def _round(conn: aiosqlite.Connection, row: Any) -> Round:
    """A row as a Round (its merged examples opened)."""
    values = list(row)
    items = crypto.open_cell(conn, "team_gov_rounds", "items", {"id": values[0]}, values[15])
    values[15] = json.loads(items) if items else None
    values[16] = json.loads(values[16]) if values[16] else None
    values[17] = bool(values[17])
    return Round(*values)


# ---- groups -----------------------------------------------------------------------------------


async def get_group(conn: aiosqlite.Connection, channel: str, chat_id: str) -> Group | None:
    """A group's settings, if it was ever set up."""
    async with conn.execute(f"SELECT {_GROUP} FROM team_groups WHERE channel = ? AND chat_id = ?",
                            (channel, chat_id)) as cur:
        row = await cur.fetchone()
    return None if row is None else _group(row)


async def ensure_group(conn: aiosqlite.Connection, channel: str, chat_id: str, language: str,
                       now: str) -> Group:
    """The group's row, created with defaults (switched off) on first use."""
    await conn.execute(
        "INSERT INTO team_groups (channel, chat_id, language, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(channel, chat_id) DO NOTHING",
        (channel, chat_id, language, now, now))
    group = await get_group(conn, channel, chat_id)
    assert group is not None
    return group


async def save_group(conn: aiosqlite.Connection, group: Group, now: str) -> None:
    """Store a group's settings."""
    await conn.execute(
        "UPDATE team_groups SET language = ?, cadence = ?, weekday = ?, at_time = ?, "
        "timezone = ?, status = ?, min_respondents = ?, open_hours = ?, next_pulse_at = ?, "
        "updated_at = ? WHERE channel = ? AND chat_id = ?",
        (group.language, group.cadence, group.weekday, group.at_time, group.timezone,
         group.status, group.min_respondents, group.open_hours, group.next_pulse_at, now,
         group.channel, group.chat_id))


async def retire_group(conn: aiosqlite.Connection, channel: str, chat_id: str,
                       now: str) -> None:
    """Switch a group off and close its open pulse and round, keeping no individual inputs."""
    await conn.execute("UPDATE team_groups SET status = 'off', next_pulse_at = NULL, "
                       "updated_at = ? WHERE channel = ? AND chat_id = ?", (now, channel, chat_id))
    async with conn.execute("SELECT id FROM team_pulses WHERE channel = ? AND chat_id = ? "
                            "AND status != 'closed'", (channel, chat_id)) as cur:
        pulses = [int(r[0]) for r in await cur.fetchall()]
    for pulse_id in pulses:
        await conn.execute("UPDATE team_pulses SET status = 'closed', closed_at = ? WHERE id = ?",
                           (now, pulse_id))
        await forget_pulse_answers(conn, pulse_id)
    async with conn.execute(
            "SELECT id FROM team_gov_rounds WHERE channel = ? AND chat_id = ? "
            "AND status != 'closed'", (channel, chat_id)) as cur:
        rounds = [int(r[0]) for r in await cur.fetchall()]
    for round_id in rounds:
        await conn.execute("UPDATE team_gov_rounds SET status = 'closed', closed_at = ? "
                           "WHERE id = ?", (now, round_id))
        await forget_round_inputs(conn, round_id, votes=True)
        await leader_told(conn, round_id)  # nobody will be told about a round cut short


async def due_groups(conn: aiosqlite.Connection, channel: str, now: str) -> list[Group]:
    """One channel's active groups whose next pulse time has come."""
    async with conn.execute(
        f"SELECT {_GROUP} FROM team_groups WHERE status = 'active' AND next_pulse_at IS NOT NULL "
        "AND next_pulse_at <= ? AND channel = ? ORDER BY next_pulse_at", (now, channel)) as cur:
        return [_group(r) for r in await cur.fetchall()]


# ---- pulses -----------------------------------------------------------------------------------


async def create_pulse(conn: aiosqlite.Connection, channel: str, chat_id: str, language: str,
                       now: str, closes_at: str) -> Pulse:
    """A new pulse, numbered after the group's last, waiting for its message to be posted."""
    async with conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM team_pulses "
                            "WHERE channel = ? AND chat_id = ?", (channel, chat_id)) as cur:
        row = await cur.fetchone()
    seq = int(row[0]) if row else 1
    cur2 = await conn.execute(
        "INSERT INTO team_pulses (channel, chat_id, seq, status, language, opened_at, closes_at) "
        "VALUES (?, ?, ?, 'opening', ?, ?, ?)", (channel, chat_id, seq, language, now, closes_at))
    pulse = await get_pulse(conn, int(cur2.lastrowid or 0))
    assert pulse is not None
    return pulse


async def get_pulse(conn: aiosqlite.Connection, pulse_id: int) -> Pulse | None:
    """A pulse by id."""
    async with conn.execute(f"SELECT {_PULSE} FROM team_pulses WHERE id = ?", (pulse_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else _pulse(row)


async def live_pulse(conn: aiosqlite.Connection, channel: str, chat_id: str) -> Pulse | None:
    """The group's pulse that is not yet closed, if any."""
    async with conn.execute(
        f"SELECT {_PULSE} FROM team_pulses WHERE channel = ? AND chat_id = ? "
        "AND status != 'closed' ORDER BY id DESC LIMIT 1", (channel, chat_id)) as cur:
        row = await cur.fetchone()
    return None if row is None else _pulse(row)


async def pulses_in(conn: aiosqlite.Connection, channel: str, status: str,
                    before: str | None = None) -> list[Pulse]:
    """One channel's pulses in one state (optionally only those closing by an instant), oldest
    first."""
    sql = f"SELECT {_PULSE} FROM team_pulses WHERE channel = ? AND status = ?"
    params: list[Any] = [channel, status]
    if before is not None:
        sql += " AND closes_at <= ?"
        params.append(before)
    async with conn.execute(sql + " ORDER BY id", params) as cur:
        return [_pulse(r) for r in await cur.fetchall()]


async def closed_pulses(conn: aiosqlite.Connection, channel: str, chat_id: str,
                        limit: int = 12) -> list[Pulse]:
    """The group's latest closed pulses, oldest first."""
    async with conn.execute(
        f"SELECT {_PULSE} FROM team_pulses WHERE channel = ? AND chat_id = ? "
        "AND status = 'closed' ORDER BY seq DESC LIMIT ?", (channel, chat_id, limit)) as cur:
        rows = [_pulse(r) for r in await cur.fetchall()]
    return rows[::-1]


async def set_pulse(conn: aiosqlite.Connection, pulse_id: int, **fields: Any) -> None:
    """Update some of a pulse's columns (status, message_id, shown_count, result, …)."""
    allowed = {"status", "message_id", "shown_count", "result", "closed_at", "closes_at"}
    if not fields or set(fields) - allowed:
        raise ValueError(f"cannot set {sorted(set(fields) - allowed)} on a pulse")
    values = [json.dumps(v) if k == "result" and v is not None else v for k, v in fields.items()]
    assignments = ", ".join(f"{k} = ?" for k in fields)
    await conn.execute(f"UPDATE team_pulses SET {assignments} WHERE id = ?", (*values, pulse_id))


async def put_answer(conn: aiosqlite.Connection, pulse_id: int, member_hash: str,
                     trust: int | None = None, meaning: str | None = None) -> None:
    """Set or change one member's answer to one question (the other is kept)."""
    await conn.execute(
        "INSERT INTO team_pulse_answers (pulse_id, member_hash, trust, meaning) "
        "VALUES (?, ?, ?, ?) ON CONFLICT(pulse_id, member_hash) DO UPDATE SET "
        "trust = COALESCE(excluded.trust, trust), meaning = COALESCE(excluded.meaning, meaning)",
        (pulse_id, member_hash, trust, meaning))


async def answers_to(conn: aiosqlite.Connection, pulse_id: int) -> list[Answer]:
    """The current answers in a pulse, without who gave them."""
    async with conn.execute("SELECT trust, meaning FROM team_pulse_answers WHERE pulse_id = ?",
                            (pulse_id,)) as cur:
        return [Answer(r[0], r[1]) for r in await cur.fetchall()]


async def respondents(conn: aiosqlite.Connection, pulse_id: int) -> int:
    """How many members answered a pulse."""
    async with conn.execute("SELECT COUNT(*) FROM team_pulse_answers WHERE pulse_id = ?",
                            (pulse_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


# ---- governance rounds ------------------------------------------------------------------------


async def create_round(conn: aiosqlite.Connection, channel: str, chat_id: str, token: str,
                       language: str, leader_chat: str | None, now: str, collect_until: str,
                       vote_hours: int) -> Round:
    """Open a governance round for collecting examples (leader_chat None: nobody is to be
    told the result privately)."""
    cur = await conn.execute(
        "INSERT INTO team_gov_rounds (channel, chat_id, token, status, language, opened_at, "
        "collect_until, vote_hours) VALUES (?, ?, ?, 'collecting', ?, ?, ?, ?)",
        (channel, chat_id, token, language, now, collect_until, vote_hours))
    round_id = int(cur.lastrowid or 0)
    if leader_chat is not None:
        await conn.execute("INSERT INTO team_gov_leaders (round_id, leader_chat) VALUES (?, ?)",
                           (round_id, leader_chat))
    found = await get_round(conn, round_id)
    assert found is not None
    return found


async def get_round(conn: aiosqlite.Connection, round_id: int) -> Round | None:
    """A round by id."""
    async with conn.execute(f"SELECT {_ROUND} FROM {_ROUNDS} WHERE r.id = ?",
                            (round_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else _round(conn, row)


async def round_by_token(conn: aiosqlite.Connection, channel: str, token: str) -> Round | None:
    """One channel's round by the token in its link."""
    async with conn.execute(f"SELECT {_ROUND} FROM {_ROUNDS} WHERE r.channel = ? AND r.token = ?",
                            (channel, token)) as cur:
        row = await cur.fetchone()
    return None if row is None else _round(conn, row)


async def live_round(conn: aiosqlite.Connection, channel: str, chat_id: str) -> Round | None:
    """The group's round still collecting or voting, if any."""
    async with conn.execute(
        f"SELECT {_ROUND} FROM {_ROUNDS} WHERE r.channel = ? AND r.chat_id = ? "
        "AND r.status != 'closed' ORDER BY r.id DESC LIMIT 1", (channel, chat_id)) as cur:
        row = await cur.fetchone()
    return None if row is None else _round(conn, row)


async def rounds_due(conn: aiosqlite.Connection, channel: str, now: str) -> list[Round]:
    """One channel's rounds whose collecting or voting time is over, or whose leader is still
    to be told."""
    async with conn.execute(
        f"SELECT {_ROUND} FROM {_ROUNDS} WHERE r.channel = ? AND ((r.status = 'collecting' AND "
        "r.collect_until <= ?) OR (r.status = 'voting' AND r.vote_until <= ?) OR "
        "(r.status = 'closed' AND r.notified = 0)) ORDER BY r.id", (channel, now, now)) as cur:
        return [_round(conn, r) for r in await cur.fetchall()]


async def set_round(conn: aiosqlite.Connection, round_id: int, **fields: Any) -> None:
    """Update some of a round's columns."""
    allowed = {"status", "message_id", "vote_message_id", "shown_count", "items", "result",
               "vote_until", "closed_at", "notified", "collect_until"}
    if not fields or set(fields) - allowed:
        raise ValueError(f"cannot set {sorted(set(fields) - allowed)} on a round")
    values = [json.dumps(v, ensure_ascii=False) if k in ("items", "result") and v is not None
              else v for k, v in fields.items()]
    if "items" in fields:  # the merged examples are the team's words: sealed
        at = list(fields).index("items")
        values[at] = await crypto.seal_cell(conn, "team_gov_rounds", "items",
                                            {"id": round_id}, values[at])
    assignments = ", ".join(f"{k} = ?" for k in fields)
    await conn.execute(f"UPDATE team_gov_rounds SET {assignments} WHERE id = ?",
                       (*values, round_id))


async def leader_told(conn: aiosqlite.Connection, round_id: int) -> None:
    """The round's result went to its leader, or never will: mark it and forget who they were.

    The admin who opened a round need not be a leader of the bot, so nothing would ever let
    them export or erase their chat id; it is kept only as long as it is needed.
    """
    await conn.execute("UPDATE team_gov_rounds SET notified = 1 WHERE id = ?", (round_id,))
    await conn.execute("DELETE FROM team_gov_leaders WHERE round_id = ?", (round_id,))


async def add_example(conn: aiosqlite.Connection, round_id: int, example_id: str, colour: str,
                      text: str, contributor_hash: str) -> int:
    """Store an example (no author) and count it for its contributor; return their count."""
    await conn.execute(
        "INSERT INTO team_gov_examples (round_id, id, colour, text) VALUES (?, ?, ?, ?)",
        (round_id, example_id, colour,
         await crypto.seal_cell(conn, "team_gov_examples", "text",
                          {"round_id": round_id, "id": example_id}, text)))
    await conn.execute(
        "INSERT INTO team_gov_contributors (round_id, member_hash, examples) VALUES (?, ?, 1) "
        "ON CONFLICT(round_id, member_hash) DO UPDATE SET examples = examples + 1",
        (round_id, contributor_hash))
    return await contributions(conn, round_id, contributor_hash)


async def contributions(conn: aiosqlite.Connection, round_id: int, contributor_hash: str) -> int:
    """How many examples one (hashed) member sent in a round."""
    async with conn.execute(
        "SELECT examples FROM team_gov_contributors WHERE round_id = ? AND member_hash = ?",
        (round_id, contributor_hash)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def contributor_count(conn: aiosqlite.Connection, round_id: int) -> int:
    """How many members sent at least one example."""
    async with conn.execute("SELECT COUNT(*) FROM team_gov_contributors WHERE round_id = ?",
                            (round_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def examples_of(conn: aiosqlite.Connection, round_id: int) -> list[Example]:
    """A round's examples in storage order (random ids, so no order of arrival)."""
    async with conn.execute(
        "SELECT colour, text, id FROM team_gov_examples WHERE round_id = ? ORDER BY id",
        (round_id,)) as cur:
        rows = await cur.fetchall()
    found = [(r[0], crypto.open_cell(conn, "team_gov_examples", "text",
                                     {"round_id": round_id, "id": r[2]}, r[1])) for r in rows]
    return [Example(colour, text, index)
            for index, (colour, text) in enumerate(((c, t) for c, t in found if t is not None),
                                                   start=1)]


async def set_draft(conn: aiosqlite.Connection, member_hash: str, round_id: int,
                    colour: str | None, now: str) -> None:
    """Remember that a member is about to send an example to a round (and its colour)."""
    await conn.execute(
        "INSERT INTO team_gov_drafts (member_hash, round_id, colour, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT(member_hash) DO UPDATE SET round_id = excluded.round_id, "
        "colour = excluded.colour, created_at = excluded.created_at",
        (member_hash, round_id, colour, now))


async def get_draft(conn: aiosqlite.Connection, member_hash: str) -> tuple[int, str | None] | None:
    """A member's pending example: (round id, colour)."""
    async with conn.execute(
        "SELECT round_id, colour FROM team_gov_drafts WHERE member_hash = ?",
        (member_hash,)) as cur:
        row = await cur.fetchone()
    return None if row is None else (int(row[0]), row[1])


async def draft_created(conn: aiosqlite.Connection, member_hash: str) -> str | None:
    """When a member's pending example was started (or its colour chosen)."""
    async with conn.execute("SELECT created_at FROM team_gov_drafts WHERE member_hash = ?",
                            (member_hash,)) as cur:
        row = await cur.fetchone()
    return None if row is None else str(row[0])


async def draft_holders(conn: aiosqlite.Connection) -> list[str]:
    """The (hashed) members with a pending example."""
    async with conn.execute("SELECT member_hash FROM team_gov_drafts") as cur:
        return [str(r[0]) for r in await cur.fetchall()]


async def drop_draft(conn: aiosqlite.Connection, member_hash: str) -> None:
    """Forget a member's pending example."""
    await conn.execute("DELETE FROM team_gov_drafts WHERE member_hash = ?", (member_hash,))


async def put_vote(conn: aiosqlite.Connection, round_id: int, item: int, member_hash: str,
                   option: str) -> None:
    """Cast or change a member's vote on one red example."""
    await conn.execute(
        "INSERT INTO team_gov_votes (round_id, item, member_hash, option) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(round_id, item, member_hash) DO UPDATE SET option = excluded.option",
        (round_id, item, member_hash, option))


async def votes_of(conn: aiosqlite.Connection, round_id: int) -> list[tuple[int, str]]:
    """Every vote in a round as (item, option), without who cast it."""
    async with conn.execute("SELECT item, option FROM team_gov_votes WHERE round_id = ?",
                            (round_id,)) as cur:
        return [(int(r[0]), str(r[1])) for r in await cur.fetchall()]


async def voter_count(conn: aiosqlite.Connection, round_id: int) -> int:
    """How many members voted on at least one example."""
    async with conn.execute(
        "SELECT COUNT(DISTINCT member_hash) FROM team_gov_votes WHERE round_id = ?",
        (round_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def example_count(conn: aiosqlite.Connection, round_id: int) -> int:
    """How many examples a round has collected."""
    async with conn.execute("SELECT COUNT(*) FROM team_gov_examples WHERE round_id = ?",
                            (round_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def forget_pulse_answers(conn: aiosqlite.Connection, pulse_id: int) -> None:
    """Delete a closed pulse's individual answers: its aggregate is all that is kept."""
    await conn.execute("DELETE FROM team_pulse_answers WHERE pulse_id = ?", (pulse_id,))


async def forget_round_inputs(conn: aiosqlite.Connection, round_id: int,
                              votes: bool = False) -> None:
    """Delete a round's raw examples, contributor counts and drafts (and votes, when asked)
    once their merged form or tally is stored.

    The round's key goes with its raw examples (when the transaction commits): a database
    backup taken while the round was collecting no longer yields them either.
    """
    for table in ("team_gov_examples", "team_gov_contributors", "team_gov_drafts"):
        await conn.execute(f"DELETE FROM {table} WHERE round_id = ?", (round_id,))
    await crypto.keyring(conn).doom(conn, crypto.round_owner(round_id))
    if votes:
        await conn.execute("DELETE FROM team_gov_votes WHERE round_id = ?", (round_id,))


async def mark_send(conn: aiosqlite.Connection, key: str, owner: str, now: str) -> bool:
    """Mark a send as under way; False when someone already marked it."""
    cur = await conn.execute(
        "INSERT INTO team_sends (key, owner, started_at) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO NOTHING", (key, owner, now))
    return cur.rowcount == 1


async def unmark_send(conn: aiosqlite.Connection, key: str) -> None:
    """The send is over (recorded, or failed and to be tried again)."""
    await conn.execute("DELETE FROM team_sends WHERE key = ?", (key,))


async def orphaned_sends(conn: aiosqlite.Connection, owner: str) -> list[str]:
    """Sends marked by a process that is no longer running (not this owner)."""
    async with conn.execute("SELECT key FROM team_sends WHERE owner != ? ORDER BY started_at",
                            (owner,)) as cur:
        return [str(r[0]) for r in await cur.fetchall()]


# ---- a group that became a supergroup ---------------------------------------------------------

# Every column that holds a group's chat id (each beside a `channel` column: a group is the
# pair). Checked against the schema by a test, so a later migration that keys something else
# by the group's chat fails until it is added here.
# (Only Telegram groups move; the bot-kept admins and references of 0021 are Teams'.)
GROUP_CHAT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("team_groups", "chat_id"), ("team_pulses", "chat_id"), ("team_gov_rounds", "chat_id"),
    ("team_setup_wizards", "chat_id"), ("team_admins", "chat_id"),
    ("team_group_refs", "chat_id"))


@dataclass
class Moved:
    """What a move left to do in the new chat: live messages that were in the old one."""

    pulses: list[int]  # open pulses, set back to 'opening' so they are posted again
    rounds: list[int]  # rounds collecting or voting whose message is to be posted again


async def move_group(conn: aiosqlite.Connection, channel: str, old: str, new: str,
                     now: str) -> Moved | None:
    """Move a group's settings, pulses and rounds from its old chat id to its new one, within
    its channel.

    None when there is nothing under the old id (moved already, or never set up): repeating a
    move changes nothing. The caller checks that the new id has no team of its own.

    Member hashes are scoped to a pulse or round id (pulse:<id>, vote:<id>, contrib:<id>),
    never to the chat, and ids do not change here: an answer given before the move and one
    given after it by the same member still share a hash, so the second replaces the first.
    Pending sends in team_sends are keyed by pulse or round id too, so their marks stay valid.
    """
    if await get_group(conn, channel, old) is None:
        return None
    # A copy under the new id first, children moved, the old row last: foreign keys stay
    # satisfied at every statement (SQLite cannot update a parent key that children use).
    await conn.execute(
        f"INSERT INTO team_groups ({_GROUP}, created_at, updated_at) "
        f"SELECT channel, ?, {_SETTINGS}, created_at, ? FROM team_groups "
        "WHERE channel = ? AND chat_id = ?", (new, now, channel, old))
    # Messages in the old chat can no longer be edited. An open pulse goes back to 'opening'
    # (posted again in the new chat, same id, answers kept); other live messages are dropped
    # so that no edit is aimed at the old chat.
    async with conn.execute(
            "SELECT id FROM team_pulses WHERE channel = ? AND chat_id = ? AND status = 'open' "
            "AND message_id IS NOT NULL ORDER BY id", (channel, old)) as cur:
        pulses = [int(r[0]) for r in await cur.fetchall()]
    await conn.execute(
        "UPDATE team_pulses SET status = CASE WHEN status = 'open' THEN 'opening' "
        "ELSE status END, message_id = NULL, shown_count = 0 "
        "WHERE channel = ? AND chat_id = ? AND status != 'closed'", (channel, old))
    async with conn.execute(
            "SELECT id FROM team_gov_rounds WHERE channel = ? AND chat_id = ? AND "
            "((status = 'collecting' AND message_id IS NOT NULL) OR "
            "(status = 'voting' AND vote_message_id IS NOT NULL)) ORDER BY id",
            (channel, old)) as cur:
        rounds = [int(r[0]) for r in await cur.fetchall()]
    await conn.execute(
        "UPDATE team_gov_rounds SET message_id = NULL, vote_message_id = NULL, shown_count = 0 "
        "WHERE channel = ? AND chat_id = ? AND status != 'closed'", (channel, old))
    for table, column in GROUP_CHAT_COLUMNS[1:]:
        await conn.execute(f"UPDATE {table} SET {column} = ? WHERE channel = ? AND {column} = ?",
                           (new, channel, old))
    await conn.execute("DELETE FROM team_groups WHERE channel = ? AND chat_id = ?",
                       (channel, old))
    await conn.execute(
        "INSERT INTO team_chat_moves (channel, old_chat_id, new_chat_id, moved_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT(channel, old_chat_id) DO UPDATE SET "
        "new_chat_id = excluded.new_chat_id, moved_at = excluded.moved_at",
        (channel, old, new, now))
    return Moved(pulses, rounds)


async def moved_to(conn: aiosqlite.Connection, channel: str, chat_id: str) -> str | None:
    """The chat id a group moved to, if it moved."""
    async with conn.execute("SELECT new_chat_id FROM team_chat_moves WHERE channel = ? "
                            "AND old_chat_id = ?", (channel, chat_id)) as cur:
        row = await cur.fetchone()
    return None if row is None else str(row[0])


# ---- the setup wizard -------------------------------------------------------------------------


@dataclass
class Wizard:
    """A /checkin setup wizard in progress (or finished): the choices made so far."""

    id: int
    channel: str
    chat_id: str
    message_id: str | None
    status: str  # 'open' | 'saved' | 'cancelled' | 'replaced'
    step: int
    version: int
    language: str
    cadence: str | None
    weekday: int | None
    at_time: str | None
    timezone: str | None
    pulse_language: str | None
    updated_at: str


_WIZARD = ("id, channel, chat_id, message_id, status, step, version, language, cadence, "
           "weekday, at_time, timezone, pulse_language, updated_at")


async def create_wizard(conn: aiosqlite.Connection, channel: str, chat_id: str, language: str,
                        group: Group | None, now: str) -> Wizard:
    """A new open wizard, its choices taken from the group's settings when it has any."""
    settings = (None,) * 5 if group is None else (
        group.cadence, group.weekday, group.at_time, group.timezone, group.language)
    cur = await conn.execute(
        "INSERT INTO team_setup_wizards (channel, chat_id, language, cadence, weekday, at_time, "
        "timezone, pulse_language, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (channel, chat_id, language, *settings, now, now))
    wizard = await get_wizard(conn, int(cur.lastrowid or 0))
    assert wizard is not None
    return wizard


async def get_wizard(conn: aiosqlite.Connection, wizard_id: int) -> Wizard | None:
    """A wizard by id."""
    async with conn.execute(f"SELECT {_WIZARD} FROM team_setup_wizards WHERE id = ?",
                            (wizard_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else Wizard(*tuple(row))


async def open_wizard(conn: aiosqlite.Connection, channel: str, chat_id: str) -> Wizard | None:
    """The group's newest wizard still open, if any."""
    async with conn.execute(f"SELECT {_WIZARD} FROM team_setup_wizards WHERE channel = ? "
                            "AND chat_id = ? AND status = 'open' ORDER BY id DESC LIMIT 1",
                            (channel, chat_id)) as cur:
        row = await cur.fetchone()
    return None if row is None else Wizard(*tuple(row))


async def save_wizard(conn: aiosqlite.Connection, wizard: Wizard, seen: int, now: str) -> bool:
    """Store a wizard's new step and choices, bumping its version, only if it is still open at
    the version the press saw; False when another press (or a newer wizard) got there first."""
    cur = await conn.execute(
        "UPDATE team_setup_wizards SET status = ?, step = ?, version = version + 1, cadence = ?, "
        "weekday = ?, at_time = ?, timezone = ?, pulse_language = ?, updated_at = ? "
        "WHERE id = ? AND version = ? AND status = 'open'",
        (wizard.status, wizard.step, wizard.cadence, wizard.weekday, wizard.at_time,
         wizard.timezone, wizard.pulse_language, now, wizard.id, seen))
    if cur.rowcount != 1:
        return False
    wizard.version = seen + 1
    wizard.updated_at = now
    return True


async def set_wizard_message(conn: aiosqlite.Connection, wizard_id: int,
                             message_id: str | None) -> None:
    """Remember the wizard's message once it is posted."""
    await conn.execute("UPDATE team_setup_wizards SET message_id = ? WHERE id = ?",
                       (message_id, wizard_id))


async def replace_wizards(conn: aiosqlite.Connection, channel: str, chat_id: str) -> list[str]:
    """Close a group's open wizards and drop its finished ones (a new one starts); returns the
    message ids of those that were open, so their buttons can be taken away."""
    async with conn.execute(
            "SELECT message_id FROM team_setup_wizards WHERE channel = ? AND chat_id = ? "
            "AND status = 'open' AND message_id IS NOT NULL", (channel, chat_id)) as cur:
        open_messages = [str(r[0]) for r in await cur.fetchall()]
    # Finished wizards hold nothing worth keeping; ids are never reused, so their buttons
    # still find nothing.
    await conn.execute("DELETE FROM team_setup_wizards WHERE channel = ? AND chat_id = ? "
                       "AND status != 'open'", (channel, chat_id))
    await close_wizards(conn, channel, chat_id)
    return open_messages


async def close_wizards(conn: aiosqlite.Connection, channel: str, chat_id: str) -> None:
    """Close a group's open setup wizards: their buttons no longer do anything."""
    await conn.execute("UPDATE team_setup_wizards SET status = 'replaced', "
                       "version = version + 1 WHERE channel = ? AND chat_id = ? "
                       "AND status = 'open'", (channel, chat_id))
