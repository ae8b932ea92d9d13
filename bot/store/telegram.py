"""Queries for admission: invite codes and how leaders were let in (any channel)."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.store import repo


@dataclass
class Invite:
    """An invite code and how much it was used."""

    code: str
    max_uses: int | None
    uses: int
    note: str | None
    created_at: str
    revoked_at: str | None

    @property
    def usable(self) -> bool:
        """Not revoked and not used up."""
        return self.revoked_at is None and (self.max_uses is None or self.uses < self.max_uses)


async def create_invite(conn: aiosqlite.Connection, code: str, max_uses: int | None,
                        note: str | None, now: str) -> Invite:
    """Store a new invite code."""
    await conn.execute(
        "INSERT INTO invites (code, max_uses, uses, note, created_at) VALUES (?, ?, 0, ?, ?)",
        (code, max_uses, note, now))
    return Invite(code, max_uses, 0, note, now, None)


async def list_invites(conn: aiosqlite.Connection) -> list[Invite]:
    """Every invite, newest first."""
    async with conn.execute(
        "SELECT code, max_uses, uses, note, created_at, revoked_at FROM invites "
        "ORDER BY created_at DESC, rowid DESC"
    ) as cur:
        rows = await cur.fetchall()
    return [Invite(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def revoke_invite(conn: aiosqlite.Connection, code: str, now: str) -> bool:
    """Revoke a code; False if there is no such (unrevoked) code."""
    cur = await conn.execute(
        "UPDATE invites SET revoked_at = ? WHERE code = ? AND revoked_at IS NULL", (now, code))
    return cur.rowcount == 1


async def use_invite(conn: aiosqlite.Connection, code: str) -> bool:
    """Count one use of a code if it is still usable; False otherwise."""
    cur = await conn.execute(
        "UPDATE invites SET uses = uses + 1 WHERE code = ? AND revoked_at IS NULL "
        "AND (max_uses IS NULL OR uses < max_uses)", (code,))
    return cur.rowcount == 1


# ---- how leaders were let in (migration 0010) -------------------------------------------------

INVITED, GRANTED, REVOKED = "invite", "granted", "revoked"


async def admitted_via(conn: aiosqlite.Connection, leader_id: str) -> tuple[bool, str | None]:
    """(whether the leader exists, how they were let in: None = by the list or open mode)."""
    # The whole row, kept for the step that follows (it reads the leader next: no second read).
    rows = list(await conn.execute_fetchall(  # one hand-off to aiosqlite's thread, not three
        f"SELECT admitted_via, {repo.LEADER_COLUMNS} FROM leaders WHERE leader_id = ?",
        (leader_id,)))
    repo.remember_leader(conn, leader_id, tuple(rows[0])[1:] if rows else None)
    if not rows:
        return False, None
    return True, None if rows[0][0] is None else str(rows[0][0])


async def set_admission(conn: aiosqlite.Connection, leader_id: str, via: str | None,
                        now: str) -> bool:
    """Record how a leader is let in; a revoked leader's pending messages are cancelled."""
    cur = await conn.execute("UPDATE leaders SET admitted_via = ?, updated_at = ? "
                             "WHERE leader_id = ?", (via, now, leader_id))
    if via == REVOKED:
        await conn.execute(
            "UPDATE schedules SET status = 'cancelled', updated_at = ?, note = 'access closed' "
            "WHERE leader_id = ? AND status = 'pending'", (now, leader_id))
    return cur.rowcount > 0


async def unlisted_leaders(conn: aiosqlite.Connection, prefix: str,
                           listed: set[str]) -> list[str]:
    """Leaders of one channel let in by the list (or open mode) whom it no longer names."""
    async with conn.execute(
            "SELECT leader_id FROM leaders WHERE admitted_via IS NULL AND leader_id >= ? "
            "AND leader_id < ?", (prefix, prefix + "\uffff")) as cur:
        rows = await cur.fetchall()
    return [str(r[0]) for r in rows if str(r[0]) not in listed]
