"""Queries over the store, each taking the connection of the caller's transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from bot.store import crypto, memo, schedules

DEFAULT_TIMEZONE = "Europe/Copenhagen"


@dataclass
class Leader:
    """A leader's profile and settings."""

    leader_id: str
    chat_id: str | None
    language: str
    timezone: str
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


@dataclass
class ThreadRow:
    """One conversation thread in a leader's history."""

    thread: str
    conversation: str
    status: str
    language: str
    headline: str | None
    summary: str | None
    started_at: str
    finished_at: str | None
    parent_thread: str | None


LEADER_COLUMNS = "leader_id, chat_id, language, timezone, settings, created_at"


def _leader_of(row: Any) -> Leader:
    """A Leader from a row of LEADER_COLUMNS (each call a fresh object to change and save)."""
    return Leader(row[0], row[1], row[2], row[3], json.loads(row[4] or "{}"), row[5])


def remember_leader(conn: aiosqlite.Connection, leader_id: str, row: Any) -> None:
    """Keep a leader row (LEADER_COLUMNS, or None: no such leader) read by other code for the
    rest of the transaction (bot/store/memo.py)."""
    memo.put(conn, "leaders", leader_id, None if row is None else tuple(row))


async def get_leader(conn: aiosqlite.Connection, leader_id: str) -> Leader | None:
    """A leader by id."""
    kept = memo.get(conn, "leaders", leader_id)
    if kept is memo.MISS:
        # One hand-off to aiosqlite's thread (execute, fetch and close are three).
        rows = list(await conn.execute_fetchall(
            f"SELECT {LEADER_COLUMNS} FROM leaders WHERE leader_id = ?", (leader_id,)))
        kept = tuple(rows[0]) if rows else None
        memo.put(conn, "leaders", leader_id, kept)
    return None if kept is None else _leader_of(kept)


async def create_leader(
    conn: aiosqlite.Connection, leader_id: str, chat_id: str | None, language: str, now: str,
    timezone: str = DEFAULT_TIMEZONE,
) -> Leader:
    """Insert a leader (idempotent) and return the stored row."""
    cur = await conn.execute(
        "INSERT INTO leaders (leader_id, chat_id, language, timezone, settings, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, '{}', ?, ?) ON CONFLICT(leader_id) DO NOTHING",
        (leader_id, chat_id, language, timezone, now, now),
    )
    if cur.rowcount == 1:  # inserted: the row is what was written
        memo.put(conn, "leaders", leader_id, (leader_id, chat_id, language, timezone, "{}", now))
    else:  # there already: the database knows it
        memo.drop(conn, "leaders", leader_id)
    leader = await get_leader(conn, leader_id)
    assert leader is not None
    return leader


async def update_leader(
    conn: aiosqlite.Connection, leader: Leader, now: str
) -> None:
    """Save a leader's language, time zone, chat and settings."""
    settings = json.dumps(leader.settings)
    cur = await conn.execute(
        "UPDATE leaders SET chat_id = ?, language = ?, timezone = ?, settings = ?, "
        "updated_at = ? WHERE leader_id = ?",
        (leader.chat_id, leader.language, leader.timezone, settings, now, leader.leader_id),
    )
    if cur.rowcount:
        memo.put(conn, "leaders", leader.leader_id, (
            leader.leader_id, leader.chat_id, leader.language, leader.timezone, settings,
            leader.created_at))
    else:
        memo.put(conn, "leaders", leader.leader_id, None)


async def load_session(conn: aiosqlite.Connection, leader_id: str) -> str | None:
    """The JSON state of a leader's active conversation, if any."""
    kept = memo.get(conn, "sessions", leader_id)
    if kept is not memo.MISS:
        return str(kept) if kept is not None else None
    rows = list(await conn.execute_fetchall("SELECT state FROM sessions WHERE leader_id = ?",
                                            (leader_id,)))  # one hand-off to the thread
    # None also when the leader's key was erased (an old backup): nothing to resume.
    state = None if not rows else crypto.open_cell(conn, "sessions", "state",
                                                    {"leader_id": leader_id}, rows[0][0])
    memo.put(conn, "sessions", leader_id, state)
    return state


async def save_session(conn: aiosqlite.Connection, leader_id: str, state: str | None,
                       now: str) -> None:
    """Store (or clear, with None) a leader's active conversation state."""
    if state is None:
        await conn.execute("DELETE FROM sessions WHERE leader_id = ?", (leader_id,))
        memo.put(conn, "sessions", leader_id, None)
        return
    memo.drop(conn, "sessions", leader_id)  # kept again only once the write succeeded
    await conn.execute(
        "INSERT INTO sessions (leader_id, state, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(leader_id) DO UPDATE SET state = excluded.state, "
        "updated_at = excluded.updated_at",
        (leader_id,
         await crypto.seal_cell(conn, "sessions", "state", {"leader_id": leader_id}, state), now),
    )
    memo.put(conn, "sessions", leader_id, state)


async def start_thread(
    conn: aiosqlite.Connection, thread: str, leader_id: str, conversation: str, language: str,
    now: str, parent_thread: str | None = None,
) -> None:
    """Record that a conversation thread began."""
    await conn.execute(
        "INSERT INTO threads (thread, leader_id, conversation, parent_thread, status, language, "
        "started_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
        (thread, leader_id, conversation, parent_thread, language, now),
    )


async def end_thread(conn: aiosqlite.Connection, thread: str, status: str, now: str) -> None:
    """Mark a thread finished, cancelled or abandoned."""
    await conn.execute(
        "UPDATE threads SET status = ?, finished_at = ? WHERE thread = ? AND status = 'active'",
        (status, now, thread),
    )


async def set_summary(conn: aiosqlite.Connection, thread: str, summary: str,
                      headline: str) -> None:
    """Attach a rendered summary to a thread; later ones (an agreement draft) are appended."""
    async with conn.execute("SELECT leader_id, summary, headline FROM threads WHERE thread = ?",
                            (thread,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return
    key = {"leader_id": row[0], "thread": thread}
    before = crypto.open_cell(conn, "threads", "summary", key, row[1]) or ""
    kept = crypto.open_cell(conn, "threads", "headline", key, row[2]) or ""
    text = summary if not before else f"{before}\n\n{summary}"
    await conn.execute(
        "UPDATE threads SET summary = ?, headline = ? WHERE thread = ?",
        (await crypto.seal_cell(conn, "threads", "summary", key, text),
         await crypto.seal_cell(conn, "threads", "headline", key, kept or headline), thread))


async def add_answer(
    conn: aiosqlite.Connection, leader_id: str, thread: str, conversation: str, node: str,
    name: str, value: Any, now: str,
) -> None:
    """Append one answer to the history."""
    # The row id is part of the sealed value's associated data, so the row comes first.
    cur = await conn.execute(
        "INSERT INTO answers (leader_id, thread, conversation, node, name, value, created_at) "
        "VALUES (?, ?, ?, ?, ?, x'', ?)",
        (leader_id, thread, conversation, node, name, now),
    )
    key = {"leader_id": leader_id, "id": cur.lastrowid}
    await conn.execute("UPDATE answers SET value = ? WHERE id = ?", (
        await crypto.seal_cell(conn, "answers", "value", key,
                               json.dumps(value, ensure_ascii=False)),
        cur.lastrowid))


async def answers_of(conn: aiosqlite.Connection, leader_id: str) -> list[dict[str, Any]]:
    """Every answer a leader gave, oldest first."""
    async with conn.execute(
        "SELECT thread, conversation, node, name, value, created_at, id FROM answers "
        "WHERE leader_id = ? ORDER BY id", (leader_id,)
    ) as cur:
        rows = await cur.fetchall()
    found = []
    for r in rows:
        value = answer_value(conn, leader_id, r[6], r[4])
        if value is not None:  # unreadable: its key was erased
            found.append({"thread": r[0], "conversation": r[1], "node": r[2], "name": r[3],
                          "value": json.loads(value), "at": r[5]})
    return found


def answer_value(conn: aiosqlite.Connection, leader_id: str, answer_id: int,
                 stored: Any) -> str | None:
    """An answer's stored JSON text, opened (None when it cannot be read any more)."""
    return crypto.open_cell(conn, "answers", "value", {"leader_id": leader_id, "id": answer_id},
                            stored)


def _thread_row(conn: aiosqlite.Connection, leader_id: str, row: Any) -> ThreadRow:
    """A threads row (columns as in _THREAD) with its headline and summary opened."""
    found = ThreadRow(*tuple(row))
    key = {"leader_id": leader_id, "thread": found.thread}
    found.headline = crypto.open_cell(conn, "threads", "headline", key, found.headline)
    found.summary = crypto.open_cell(conn, "threads", "summary", key, found.summary)
    return found


async def threads_of(
    conn: aiosqlite.Connection, leader_id: str, status: str | None = "finished",
    limit: int = 1000, offset: int = 0,
) -> list[ThreadRow]:
    """A leader's threads, newest first."""
    where = "leader_id = ?" + (" AND status = ?" if status else "")
    params: tuple[Any, ...] = (leader_id, status) if status else (leader_id,)
    async with conn.execute(
        "SELECT thread, conversation, status, language, headline, summary, started_at, "
        f"finished_at, parent_thread FROM threads WHERE {where} "
        "ORDER BY COALESCE(finished_at, started_at) DESC, rowid DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ) as cur:
        rows = await cur.fetchall()
    return [_thread_row(conn, leader_id, r) for r in rows]


async def get_thread(conn: aiosqlite.Connection, leader_id: str, thread: str) -> ThreadRow | None:
    """One of a leader's threads (None if it is someone else's)."""
    async with conn.execute(
        "SELECT thread, conversation, status, language, headline, summary, started_at, "
        "finished_at, parent_thread FROM threads WHERE leader_id = ? AND thread = ?",
        (leader_id, thread),
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else _thread_row(conn, leader_id, row)


async def add_schedule(
    conn: aiosqlite.Connection, leader_id: str, kind: str, due_at: str, now: str,
    conversation: str | None = None, thread: str | None = None, tag: str | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Add a pending scheduled message and return its id."""
    return await schedules.add(conn, leader_id, kind, due_at, now, conversation=conversation,
                               thread=thread, tag=tag, payload=payload)


async def cancel_schedules(
    conn: aiosqlite.Connection, leader_id: str, thread: str, now: str, tag: str | None = None,
) -> int:
    """Cancel pending schedules tied to a thread (optionally one tag); return how many."""
    sql = ("UPDATE schedules SET status = 'cancelled', updated_at = ? WHERE leader_id = ? "
           "AND thread = ? AND status = 'pending'")
    params: list[Any] = [now, leader_id, thread]
    if tag:
        sql += " AND tag = ?"
        params.append(tag)
    cur = await conn.execute(sql, params)
    return cur.rowcount


async def pending_schedules(conn: aiosqlite.Connection, leader_id: str) -> list[dict[str, Any]]:
    """A leader's pending scheduled messages, soonest first."""
    async with conn.execute(
        "SELECT id, kind, conversation, thread, tag, due_at, payload FROM schedules "
        "WHERE leader_id = ? AND status = 'pending' ORDER BY due_at", (leader_id,)
    ) as cur:
        rows = await cur.fetchall()
    return [
        {"id": r[0], "kind": r[1], "conversation": r[2], "thread": r[3], "tag": r[4],
         "due_at": r[5], "payload": schedules.payload_of(conn, leader_id, r[0], r[6])}
        for r in rows
    ]



async def count_threads(conn: aiosqlite.Connection, leader_id: str,
                        status: str | None = "finished") -> int:
    """How many threads a leader has (of one status, by default finished)."""
    where = "leader_id = ?" + (" AND status = ?" if status else "")
    params: tuple[Any, ...] = (leader_id, status) if status else (leader_id,)
    async with conn.execute(f"SELECT count(*) FROM threads WHERE {where}", params) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def schedules_of(conn: aiosqlite.Connection, leader_id: str) -> list[dict[str, Any]]:
    """Every scheduled message of a leader, whatever its status, oldest first."""
    async with conn.execute(
        "SELECT id, kind, conversation, thread, tag, due_at, status, payload, created_at, "
        "updated_at FROM schedules WHERE leader_id = ? ORDER BY due_at, id", (leader_id,)
    ) as cur:
        rows = await cur.fetchall()
    return [
        {"id": r[0], "kind": r[1], "conversation": r[2], "thread": r[3], "tag": r[4],
         "due_at": r[5], "status": r[6],
         "payload": schedules.payload_of(conn, leader_id, r[0], r[7]), "created_at": r[8],
         "updated_at": r[9]}
        for r in rows
    ]
