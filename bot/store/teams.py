"""Queries for the Teams channel: conversation references and handled activities."""

from __future__ import annotations

import hashlib

import aiosqlite


def activity_key(conversation_id: str, activity_id: str) -> str:
    """The stored key of one activity (a hash: no id in clear)."""
    return hashlib.sha256(f"{conversation_id}\x00{activity_id}".encode()).hexdigest()


async def claim_activity(conn: aiosqlite.Connection, key: str, now: str) -> str | None:
    """Record an activity as being processed; its earlier status if it was seen before."""
    async with conn.execute("SELECT status FROM teams_activities WHERE key = ?", (key,)) as cur:
        row = await cur.fetchone()
    if row is not None:
        return str(row[0])
    await conn.execute("INSERT INTO teams_activities (key, status, seen_at) "
                       "VALUES (?, 'processing', ?)", (key, now))
    return None


async def finish_activity(conn: aiosqlite.Connection, key: str) -> None:
    """Mark an activity as handled (its replies were sent)."""
    await conn.execute("UPDATE teams_activities SET status = 'done' WHERE key = ?", (key,))


async def prune_activities(conn: aiosqlite.Connection, before: str) -> int:
    """Forget activities seen before an instant."""
    cur = await conn.execute("DELETE FROM teams_activities WHERE seen_at < ?", (before,))
    return cur.rowcount


async def save_reference(conn: aiosqlite.Connection, leader_id: str, conversation_id: str,
                         reference: str, now: str) -> None:
    """Keep a leader's latest conversation reference (one 1:1 conversation per leader)."""
    await conn.execute("DELETE FROM teams_conversations WHERE conversation_id = ? "
                       "AND leader_id != ?", (conversation_id, leader_id))
    await conn.execute(
        "INSERT INTO teams_conversations (leader_id, conversation_id, reference, updated_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT(leader_id) DO UPDATE SET "
        "conversation_id = excluded.conversation_id, reference = excluded.reference, "
        "updated_at = excluded.updated_at", (leader_id, conversation_id, reference, now))


async def reference_for(conn: aiosqlite.Connection, conversation_id: str) -> str | None:
    """The stored reference of a conversation, if any."""
    async with conn.execute("SELECT reference FROM teams_conversations "
                            "WHERE conversation_id = ?", (conversation_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else str(row[0])
