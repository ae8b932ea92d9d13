"""Team pulse figures: answer latency, close-and-publish time and chart rendering.

    .venv/bin/python benchmarks/team_pulse.py [members]

Runs the real TeamService on a temporary SQLite file with a gateway that only counts what
would be sent; prints figures, asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.clock import ManualClock
from bot.dialogue import load_dialogues
from bot.dialogue.state import OutMessage
from bot.store.db import Store
from bot.team.service import TeamService

ROOT = Path(__file__).resolve().parent.parent


class CountingGateway:
    """Accepts everything, remembers how much went to each chat."""

    def __init__(self) -> None:
        """Start empty."""
        self.sent = 0
        self.edits = 0

    async def send(self, chat_id: str, message: OutMessage) -> str | None:
        """Count a post."""
        self.sent += 1
        return str(self.sent)

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        """Count an edit."""
        self.edits += 1

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        """Everyone may run commands here."""
        return True

    def deep_link(self, payload: str | None = None) -> str:
        """A fixed link."""
        return "https://t.me/bench"


async def main(members: int) -> None:
    """Answer a pulse with `members` members (each also changes one answer), then close it."""
    dialogues = load_dialogues(ROOT / "dialogues", ROOT / "templates", ("da", "nb", "en"))
    clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        gateway = CountingGateway()
        team = TeamService(store, dialogues, clock, b"bench", gateway)
        await team.command("-1", "1", "now")
        latencies = []
        for index in range(members):
            for data in (f"tp:1:t:{index % 5 + 1}", f"tp:1:m:{'ypn'[index % 3]}",
                         f"tp:1:t:{(index + 2) % 5 + 1}"):
                start = time.perf_counter()
                await team.button("-1", str(10_000_000 + index), data)
                latencies.append(time.perf_counter() - start)
        clock.advance(timedelta(days=3))
        start = time.perf_counter()
        await team.tick()
        close = time.perf_counter() - start
        await store.close()
    latencies.sort()
    print(f"members: {members}, button presses: {len(latencies)}")
    print(f"answer latency: median {statistics.median(latencies) * 1000:.2f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.2f} ms, "
          f"max {latencies[-1] * 1000:.2f} ms")
    print(f"close + aggregate + chart + publish: {close * 1000:.1f} ms")
    print(f"group output: {gateway.sent} posts, {gateway.edits} edits "
          "(live-count edits limited to the per-group budget)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
