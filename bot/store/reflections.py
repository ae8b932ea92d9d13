"""SQL of the weekly reflection and its trend: which prompts a leader saw, and the finished
threads with their rating answers."""

from __future__ import annotations

from typing import Any

import aiosqlite

from bot.store import repo


async def shown_prompts(conn: aiosqlite.Connection, leader_id: str) -> list[str]:
    """The prompt ids a leader has been shown, oldest first."""
    async with conn.execute(
        "SELECT prompt_id FROM reflection_prompts WHERE leader_id = ? ORDER BY id",
        (leader_id,),
    ) as cur:
        return [row[0] for row in await cur.fetchall()]


async def record_prompt(conn: aiosqlite.Connection, leader_id: str, prompt_id: str,
                        now: str) -> None:
    """Remember that a leader was shown a prompt."""
    await conn.execute(
        "INSERT INTO reflection_prompts (leader_id, prompt_id, shown_at) VALUES (?, ?, ?)",
        (leader_id, prompt_id, now))


async def finished_threads(conn: aiosqlite.Connection, leader_id: str,
                           conversation: str) -> list[tuple[Any, Any, Any]]:
    """(thread, finished_at, prompt id) of every finished thread, oldest first; the prompt is
    the one recorded for the leader last before (or as) the thread began."""
    async with conn.execute(
        "SELECT t.thread, t.finished_at, (SELECT p.prompt_id FROM reflection_prompts p "
        "WHERE p.leader_id = t.leader_id AND p.shown_at <= t.started_at "
        "ORDER BY p.shown_at DESC, p.id DESC LIMIT 1) "
        "FROM threads t WHERE t.leader_id = ? AND t.conversation = ? AND t.status = 'finished' "
        "ORDER BY t.finished_at, t.thread",
        (leader_id, conversation),
    ) as cur:
        return [(row[0], row[1], row[2]) for row in await cur.fetchall()]


async def latest_answers(conn: aiosqlite.Connection, leader_id: str, conversation: str,
                         first: str, second: str) -> dict[tuple[Any, Any], Any]:
    """The latest value of two named answers per thread, keyed by (thread, name), each opened
    with the leader's key (sealed at rest; None once it is erased)."""
    async with conn.execute(
        "SELECT a.thread, a.name, a.value, a.id FROM answers a WHERE a.leader_id = ? "
        "AND a.conversation = ? AND a.name IN (?, ?) AND a.id = (SELECT max(b.id) FROM answers b "
        "WHERE b.thread = a.thread AND b.name = a.name)",
        (leader_id, conversation, first, second),
    ) as cur:
        return {(row[0], row[1]): repo.answer_value(conn, leader_id, row[3], row[2])
                for row in await cur.fetchall()}
