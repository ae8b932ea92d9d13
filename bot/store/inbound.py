"""Queries for the inbound pipeline: which channel events were handled (migration 0012)."""

from __future__ import annotations

import aiosqlite

PROCESSING, DONE = "processing", "done"


async def claim(conn: aiosqlite.Connection, channel: str, event_id: str,
                now: str) -> str | None:
    """Record an event as being processed; its earlier status if it was seen before."""
    cur = await conn.execute(
        "INSERT INTO inbound_events (channel, event_id, status, seen_at) "
        "VALUES (?, ?, 'processing', ?) ON CONFLICT DO NOTHING", (channel, event_id, now))
    if cur.rowcount == 1:
        return None  # the common case costs one statement
    return await status(conn, channel, event_id)


async def finish(conn: aiosqlite.Connection, channel: str, event_id: str) -> None:
    """Mark an event as fully handled (its replies were sent)."""
    await conn.execute("UPDATE inbound_events SET status = 'done' "
                       "WHERE channel = ? AND event_id = ?", (channel, event_id))


async def prune(conn: aiosqlite.Connection, before: str) -> int:
    """Forget events seen before an instant (platforms redeliver for at most a day)."""
    cur = await conn.execute("DELETE FROM inbound_events WHERE seen_at < ?", (before,))
    return cur.rowcount


async def status(conn: aiosqlite.Connection, channel: str, event_id: str) -> str | None:
    """The stored status of one event, if any."""
    async with conn.execute(
        "SELECT status FROM inbound_events WHERE channel = ? AND event_id = ?",
        (channel, event_id),
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else str(row[0])
