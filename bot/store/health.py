"""Read-only SQL of the health check (bot/health.py), over a plain sqlite3 connection so the
check works without the bot's event loop."""

from __future__ import annotations

import sqlite3
from typing import Any


def schema_version(conn: sqlite3.Connection) -> int:
    """The migration number the database is at."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def leader_count(conn: sqlite3.Connection) -> int:
    """How many leaders the database knows."""
    return _count(conn, "SELECT count(*) FROM leaders")


def pending_schedules(conn: sqlite3.Connection, cutoff: str,
                      prefix: str | None) -> tuple[int, int, str | None]:
    """(pending, overdue before `cutoff`, oldest overdue due_at); overdue counts only leaders
    whose id starts with `prefix` when given (another channel's are not this process's)."""
    sql = "SELECT count(*), min(due_at) FROM schedules WHERE status = 'pending'"
    pending, _ = conn.execute(sql).fetchone()
    late_sql, params = sql + " AND due_at < ?", [cutoff]
    if prefix:
        late_sql += " AND leader_id >= ? AND leader_id < ?"
        params += [prefix, prefix + "\uffff"]
    overdue, oldest = conn.execute(late_sql, params).fetchone()
    return int(pending), int(overdue), oldest


def late_team_work(conn: sqlite3.Connection, cutoff: str) -> tuple[int, int]:
    """(active groups whose pulse is due before `cutoff`, open pulses that should have closed)."""
    teams = _count(conn, "SELECT count(*) FROM team_groups WHERE status = 'active' AND "
                         "next_pulse_at < ?", cutoff)
    closing = _count(conn, "SELECT count(*) FROM team_pulses WHERE status = 'open' AND "
                           "closes_at < ?", cutoff)
    return teams, closing


def _count(conn: sqlite3.Connection, sql: str, *params: Any) -> int:
    """One number from the database."""
    return int(conn.execute(sql, params).fetchone()[0])
