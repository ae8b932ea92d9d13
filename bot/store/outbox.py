"""Queries for the reply outbox (migration 0023): a step's replies, written with its state.

A row is one message of one reply: (channel, leader, event, seq). It is written 'pending' in
the step's transaction, and after the send marked 'delivered' (sent at once) or
'redelivered' (sent later: after a crash or a failed send), with the platform's message ids,
or 'given_up' after MAX_ATTEMPTS failed sends. The message itself (sealed) is cleared once it
is out; the rows are pruned after two days with the inbound event ids.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot.clock import iso, parse_iso
from bot.dialogue.state import OutMessage
from bot.store import crypto

TABLE = "reply_outbox"
MAX_ATTEMPTS = 3  # failed sends before a reply is given up
PENDING, DELIVERED, REDELIVERED, GIVEN_UP = "pending", "delivered", "redelivered", "given_up"


@dataclass(frozen=True)
class Key:
    """Which row: one message of one reply."""

    channel: str
    leader_id: str
    event_id: str
    seq: int

    def cells(self) -> dict[str, Any]:
        """The row's key columns (for the sealed cell's associated data)."""
        return {"channel": self.channel, "leader_id": self.leader_id,
                "event_id": self.event_id, "seq": self.seq}


@dataclass(frozen=True)
class Row:
    """A stored reply message: pending (with its message) or delivered late (without)."""

    key: Key
    message: OutMessage | None
    question: bool
    status: str
    attempts: int
    delivered_at: datetime | None


def is_question(message: OutMessage) -> bool:
    """Whether a message asks a conversation's question (text typed before it was shown must
    not be taken as its answer)."""
    return message.kind == "prompt" and message.step is not None


def dump(message: OutMessage) -> str:
    """A message as JSON (attachment bytes as base64: they need not be UTF-8)."""
    if not message.attachments:
        return message.model_dump_json()  # the common case, serialised in pydantic's core
    data = message.model_dump(mode="python")
    for attachment in data["attachments"]:
        attachment["data"] = base64.b64encode(attachment["data"]).decode("ascii")
    return json.dumps(data, ensure_ascii=False)


def load(text: str) -> OutMessage:
    """A message stored by dump."""
    data = json.loads(text)
    for attachment in data.get("attachments", []):
        attachment["data"] = base64.b64decode(attachment["data"])
    return OutMessage.model_validate(data)


async def write(tx: aiosqlite.Connection, channel: str, leader_id: str, event_id: str,
                messages: Sequence[OutMessage], now: datetime, first_seq: int = 0) -> list[Key]:
    """Store a reply's messages as pending, in the step's transaction; their keys (none when
    the leader no longer exists: a /forget in this step leaves nothing behind)."""
    if not messages:
        return []
    # A leader erased in this step has no key in hand any more: only then is it looked up
    # (sealing would otherwise record a new key for them).
    if not crypto.keyring(tx).holds(crypto.leader_owner(leader_id)) and not \
            await tx.execute_fetchall("SELECT 1 FROM leaders WHERE leader_id = ?", (leader_id,)):
        return []
    keys = [Key(channel, leader_id, event_id, first_seq + n) for n in range(len(messages))]
    at = iso(now)
    rows = []
    for key, message in zip(keys, messages, strict=True):
        sealed = await crypto.seal_cell(tx, TABLE, "message", key.cells(), dump(message))
        rows.append((channel, leader_id, event_id, key.seq, sealed,
                     int(is_question(message)), at))
    await tx.executemany(
        f"INSERT INTO {TABLE} (channel, leader_id, event_id, seq, message, question, "
        "created_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM leaders WHERE "
        "leader_id = ?2) ON CONFLICT DO NOTHING", rows)
    return keys


async def next_seq(tx: aiosqlite.Connection, channel: str, leader_id: str,
                   event_id: str) -> int:
    """The seq after an event's stored messages (an interrupted event answered again)."""
    async with tx.execute(
            f"SELECT coalesce(max(seq) + 1, 0) FROM {TABLE} WHERE channel = ? AND leader_id = ? "
            "AND event_id = ?", (channel, leader_id, event_id)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def open_rows(conn: aiosqlite.Connection, channel: str, leader_id: str) -> list[Row]:
    """A leader's pending messages and the ones delivered late, in the order written."""
    found = await conn.execute_fetchall(
        f"SELECT channel, leader_id, event_id, seq, message, question, status, attempts, "
        f"delivered_at FROM {TABLE} WHERE channel = ? AND leader_id = ? "
        "AND status IN ('pending', 'redelivered') ORDER BY rowid", (channel, leader_id))
    return [_row(conn, tuple(r)) for r in found]


async def latest_question(conn: aiosqlite.Connection, channel: str,
                          leader_id: str) -> Row | None:
    """The last question sent to a leader (for text queued while the bot was down)."""
    async with conn.execute(
            "SELECT channel, leader_id, event_id, seq, NULL, question, status, attempts, "
            f"delivered_at FROM {TABLE} WHERE channel = ? AND leader_id = ? AND question = 1 "
            "AND status IN ('delivered', 'redelivered') ORDER BY rowid DESC LIMIT 1",
            (channel, leader_id)) as cur:
        found = await cur.fetchone()
    return None if found is None else _row(conn, tuple(found))


async def open_leaders(conn: aiosqlite.Connection, channel: str) -> list[str]:
    """The leaders of a channel with pending or late-delivered messages."""
    found = await conn.execute_fetchall(
        f"SELECT DISTINCT leader_id FROM {TABLE} WHERE channel = ? "
        "AND status IN ('pending', 'redelivered')", (channel,))
    return [str(r[0]) for r in found]


async def pending_leaders(conn: aiosqlite.Connection, channel: str) -> list[str]:
    """The leaders of a channel with pending messages, oldest first."""
    async with conn.execute(
            f"SELECT leader_id FROM {TABLE} WHERE channel = ? AND status = 'pending' "
            "GROUP BY leader_id ORDER BY min(rowid)", (channel,)) as cur:
        return [str(r[0]) for r in await cur.fetchall()]


def _row(conn: aiosqlite.Connection, r: tuple[Any, ...]) -> Row:
    """A stored row, its message opened."""
    key = Key(str(r[0]), str(r[1]), str(r[2]), int(r[3]))
    text = crypto.open_cell(conn, TABLE, "message", key.cells(), r[4])
    return Row(key, load(text) if text else None, bool(r[5]), str(r[6]), int(r[7]),
               parse_iso(r[8]) if r[8] else None)


async def _update_pending(tx: aiosqlite.Connection, assignments: str,
                          rows: Sequence[tuple[Sequence[Any], Key]]) -> None:
    """Apply `SET assignments` (its parameters first in each row) to still-pending messages."""
    await tx.executemany(
        f"UPDATE {TABLE} SET {assignments} "
        "WHERE channel = ? AND leader_id = ? AND event_id = ? AND seq = ? "
        "AND status = 'pending'",
        [(*values, k.channel, k.leader_id, k.event_id, k.seq) for values, k in rows])


async def mark_delivered(tx: aiosqlite.Connection, sent: Sequence[tuple[Key, list[str]]],
                         now: datetime, late: bool = False) -> None:
    """Record messages as out, with the platform's ids; their text is not kept."""
    if not sent:
        return
    status = REDELIVERED if late else DELIVERED
    at = iso(now)
    await _update_pending(tx, "status = ?, delivered_at = ?, platform_ids = ?, message = NULL",
                          [((status, at, json.dumps(ids)), k) for k, ids in sent])


async def failed(tx: aiosqlite.Connection, keys: Sequence[Key], now: datetime) -> None:
    """Count a failed send of pending messages."""
    await _update_pending(tx, "attempts = attempts + 1, attempted_at = ?",
                          [((iso(now),), k) for k in keys])


async def give_up(tx: aiosqlite.Connection, keys: Sequence[Key], now: datetime) -> None:
    """Stop trying to send messages (too many failures, or no one to reach); text dropped."""
    await _update_pending(tx, "status = 'given_up', attempted_at = ?, message = NULL",
                          [((iso(now),), k) for k in keys])


async def prune(tx: aiosqlite.Connection, before: str) -> int:
    """Forget rows written before an instant (with the inbound event ids)."""
    cur = await tx.execute(f"DELETE FROM {TABLE} WHERE created_at < ?", (before,))
    return cur.rowcount
