"""Is the bot alive and keeping its promises? A heartbeat file and the check that reads it.

The running bot rewrites `<database>.heartbeat` (JSON, owner-only) every half minute and marks
it stopped on a clean shutdown. `tillidsbot health` reads that file and, read-only, the
database: a bot that stopped beating, or scheduled messages and team pulses left waiting well
past their time, mean something is wrong even if the process still exists. It prints counts
and instants only, never anything a leader wrote.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock, iso
from bot.private_files import write_private
from bot.store import health as store
from bot.store.db import migrations

log = logging.getLogger(__name__)

BEAT_SECONDS = 30
MAX_SILENCE = timedelta(seconds=BEAT_SECONDS * 6)  # a few missed beats, not one slow one
MAX_LATE = timedelta(minutes=15)  # a Monday crowd of 10,000 is sent well within this
JOB_ID = "tillidsbot-heartbeat"


def heartbeat_path(database_path: Path) -> Path:
    """Where the heartbeat of the bot using this database is kept."""
    return database_path.with_name(database_path.name + ".heartbeat")


@dataclass
class Heartbeat:
    """What the running bot says about itself."""

    channel: str  # 'telegram' or 'console'
    leader_prefix: str  # whose scheduled messages this process sends ('tg:', 'console:')
    pid: int
    started_at: str
    at: str
    stopped_at: str | None = None

    def save(self, path: Path) -> None:
        """Write it whole (a reader never sees half a file)."""
        write_private(path, json.dumps(self.__dict__).encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> Heartbeat | None:
        """Read it; None when there is none or it cannot be read."""
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


Stop = Callable[[], Awaitable[None]]


async def start_heartbeat(database_path: Path, clock: Clock, channel: str,
                          leader_prefix: str, scheduler: BaseScheduler | None = None) -> Stop:
    """Beat now and every BEAT_SECONDS (on the given scheduler, the core's one, else on one of
    its own); the returned stop records a clean shutdown. leader_prefix '' = every channel's
    leaders are this process's to send."""
    if str(database_path) == ":memory:":  # nothing outside this process could read it

        async def nothing() -> None:
            """No heartbeat to stop."""

        return nothing
    path = heartbeat_path(database_path)
    beat = Heartbeat(channel, leader_prefix, os.getpid(), iso(clock.now()), iso(clock.now()))

    def refresh() -> None:
        """Say the bot is still here."""
        beat.at = iso(clock.now())
        try:
            beat.save(path)
        except OSError as exc:  # a full disk must not stop the bot; health will notice
            log.warning("could not write the heartbeat: %s", type(exc).__name__)

    refresh()
    used = scheduler or AsyncIOScheduler(timezone="UTC")
    used.add_job(refresh, IntervalTrigger(seconds=BEAT_SECONDS), id=JOB_ID,
                 replace_existing=True, coalesce=True, max_instances=1,
                 misfire_grace_time=BEAT_SECONDS)
    if not used.running:
        used.start()

    async def stop() -> None:
        """Stop beating and say the stop was deliberate."""
        if scheduler is None:
            used.shutdown(wait=False)
        elif used.running and used.get_job(JOB_ID) is not None:
            used.remove_job(JOB_ID)
        beat.stopped_at = iso(clock.now())
        refresh()

    return stop


@dataclass
class Health:
    """The verdict and the figures behind it."""

    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """No problem found."""
        return not self.problems


def check(database_path: Path, now: datetime, max_silence: timedelta = MAX_SILENCE,
          max_late: timedelta = MAX_LATE) -> Health:
    """Check the heartbeat and what waits in the database (read-only)."""
    health = Health()
    if not database_path.is_file():
        health.problems.append(f"no database at {database_path}")
        return health
    beat = Heartbeat.load(heartbeat_path(database_path))
    _check_beat(health, beat, now, max_silence)
    try:
        _check_database(health, database_path, now - max_late,
                        beat.leader_prefix if beat else None)
    except sqlite3.Error as exc:
        health.problems.append(f"the database cannot be read: {exc}")
    return health


def _check_beat(health: Health, beat: Heartbeat | None, now: datetime,
                max_silence: timedelta) -> None:
    """Is a bot running and beating?"""
    if beat is None:
        health.problems.append("no heartbeat: the bot has not run against this database")
        return
    health.facts.update(channel=beat.channel, pid=beat.pid, started_at=beat.started_at,
                        last_beat=beat.at)
    if beat.stopped_at:
        health.problems.append(f"the bot stopped at {beat.stopped_at}")
        return
    silence = now - datetime.fromisoformat(beat.at)
    health.facts["seconds_since_beat"] = int(silence.total_seconds())
    if silence > max_silence:
        health.problems.append(f"no heartbeat for {int(silence.total_seconds())} s "
                               f"(the bot is stuck or was killed)")


def _check_database(health: Health, path: Path, late: datetime, prefix: str | None) -> None:
    """Schema version and anything left waiting past `late`."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        version = store.schema_version(conn)
        latest = migrations()[-1][0]
        health.facts.update(schema=version, leaders=store.leader_count(conn))
        if version != latest:
            health.problems.append(f"database schema {version}, this version expects {latest}")
            return
        cutoff = iso(late)
        # another channel's leaders are not this process's to send
        pending, overdue, oldest = store.pending_schedules(conn, cutoff, prefix)
        health.facts.update(pending=pending, overdue=overdue)
        if overdue:
            health.problems.append(f"{overdue} scheduled messages waiting since {oldest}")
        teams, closing = store.late_team_work(conn, cutoff)
        health.facts.update(late_pulses=teams, late_results=closing)
        if teams or closing:
            health.problems.append(f"team check-ins behind: {teams} pulses not posted, "
                                   f"{closing} results not published")
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def report(health: Health) -> str:
    """The check as a few plain lines for an operator."""
    lines = [f"{key}: {value}" for key, value in health.facts.items()]
    lines += [f"problem: {problem}" for problem in health.problems]
    lines.append("healthy" if health.healthy else "unhealthy")
    return "\n".join(lines)
