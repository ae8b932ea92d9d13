"""Queries for button tokens: one current token per leader (migration 0022)."""

from __future__ import annotations

import aiosqlite


async def current(conn: aiosqlite.Connection, leader_id: str) -> str | None:
    """The leader's current button token, if one was drawn."""
    async with conn.execute("SELECT token FROM button_tokens WHERE leader_id = ?",
                            (leader_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else str(row[0])


async def put(conn: aiosqlite.Connection, leader_id: str, token: str) -> bool:
    """Make token the leader's current one; False when there is no such leader (forgotten)."""
    cur = await conn.execute(
        "INSERT INTO button_tokens (leader_id, token) SELECT leader_id, ? FROM leaders "
        "WHERE leader_id = ? ON CONFLICT (leader_id) DO UPDATE SET token = excluded.token",
        (token, leader_id))
    return cur.rowcount == 1
