"""A leader's data at scale: /history, /trend, /export and /forget time, retention and backup.

    .venv/bin/python benchmarks/history_scale.py [leaders] [years]

Fills a temporary SQLite file with `leaders` leaders (default 2,000), each with `years` years
(default 3) of weekly reflections (a rating and a text answer each) plus a delegation a month,
then times the commands for one leader and the whole-database operations. Prints figures,
asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import build_core
from bot.clock import ManualClock, iso
from bot.config import Settings
from bot.service import Who
from bot.store import privacy
from bot.store.backup import backup_database

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def fill(db: Path, leaders: int, years: int) -> int:
    """Write the history with plain sqlite3 in one transaction; return the answer count."""
    import sqlite3

    conn = sqlite3.connect(db)
    weeks = 52 * years
    answers = 0
    with conn:
        for n in range(leaders):
            leader = f"tg:{100000 + n}"
            conn.execute("INSERT INTO leaders (leader_id, chat_id, language, timezone, settings, "
                         "created_at, updated_at) VALUES (?, ?, 'da', 'Europe/Copenhagen', '{}', "
                         "?, ?)", (leader, str(100000 + n), iso(NOW), iso(NOW)))
            threads, rows = [], []
            for w in range(weeks):
                at = iso(NOW - timedelta(weeks=weeks - w))
                kind = "delegation" if w % 4 == 0 else "reflection"
                thread = f"{n:08x}{w:024x}"
                threads.append((thread, leader, kind, "finished", "da", f"Overskrift {w}",
                                "Resumé " * 40, at, at))
                rows.append((leader, thread, kind, "q", "reflection", json.dumps("Svar " * 20),
                             at))
                rows.append((leader, thread, kind, "rate", "rating", json.dumps(1 + w % 5), at))
            conn.executemany("INSERT INTO threads (thread, leader_id, conversation, status, "
                             "language, headline, summary, started_at, finished_at) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?)", threads)
            conn.executemany("INSERT INTO answers (leader_id, thread, conversation, node, name, "
                             "value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            answers += len(rows)
    conn.close()
    return answers


async def timed(label: str, action) -> object:  # type: ignore[no-untyped-def]
    """Run and print how long it took."""
    start = time.perf_counter()
    result = await action
    print(f"{label:<44} {1000 * (time.perf_counter() - start):8.1f} ms")
    return result


async def main(leaders: int, years: int) -> None:
    """Fill, then measure."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bot.db"
        settings = Settings(database_path=db, dialogues_dir=ROOT / "dialogues",
                            templates_dir=ROOT / "templates")
        core = await build_core(settings, ManualClock(NOW))
        await core.close()
        start = time.perf_counter()
        answers = fill(db, leaders, years)
        print(f"{leaders} leaders, {answers} answers, {db.stat().st_size / 1e6:.0f} MB "
              f"(filled in {time.perf_counter() - start:.1f} s)")
        core = await build_core(settings, ManualClock(NOW))
        who = Who(leader_id=f"tg:{100000 + leaders // 2}", chat_id=str(100000 + leaders // 2))
        service = core.service
        await timed("/history (first page)", service.handle_command(who, "history"))
        out = await timed("/trend (query + PNG)", service.handle_command(who, "trend"))
        print(f"  chart: {len(out[0].attachments[0].data) / 1024:.0f} KB")  # type: ignore[index]
        out = await timed("/export (both files)", service.handle_command(who, "export"))
        sizes = [len(a.data) / 1024 for a in out[0].attachments]  # type: ignore[index]
        print(f"  files: {sizes[0]:.0f} KB Markdown, {sizes[1]:.0f} KB JSON")
        async def forget() -> dict[str, int]:
            async with core.store.transaction() as tx:
                return await privacy.erase_leader(tx, who.leader_id)
        deleted = await timed("forget (schema discovery + delete)", forget())
        print(f"  rows deleted: {sum(deleted.values())}")  # type: ignore[attr-defined]
        await timed("backup (online API + integrity check)", asyncio.to_thread(
            backup_database, db, Path(tmp) / "copy.db"))
        async def retention() -> privacy.RetentionResult:
            async with core.store.transaction() as tx:
                return await privacy.apply_retention(tx, NOW, 365)
        result = await timed("retention 365 days (whole database)", retention())
        print(f"  rows deleted: {result.total}")  # type: ignore[attr-defined]
        await core.close()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    span = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    asyncio.run(main(count, span))
