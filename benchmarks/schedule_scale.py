"""Scheduler scale: start-up time and resident memory per leader at 1,000 / 10,000 / 100,000.

Each leader has a weekly nudge and one follow-up. For every size, fresh processes measure:

* first start   - the dispatcher plans every leader's weekly nudge from the leaders table (what a
                  start-up does when no nudge rows exist yet) and runs its first tick;
* restart       - a second start on the same file: reconcile 'sending' rows, look for leaders
                  without a nudge, first tick. This is what every restart costs;
* per-job       - for comparison, the design the issue warns about: one APScheduler job per
                  scheduled row (2 per leader), registered from the table at start-up with
                  explicit ids, replace_existing=True, misfire_grace_time and coalesce=True.

Resident memory is the growth of RSS (from /proc/self/statm) during the measured start-up,
divided by the number of leaders. Run:

    .venv/bin/python benchmarks/schedule_scale.py [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday: nothing is due at start-up


def rss_bytes() -> int:
    """Current resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def seed(db: Path, n: int) -> None:
    """N leaders, each with one pending follow-up (nudges are planned by the first start)."""
    import sqlite3

    from bot.clock import iso
    from bot.store.db import Store

    async def migrate() -> None:
        """Create the schema the app uses."""
        store = await Store.open(db)
        await store.close()

    asyncio.run(migrate())
    stamp = iso(NOW)
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO leaders (leader_id, chat_id, language, timezone, settings, created_at, "
            "updated_at) VALUES (?, ?, 'da', 'Europe/Copenhagen', '{}', ?, ?)",
            ((f"tg:{i}", str(i), stamp, stamp) for i in range(n)))
        conn.executemany(
            "INSERT INTO schedules (leader_id, kind, conversation, thread, tag, due_at, status, "
            "payload, created_at, updated_at) VALUES (?, 'followup', 'delegation_followup', ?, "
            "'checkin', ?, 'pending', '{\"context\": {}}', ?, ?)",
            ((f"tg:{i}", f"t{i}", iso(NOW + timedelta(days=1 + i % 30, hours=-3)), stamp, stamp)
             for i in range(n)))


class NullOutbox:
    """Nothing is due during the measurement; deliveries would be dropped."""

    async def deliver(self, chat_id: str, messages: list[object]) -> None:
        """Drop."""


async def dispatcher_start(db: Path) -> dict[str, float]:
    """Open the app's core and run the scheduler's start-up and first tick."""
    from bot.app import build_core
    from bot.clock import ManualClock
    from bot.config import load_settings
    from bot.schedule.dispatcher import Dispatcher, ScheduleConfig

    core = await build_core(load_settings(env={}, database_path=db), ManualClock(NOW))
    dispatcher = Dispatcher(core.service, NullOutbox(), ScheduleConfig())
    before = rss_bytes()
    started = time.perf_counter()
    report = await dispatcher.startup()
    await dispatcher.tick()
    seconds = time.perf_counter() - started
    grown = rss_bytes() - before
    await core.close()
    return {"seconds": seconds, "rss_growth": grown, "planned": report.nudges_planned}


async def per_job_start(db: Path) -> dict[str, float]:
    """One APScheduler job per pending row, registered from the table (the rejected design)."""
    import sqlite3

    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.date import DateTrigger

    async def send(row_id: int) -> None:
        """The job body (never runs: everything is in the future)."""

    before = rss_bytes()
    started = time.perf_counter()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, due_at FROM schedules WHERE status = 'pending' "
                            "ORDER BY due_at").fetchall()
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start(paused=True)
    for row_id, due_at in rows:
        scheduler.add_job(send, DateTrigger(datetime.fromisoformat(due_at)), args=[row_id],
                          id=f"schedule-{row_id}", replace_existing=True,
                          misfire_grace_time=12 * 3600, coalesce=True)
    seconds = time.perf_counter() - started
    grown = rss_bytes() - before
    scheduler.shutdown(wait=False)
    return {"seconds": seconds, "rss_growth": grown, "jobs": len(rows)}


def child(mode: str, db: Path) -> None:
    """Measure one thing in this (fresh) process and print it as JSON."""
    run = {"start": dispatcher_start, "per-job": per_job_start}[mode]
    result = asyncio.run(run(db))
    result["max_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


def measure(mode: str, db: Path) -> dict[str, float]:
    """Run one measurement in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(db)], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Seed each size, measure, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    print(f"{'leaders':>8} {'first start':>12} {'restart':>9} {'restart RSS/leader':>19} "
          f"{'rows':>8} {'per-job start':>14} {'per-job RSS/leader':>19}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            db = Path(tmp) / f"scale-{n}.db"
            seed(db, n)
            first = measure("start", db)
            assert first["planned"] == n, first
            again = measure("start", db)
            per_job = measure("per-job", db)
            print(f"{n:>8} {first['seconds']:>11.2f}s {again['seconds']:>8.3f}s "
                  f"{again['rss_growth'] / n:>17.1f} B {int(per_job['jobs']):>8} "
                  f"{per_job['seconds']:>13.2f}s {per_job['rss_growth'] / n:>17.1f} B",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
