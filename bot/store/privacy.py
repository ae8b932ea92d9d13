"""Finding, exporting and erasing every row about one leader, discovered from the schema.

Tables are never listed by hand here: other features add tables in later migrations, and a
leader's right to access and erasure must cover those too. A row is "about a leader" when

* a leader column (named ``leader_id`` or ``*_leader``/``leader_*``, or a foreign key to
  ``leaders``) holds the leader's id,
* a contact column (a name containing ``chat`` or ``reference``, ending in ``_ref``, or a
  ``user_id``/``*_user``/``*_user_id``, e.g. ``chat_id``, ``leader_chat``) holds one of the
  leader's contact ids: the conversation reference their channel stored on the leader row
  (``leaders.chat_id``) or the platform's own id inside their leader id (bot/identity.py).
  The two are the same on Telegram (a private chat's id is the user's id) but not on other
  channels (a Teams reference is JSON), so both are looked for,
* a thread column (``thread``, ``*_thread``, ``thread_id``, or a foreign key to ``threads``)
  holds one of the leader's threads, or
* a foreign key points at a row that is about the leader (followed to any depth).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from bot import identity
from bot.clock import iso
from bot.store import crypto, memo

LEADERS = "leaders"
THREADS = "threads"


@dataclass(frozen=True)
class ForeignKey:
    """One (possibly composite) foreign key of a table."""

    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass
class TableInfo:
    """What the schema says about one table."""

    name: str
    columns: list[str]
    primary_key: list[str]
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    has_rowid: bool = True

    def leader_columns(self) -> list[str]:
        """Columns that hold a leader id."""
        found = [c for c in self.columns if _is_leader_column(c)]
        for fk in self.foreign_keys:
            if fk.parent == LEADERS:
                found.extend(c for c in fk.columns if c not in found)
        if self.name == LEADERS:
            found = ["leader_id"]
        return found

    def chat_columns(self) -> list[str]:
        """Columns that hold a chat id, a user id or a conversation reference (compared with
        the leader's contact ids, see Subject)."""
        if self.name == LEADERS:
            return []
        return [c for c in self.columns if is_contact_column(c)]

    def thread_columns(self) -> list[str]:
        """Columns that hold a conversation thread id."""
        found = [c for c in self.columns if _is_thread_column(c)]
        for fk in self.foreign_keys:
            if fk.parent == THREADS and len(fk.columns) == 1 and fk.columns[0] not in found:
                found.append(fk.columns[0])
        if self.name == THREADS:
            found = [c for c in found if c != "thread"] + ["thread"]
        return found


def is_contact_column(name: str) -> bool:
    """Whether a column name says it holds a chat id, a platform user id or a conversation
    reference (any channel's)."""
    low = name.lower()
    return ("chat" in low or "reference" in low or low.endswith("_ref") or low == "user_id"
            or low.endswith(("_user", "_user_id")))


def _is_leader_column(name: str) -> bool:
    """Whether a column name says it holds a leader id."""
    low = name.lower()
    if is_contact_column(name):
        return False  # e.g. leader_chat holds a chat id, not a leader id
    return low == "leader_id" or low.endswith("_leader") or low.endswith("_leader_id") \
        or low.startswith("leader_")


def _is_thread_column(name: str) -> bool:
    """Whether a column name says it holds a thread id."""
    low = name.lower()
    return low in ("thread", "thread_id") or low.endswith("_thread")


def _q(name: str) -> str:
    """Quote an identifier read from the schema."""
    return '"' + name.replace('"', '""') + '"'


async def tables(conn: aiosqlite.Connection) -> dict[str, TableInfo]:
    """Every ordinary table in the database with its columns and foreign keys."""
    async with conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ) as cur:
        rows = [(str(r[0]), str(r[1] or "")) for r in await cur.fetchall()]
    found: dict[str, TableInfo] = {}
    for name, sql in rows:
        if sql.upper().startswith("CREATE VIRTUAL"):
            continue  # virtual tables (FTS) keep their content in shadow tables, listed too
        async with conn.execute(f"PRAGMA table_info({_q(name)})") as cur:
            info_rows = list(await cur.fetchall())
        columns = [str(c[1]) for c in info_rows]
        pk = [str(c[1]) for c in sorted(info_rows, key=lambda c: c[5]) if c[5]]
        async with conn.execute(f"PRAGMA foreign_key_list({_q(name)})") as cur:
            fk_rows = list(await cur.fetchall())
        groups: dict[int, list[Any]] = {}
        for fk_row in fk_rows:
            groups.setdefault(int(fk_row[0]), []).append(fk_row)
        fks = [
            ForeignKey(tuple(str(r[3]) for r in group), str(group[0][2]),
                       tuple(str(r[4]) if r[4] is not None else "" for r in group))
            for group in groups.values()
        ]
        has_rowid = "WITHOUT ROWID" not in sql.upper().replace("\n", " ")
        found[name] = TableInfo(name, columns, pk, fks, has_rowid)
    for info in found.values():  # a foreign key to a table's primary key may omit the column
        fixed = []
        for fk in info.foreign_keys:
            parent = found.get(fk.parent)
            targets = fk.parent_columns
            if parent is not None and not all(targets):
                targets = tuple(parent.primary_key) or ("rowid",)
            fixed.append(ForeignKey(fk.columns, fk.parent, targets))
        info.foreign_keys = fixed
    return found


@dataclass(frozen=True)
class Subject:
    """Whose rows to find: the leader id, their contact ids and their threads."""

    leader_id: str
    contacts: tuple[str, ...]  # their stored conversation reference and their platform id
    threads: tuple[str, ...]

    @property
    def chat_id(self) -> str | None:
        """The first contact id (the stored reference, else the platform id)."""
        return self.contacts[0] if self.contacts else None


async def subject(conn: aiosqlite.Connection, leader_id: str) -> Subject:
    """Collect the identifiers that mark a row as being about this leader."""
    async with conn.execute("SELECT chat_id FROM leaders WHERE leader_id = ?",
                            (leader_id,)) as cur:
        row = await cur.fetchone()
    contacts: list[str] = []
    if row is not None and row[0] is not None and str(row[0]):
        contacts.append(str(row[0]))
    raw = identity.raw_id(leader_id)
    if raw and raw not in contacts:
        contacts.append(raw)
    async with conn.execute("SELECT thread FROM threads WHERE leader_id = ?",
                            (leader_id,)) as cur:
        threads = tuple(str(r[0]) for r in await cur.fetchall())
    return Subject(leader_id, tuple(contacts), threads)


def _predicate(info: TableInfo, who: Subject, schema: dict[str, TableInfo],
               depth: int = 0) -> tuple[str, list[Any]]:
    """SQL selecting this table's rows about the leader, with its parameters."""
    parts: list[str] = []
    params: list[Any] = []
    for col in info.leader_columns():
        parts.append(f"{_q(col)} = ?")
        params.append(who.leader_id)
    for contact in who.contacts:
        for col in info.chat_columns():
            parts.append(f"CAST({_q(col)} AS TEXT) = ?")
            params.append(contact)
    if who.threads:
        # A subquery, not a list of ids: a long history must not hit SQLite's parameter limit.
        for col in info.thread_columns():
            parts.append(f"{_q(col)} IN (SELECT thread FROM threads WHERE leader_id = ?)")
            params.append(who.leader_id)
    if depth < 4:  # follow foreign keys to rows about the leader (cycles stop here)
        for fk in info.foreign_keys:
            parent = schema.get(fk.parent)
            if parent is None or fk.parent == LEADERS or fk.parent == info.name:
                continue
            sub, sub_params = _predicate(parent, who, schema, depth + 1)
            if sub == "0":
                continue
            left = ", ".join(_q(c) for c in fk.columns)
            right = ", ".join(_q(c) for c in fk.parent_columns)
            if len(fk.columns) > 1:
                left = f"({left})"
            parts.append(f"{left} IN (SELECT {right} FROM {_q(parent.name)} WHERE {sub})")
            params.extend(sub_params)
    return (" OR ".join(f"({p})" for p in parts) if parts else "0"), params


async def leader_rows(conn: aiosqlite.Connection,
                      leader_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row about the leader in every table, as column -> value maps."""
    schema = await tables(conn)
    who = await subject(conn, leader_id)
    found: dict[str, list[dict[str, Any]]] = {}
    for info in schema.values():
        where, params = _predicate(info, who, schema)
        if where == "0":
            continue
        async with conn.execute(f"SELECT * FROM {_q(info.name)} WHERE {where}", params) as cur:
            rows = await cur.fetchall()
        if rows:  # sealed cells opened: this is what export shows the leader
            found[info.name] = [crypto.open_row(conn, info.name,
                                                dict(zip(info.columns, tuple(r), strict=False)))
                                for r in rows]
    return found


async def erase_leader(conn: aiosqlite.Connection, leader_id: str) -> dict[str, int]:
    """Delete every row about the leader in every table; return rows deleted per table.

    Runs inside the caller's transaction. Rows are chosen first and deleted afterwards, with
    foreign keys checked at commit, so the order of tables does not matter. The leader's data
    key leaves the key store when the transaction commits, so the rows in every earlier
    database backup can no longer be read either.
    """
    schema = await tables(conn)
    who = await subject(conn, leader_id)
    await crypto.keyring(conn).doom(conn, crypto.leader_owner(leader_id))
    await conn.execute("PRAGMA defer_foreign_keys = ON")
    await conn.execute("PRAGMA secure_delete = ON")  # overwrite freed pages, not just unlink
    chosen: dict[str, list[int]] = {}
    by_predicate: list[tuple[str, str, list[Any]]] = []
    for info in schema.values():
        where, params = _predicate(info, who, schema)
        if where == "0":
            continue
        if not info.has_rowid:
            by_predicate.append((info.name, where, params))
            continue
        async with conn.execute(f"SELECT rowid FROM {_q(info.name)} WHERE {where}",
                                params) as cur:
            ids = [int(r[0]) for r in await cur.fetchall()]
        if ids:
            chosen[info.name] = ids
    deleted: dict[str, int] = {}
    for name, where, params in by_predicate:
        cur = await conn.execute(f"DELETE FROM {_q(name)} WHERE {where}", params)
        if cur.rowcount:
            deleted[name] = cur.rowcount
    for name, ids in chosen.items():
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            marks = ", ".join("?" for _ in batch)
            await conn.execute(f"DELETE FROM {_q(name)} WHERE rowid IN ({marks})", batch)
        # Counted as chosen: some rows may already have gone by an ON DELETE CASCADE.
        deleted[name] = deleted.get(name, 0) + len(ids)
    memo.forget(conn)  # rows this transaction kept (bot/store/memo.py) went by plain SQL
    return deleted


async def rows_mentioning(conn: aiosqlite.Connection, value: str) -> dict[str, int]:
    """Rows in any table with any column equal to value (a brute-force check for tests/ops)."""
    schema = await tables(conn)
    found: dict[str, int] = {}
    for info in schema.values():
        if not info.columns:
            continue
        where = " OR ".join(f"CAST({_q(c)} AS TEXT) = ?" for c in info.columns)
        async with conn.execute(f"SELECT count(*) FROM {_q(info.name)} WHERE {where}",
                                [value] * len(info.columns)) as cur:
            row = await cur.fetchone()
        if row and row[0]:
            found[info.name] = int(row[0])
    return found


LATEST_NUDGE = (
    "SELECT s.id FROM schedules s WHERE s.kind = 'nudge' AND s.status NOT IN "
    "('pending', 'cancelled') AND s.due_at = (SELECT max(t.due_at) FROM schedules t WHERE "
    "t.leader_id = s.leader_id AND t.kind = 'nudge' AND t.status NOT IN ('pending', 'cancelled'))"
)


@dataclass
class RetentionResult:
    """How much old history a retention run deleted."""

    cutoff: str
    threads: int = 0
    answers: int = 0
    schedules: int = 0

    @property
    def total(self) -> int:
        """All rows deleted."""
        return self.threads + self.answers + self.schedules


async def apply_retention(conn: aiosqlite.Connection, now: datetime, days: int) -> RetentionResult:
    """Delete history older than `days`: ended threads, their answers and past schedules.

    Profiles, settings, an active conversation and pending schedules are not history and stay.
    """
    cutoff = iso(now - timedelta(days=days))
    result = RetentionResult(cutoff)
    await conn.execute("PRAGMA secure_delete = ON")
    # A thread whose follow-up is still pending stays until that follow-up has happened.
    old = ("SELECT thread FROM threads WHERE status != 'active' "
           "AND COALESCE(finished_at, started_at) < ? AND thread NOT IN "
           "(SELECT thread FROM schedules WHERE status = 'pending' AND thread IS NOT NULL)")
    # Pending and in-flight rows are the future, not history; each leader's latest handled
    # weekly nudge stays too, because the scheduler reads it to never send a week's nudge twice.
    cur = await conn.execute(
        f"DELETE FROM schedules WHERE status NOT IN ('pending', 'sending') AND id NOT IN "
        f"({LATEST_NUDGE}) AND (thread IN ({old}) OR (updated_at < ? AND (thread IS NULL OR "
        "thread NOT IN (SELECT thread FROM threads))))", (cutoff, cutoff))
    result.schedules = max(cur.rowcount, 0)
    cur = await conn.execute(
        f"DELETE FROM answers WHERE thread IN ({old}) OR (created_at < ? AND thread NOT IN "
        "(SELECT thread FROM threads))", (cutoff, cutoff))
    result.answers = max(cur.rowcount, 0)
    cur = await conn.execute(f"DELETE FROM threads WHERE thread IN ({old})", (cutoff,))
    result.threads = max(cur.rowcount, 0)
    return result


def to_json_value(value: Any) -> Any:
    """A stored cell as JSON: JSON text columns are parsed, bytes become hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str) and value[:1] in ("{", "[", '"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
