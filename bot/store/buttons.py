"""Queries for button tokens: one current token per leader (migration 0022)."""

from __future__ import annotations

import aiosqlite

from bot.store import memo


async def current(conn: aiosqlite.Connection, leader_id: str) -> str | None:
    """The leader's current button token, if one was drawn."""
    kept = memo.get(conn, "button_tokens", leader_id)  # a press takes it, its reply stamps it
    if kept is not memo.MISS:
        return None if kept is None else str(kept)
    rows = list(await conn.execute_fetchall(
        "SELECT token FROM button_tokens WHERE leader_id = ?", (leader_id,)))
    token = None if not rows else str(rows[0][0])
    memo.put(conn, "button_tokens", leader_id, token)
    return token


async def put(conn: aiosqlite.Connection, leader_id: str, token: str) -> bool:
    """Make token the leader's current one; False when there is no such leader (forgotten)."""
    cur = await conn.execute(
        "INSERT INTO button_tokens (leader_id, token) SELECT leader_id, ? FROM leaders "
        "WHERE leader_id = ? ON CONFLICT (leader_id) DO UPDATE SET token = excluded.token",
        (token, leader_id))
    memo.put(conn, "button_tokens", leader_id, token if cur.rowcount == 1 else None)
    return cur.rowcount == 1
