"""Rows a write transaction has read or written, so one step reads each at most once.

A conversation step asks for the leader's row and session several times (the gate, the
onboarding decision, the command, the re-prompt) and for the button token twice (take, stamp).
While Store.transaction holds the write lock nothing else can change those rows, so the first
read is kept for the rest of the transaction, and every write through the repository updates
what is kept (the database is always written: the memo only saves reads). It lives exactly as
long as one transaction: begun after BEGIN, ended at COMMIT or ROLLBACK; on a connection with no
open transaction nothing is kept. Code that changes these rows by other SQL (erasing a leader)
calls forget().
"""

from __future__ import annotations

import weakref
from typing import Any

import aiosqlite

MISS = object()  # nothing kept: read the database

_OPEN: weakref.WeakKeyDictionary[aiosqlite.Connection, dict[tuple[str, str], Any]] = (
    weakref.WeakKeyDictionary())


def begin(conn: aiosqlite.Connection) -> None:
    """A write transaction began on conn: keep rows from now on."""
    _OPEN[conn] = {}


def end(conn: aiosqlite.Connection) -> None:
    """The transaction ended (committed or rolled back): keep nothing more."""
    _OPEN.pop(conn, None)


def get(conn: aiosqlite.Connection, table: str, key: str) -> Any:
    """What is kept for one row (a value, None for a row known to be absent), or MISS."""
    kept = _OPEN.get(conn)
    return MISS if kept is None else kept.get((table, key), MISS)


def put(conn: aiosqlite.Connection, table: str, key: str, value: Any) -> None:
    """Keep a row as it is now in the database (None: known to be absent)."""
    kept = _OPEN.get(conn)
    if kept is not None:
        kept[(table, key)] = value


def drop(conn: aiosqlite.Connection, table: str, key: str) -> None:
    """Keep nothing for one row (it is about to change in a way only the database knows)."""
    kept = _OPEN.get(conn)
    if kept is not None:
        kept.pop((table, key), None)


def forget(conn: aiosqlite.Connection) -> None:
    """Keep nothing of what was read so far (rows were changed by other SQL)."""
    kept = _OPEN.get(conn)
    if kept is not None:
        kept.clear()
