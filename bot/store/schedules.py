"""Queries over the schedules table (the source of truth for everything sent later)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiosqlite

from bot.store import crypto

_COLUMNS = ("id, leader_id, kind, conversation, thread, tag, due_at, status, payload, "
            "parent_id, sent_at, note")

DELIVERED = ("sent", "unconfirmed")


@dataclass
class Row:
    """One scheduled message."""

    id: int
    leader_id: str
    kind: str
    conversation: str | None
    thread: str | None
    tag: str | None
    due_at: str
    status: str
    payload: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
    sent_at: str | None = None
    note: str | None = None

    @property
    def origin(self) -> int:
        """The weekly nudge a snooze or reminder belongs to (a nudge is its own origin)."""
        return self.parent_id if self.parent_id is not None else self.id


@dataclass(frozen=True)
class Due:
    """A due row as the dispatcher queues it: enough to order and pace it."""

    id: int
    leader_id: str
    chat_id: str
    due_at: str


def _row(conn: aiosqlite.Connection, raw: Any) -> Row:
    """Build a Row from a SELECT of _COLUMNS."""
    return Row(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
               payload_of(conn, raw[1], raw[0], raw[8]), raw[9], raw[10], raw[11])


def payload_of(conn: aiosqlite.Connection, leader_id: str, row_id: int,
               stored: Any) -> dict[str, Any]:
    """A row's payload, opened when sealed ({} when its key was erased)."""
    text = crypto.open_cell(conn, "schedules", "payload", {"leader_id": leader_id, "id": row_id},
                            stored)
    return dict(json.loads(text or "{}"))


async def _store_payload(conn: aiosqlite.Connection, leader_id: str, row_id: int,
                         payload: dict[str, Any]) -> None:
    """Write a row's payload, sealed when it carries the leader's words (a follow-up's
    context); nudge payloads stay plain for the json_extract in last_slots."""
    text = json.dumps(payload, ensure_ascii=False)
    stored: str | bytes | None = text
    if "context" in payload:
        stored = await crypto.seal_cell(conn, "schedules", "payload",
                                  {"leader_id": leader_id, "id": row_id}, text)
    await conn.execute("UPDATE schedules SET payload = ? WHERE id = ?", (stored, row_id))


async def add(
    conn: aiosqlite.Connection, leader_id: str, kind: str, due_at: str, now: str, *,
    conversation: str | None = None, thread: str | None = None, tag: str | None = None,
    payload: dict[str, Any] | None = None, parent_id: int | None = None,
) -> int:
    """Insert a pending row and return its id."""
    cur = await conn.execute(
        "INSERT INTO schedules (leader_id, kind, conversation, thread, tag, due_at, status, "
        "payload, created_at, updated_at, parent_id) "
        "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        (leader_id, kind, conversation, thread, tag, due_at,
         json.dumps(payload or {}, ensure_ascii=False) if "context" not in (payload or {})
         else "{}", now, now, parent_id),
    )
    row_id = int(cur.lastrowid or 0)
    if payload and "context" in payload:  # sealed with its row id, so the row comes first
        await _store_payload(conn, leader_id, row_id, payload)
    return row_id


async def get(conn: aiosqlite.Connection, row_id: int) -> Row | None:
    """A row by id."""
    async with conn.execute(f"SELECT {_COLUMNS} FROM schedules WHERE id = ?", (row_id,)) as cur:
        raw = await cur.fetchone()
    return None if raw is None else _row(conn, raw)


async def set_status(
    conn: aiosqlite.Connection, row_id: int, status: str, now: str, *, note: str | None = None,
    expect: str | None = None, sent_at: str | None = None, thread: str | None = None,
) -> bool:
    """Move a row to a status (only from `expect` if given); return whether it changed."""
    sql = ("UPDATE schedules SET status = ?, updated_at = ?, note = COALESCE(?, note), "
           "sent_at = COALESCE(?, sent_at), thread = COALESCE(?, thread) WHERE id = ?")
    params: list[Any] = [status, now, note, sent_at, thread, row_id]
    if expect is not None:
        sql += " AND status = ?"
        params.append(expect)
    cur = await conn.execute(sql, params)
    return cur.rowcount == 1


async def postpone(conn: aiosqlite.Connection, row_id: int, due_at: str, now: str,
                   note: str) -> None:
    """Move a pending row to a later instant (quiet hours, a pause, a busy leader)."""
    await conn.execute(
        "UPDATE schedules SET due_at = ?, note = ?, updated_at = ? "
        "WHERE id = ? AND status = 'pending'", (due_at, note, now, row_id))


async def set_payload(conn: aiosqlite.Connection, row_id: int, payload: dict[str, Any],
                      now: str) -> None:
    """Replace a row's payload."""
    async with conn.execute("SELECT leader_id FROM schedules WHERE id = ?", (row_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return
    await _store_payload(conn, str(row[0]), row_id, payload)
    await conn.execute("UPDATE schedules SET updated_at = ? WHERE id = ?", (now, row_id))


async def due(conn: aiosqlite.Connection, now: str, limit: int,
              leader_prefix: str | Sequence[str] | None = None) -> list[Due]:
    """Pending rows due by `now`, oldest due first (served by the (status, due_at) index);
    with leader_prefix, only leaders whose id starts with it (or with one of them)."""
    sql = ("SELECT s.id, s.leader_id, COALESCE(l.chat_id, ''), s.due_at FROM schedules s "
           "JOIN leaders l ON l.leader_id = s.leader_id "
           "WHERE s.status = 'pending' AND s.due_at <= ?")
    params: list[Any] = [now]
    prefixes = [leader_prefix] if isinstance(leader_prefix, str) else list(leader_prefix or [])
    if prefixes:
        sql += " AND (" + " OR ".join(["(s.leader_id >= ? AND s.leader_id < ?)"] * len(
            prefixes)) + ")"
        for prefix in prefixes:
            params += [prefix, prefix + "\uffff"]
    sql += " ORDER BY s.due_at, s.id LIMIT ?"
    params.append(limit)
    async with conn.execute(sql, params) as cur:
        rows = await cur.fetchall()
    return [Due(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


async def reconcile_sending(conn: aiosqlite.Connection, now: str) -> int:
    """At start-up: rows left 'sending' by a crash may have reached the leader; never resend."""
    cur = await conn.execute(
        "UPDATE schedules SET status = 'unconfirmed', updated_at = ?, "
        "note = 'the bot stopped between sending and recording' WHERE status = 'sending'",
        (now,))
    return cur.rowcount


async def pending_nudge(conn: aiosqlite.Connection, leader_id: str) -> Row | None:
    """The leader's upcoming weekly nudge, if any."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM schedules WHERE leader_id = ? AND kind = 'nudge' "
        "AND status = 'pending'", (leader_id,)
    ) as cur:
        raw = await cur.fetchone()
    return None if raw is None else _row(conn, raw)


async def last_slot(conn: aiosqlite.Connection, leader_id: str) -> date | None:
    """The local date of the latest weekly nudge already handled (sent, skipped or missed)."""
    async with conn.execute(
        "SELECT payload FROM schedules WHERE leader_id = ? AND kind = 'nudge' "
        "AND status NOT IN ('pending', 'cancelled') ORDER BY due_at DESC, id DESC LIMIT 1",
        (leader_id,)
    ) as cur:
        raw = await cur.fetchone()
    if raw is None:
        return None
    slot = json.loads(raw[0] or "{}").get("slot")
    try:
        return date.fromisoformat(slot) if isinstance(slot, str) else None
    except ValueError:
        return None


async def last_slots(conn: aiosqlite.Connection) -> dict[str, date]:
    """Every leader's last handled weekly slot (for planning many leaders at once)."""
    found: dict[str, date] = {}
    async with conn.execute(
        "SELECT leader_id, json_extract(payload, '$.slot'), MAX(due_at) FROM schedules "
        "WHERE kind = 'nudge' AND status NOT IN ('pending', 'cancelled') GROUP BY leader_id"
    ) as cur:
        async for leader_id, slot, _ in cur:
            with contextlib.suppress(TypeError, ValueError):
                found[str(leader_id)] = date.fromisoformat(slot)
    return found


async def add_nudges(conn: aiosqlite.Connection, rows: list[tuple[str, str, str, str]],
                     now: str) -> int:
    """Insert (leader_id, due_at, conversation, payload) nudges; a leader who meanwhile got
    one keeps it (the unique index)."""
    cur = await conn.executemany(
        "INSERT OR IGNORE INTO schedules (leader_id, kind, conversation, due_at, status, payload, "
        "created_at, updated_at) VALUES (?, 'nudge', ?, ?, 'pending', ?, ?, ?)",
        [(leader, conversation, due, payload, now, now)
         for leader, due, conversation, payload in rows])
    return cur.rowcount


async def pending_of(conn: aiosqlite.Connection, leader_id: str,
                     kinds: tuple[str, ...] | None = None) -> list[Row]:
    """A leader's pending rows, soonest first."""
    sql = f"SELECT {_COLUMNS} FROM schedules WHERE leader_id = ? AND status = 'pending'"
    params: list[Any] = [leader_id]
    if kinds:
        sql += f" AND kind IN ({', '.join('?' for _ in kinds)})"
        params += list(kinds)
    async with conn.execute(sql + " ORDER BY due_at, id", params) as cur:
        rows = await cur.fetchall()
    return [_row(conn, r) for r in rows]


async def cancel_pending(conn: aiosqlite.Connection, leader_id: str, kind: str, now: str,
                         note: str, parent_id: int | None = None) -> int:
    """Cancel a leader's pending rows of one kind (optionally of one nudge)."""
    sql = ("UPDATE schedules SET status = 'cancelled', note = ?, updated_at = ? "
           "WHERE leader_id = ? AND kind = ? AND status = 'pending'")
    params: list[Any] = [note, now, leader_id, kind]
    if parent_id is not None:
        sql += " AND parent_id = ?"
        params.append(parent_id)
    cur = await conn.execute(sql, params)
    return cur.rowcount


async def has_reminder(conn: aiosqlite.Connection, origin: int) -> bool:
    """Whether a nudge already has its one reminder (pending or delivered)."""
    async with conn.execute(
        "SELECT 1 FROM schedules WHERE parent_id = ? AND kind = 'reminder' "
        "AND status IN ('pending', 'sending', 'sent', 'unconfirmed')", (origin,)
    ) as cur:
        return await cur.fetchone() is not None


async def latest_delivered_nudge(conn: aiosqlite.Connection, leader_id: str) -> Row | None:
    """The weekly nudge (or its snooze) most recently delivered to the leader."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM schedules WHERE leader_id = ? AND kind IN ('nudge', 'snooze') "
        "AND status IN ('sent', 'unconfirmed', 'sending') "
        "ORDER BY COALESCE(sent_at, due_at) DESC, id DESC LIMIT 1", (leader_id,)
    ) as cur:
        raw = await cur.fetchone()
    return None if raw is None else _row(conn, raw)


async def leaders_without_nudge(
    conn: aiosqlite.Connection, since: str | None = None
) -> list[tuple[str, str, str]]:
    """(leader_id, timezone, settings) of leaders without an upcoming nudge (or only new ones)."""
    sql = ("SELECT l.leader_id, l.timezone, l.settings FROM leaders l WHERE NOT EXISTS ("
           "SELECT 1 FROM schedules s WHERE s.leader_id = l.leader_id AND s.kind = 'nudge' "
           "AND s.status IN ('pending', 'sending')) "
           # A leader shut out by the operator gets no weekly reflection.
           "AND COALESCE(l.admitted_via, '') != 'revoked'")
    params: list[Any] = []
    if since is not None:
        # New leaders, and ones changed since (a leader let in again by the operator).
        sql += " AND l.updated_at >= ?"
        params.append(since)
    async with conn.execute(sql, params) as cur:
        rows = await cur.fetchall()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


async def session_info(conn: aiosqlite.Connection, leader_id: str) -> tuple[str, str] | None:
    """The leader's active dialogue state JSON and when it last changed."""
    async with conn.execute(
            "SELECT state, updated_at FROM sessions WHERE leader_id = ?", (leader_id,)) as cur:
        raw = await cur.fetchone()
    state = None if raw is None else crypto.open_cell(conn, "sessions", "state",
                                                      {"leader_id": leader_id}, raw[0])
    return None if raw is None or state is None else (state, str(raw[1]))


async def thread_status(conn: aiosqlite.Connection, thread: str) -> str | None:
    """A thread's status ('active', 'finished', 'cancelled', 'abandoned')."""
    async with conn.execute("SELECT status FROM threads WHERE thread = ?", (thread,)) as cur:
        raw = await cur.fetchone()
    return None if raw is None else str(raw[0])


async def opened_by_nudge(conn: aiosqlite.Connection, thread: str) -> bool:
    """Whether a weekly nudge (or its snooze) opened this thread."""
    async with conn.execute(
        "SELECT 1 FROM schedules WHERE thread = ? AND kind IN ('nudge', 'snooze') LIMIT 1",
        (thread,)
    ) as cur:
        return await cur.fetchone() is not None


async def thread_answered(conn: aiosqlite.Connection, thread: str) -> bool:
    """Whether the leader has answered anything in a thread."""
    async with conn.execute("SELECT 1 FROM answers WHERE thread = ? LIMIT 1", (thread,)) as cur:
        return await cur.fetchone() is not None
