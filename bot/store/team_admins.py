"""Queries for check-in admins kept by the bot (groups whose platform does not say who
administers them: Teams without Graph) and for group conversation references, each taking the
connection of the caller's transaction. Admins are scoped hashes only, never user ids."""

from __future__ import annotations

import aiosqlite


async def admin_count(conn: aiosqlite.Connection, channel: str, chat_id: str) -> int:
    """How many admins a group has."""
    async with conn.execute("SELECT COUNT(*) FROM team_admins WHERE channel = ? AND chat_id = ?",
                            (channel, chat_id)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def is_admin(conn: aiosqlite.Connection, channel: str, chat_id: str,
                   admin_hash: str) -> bool:
    """Whether a hash is one of a group's admins."""
    async with conn.execute(
            "SELECT 1 FROM team_admins WHERE channel = ? AND chat_id = ? AND member_hash = ?",
            (channel, chat_id, admin_hash)) as cur:
        return await cur.fetchone() is not None


async def add_admin(conn: aiosqlite.Connection, channel: str, chat_id: str, admin_hash: str,
                    now: str) -> bool:
    """Make a hash an admin of a group; False if it was one already."""
    cur = await conn.execute(
        "INSERT INTO team_admins (channel, chat_id, member_hash, added_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING", (channel, chat_id, admin_hash, now))
    return cur.rowcount > 0


async def claim_first(conn: aiosqlite.Connection, channel: str, chat_id: str, admin_hash: str,
                      now: str) -> bool:
    """Make a hash the group's first admin if it has none yet (in one statement, so two
    members racing to set up cannot both win); whether it is an admin now."""
    await conn.execute(
        "INSERT INTO team_admins (channel, chat_id, member_hash, added_at) SELECT ?, ?, ?, ? "
        "WHERE NOT EXISTS (SELECT 1 FROM team_admins WHERE channel = ? AND chat_id = ?)",
        (channel, chat_id, admin_hash, now, channel, chat_id))
    return await is_admin(conn, channel, chat_id, admin_hash)


async def remove_admin(conn: aiosqlite.Connection, channel: str, chat_id: str,
                       admin_hash: str) -> None:
    """A hash is no longer an admin of a group."""
    await conn.execute(
        "DELETE FROM team_admins WHERE channel = ? AND chat_id = ? AND member_hash = ?",
        (channel, chat_id, admin_hash))


async def forget_group(conn: aiosqlite.Connection, channel: str, chat_id: str) -> None:
    """The bot left a group: its admins and reference go (whoever adds it again starts anew)."""
    await conn.execute("DELETE FROM team_admins WHERE channel = ? AND chat_id = ?",
                       (channel, chat_id))
    await conn.execute("DELETE FROM team_group_refs WHERE channel = ? AND chat_id = ?",
                       (channel, chat_id))


async def put_reference(conn: aiosqlite.Connection, channel: str, chat_id: str, reference: str,
                        now: str) -> None:
    """Keep (or refresh) how a group conversation is reached."""
    await conn.execute(
        "INSERT INTO team_group_refs (channel, chat_id, reference, updated_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT(channel, chat_id) DO UPDATE SET "
        "reference = excluded.reference, updated_at = excluded.updated_at",
        (channel, chat_id, reference, now))


async def get_reference(conn: aiosqlite.Connection, channel: str, chat_id: str) -> str | None:
    """How a group conversation is reached, if the bot was ever there."""
    async with conn.execute(
            "SELECT reference FROM team_group_refs WHERE channel = ? AND chat_id = ?",
            (channel, chat_id)) as cur:
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def latest_reference(conn: aiosqlite.Connection, channel: str) -> str | None:
    """The most recently seen group reference of a channel (its service URL and bot account
    serve to open a private chat outside any group's turn)."""
    async with conn.execute(
            "SELECT reference FROM team_group_refs WHERE channel = ? "
            "ORDER BY updated_at DESC LIMIT 1", (channel,)) as cur:
        row = await cur.fetchone()
    return str(row[0]) if row else None
