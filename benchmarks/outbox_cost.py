"""What the reply outbox adds to a step: CPU and wall time per typed answer, through the whole
inbound pipeline (admission, event claim, engine step and commit, the reply, the finish).

    PYTHONPATH=<tree> .venv/bin/python benchmarks/outbox_cost.py [runs] [answers]

Runs the real core (`bot.app.build_core`) on a temporary SQLite file (WAL, as in production)
and hands typed answers to `Inbound.handle` with a channel that draws nothing and reports each
message out (`Reply.delivered`, where the tree has it): `/delegate`, two typed answers,
`/cancel`, over and over until `answers` typed answers were stored. Measures process CPU time
(all threads, aiosqlite's too) and wall time of each typed-answer event and prints the median
of the per-run medians. Run it with PYTHONPATH at a tree from before the outbox for the
baseline (the script uses only what both trees have). Asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bot
from bot.app import build_core
from bot.clock import ManualClock
from bot.config import Settings
from bot.inbound import InEvent

ROOT = Path(bot.__file__).resolve().parent.parent


class Quiet:
    """A channel that draws nothing and reports every message out."""

    can_edit = True

    async def render(self, event: InEvent, reply: Any) -> None:
        """Report the messages as sent (ids made up)."""
        delivered = getattr(reply, "delivered", None)
        for n, message in enumerate(reply.messages):
            if delivered is not None:
                await delivered(message, [str(n)])


def event(n: int, kind: str, **fields: Any) -> InEvent:
    """The local leader's n-th event."""
    return InEvent(channel="console", event_id=f"e{n}", user_id="local", reference="console",
                   kind=kind, language="da", **fields)  # type: ignore[arg-type]


async def one_run(answers: int) -> tuple[list[float], list[float]]:
    """CPU and wall milliseconds of each typed-answer event on a fresh database."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_path=Path(tmp) / "bench.db",
                            dialogues_dir=ROOT / "dialogues", templates_dir=ROOT / "templates")
        core = await build_core(settings, ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC)))
        channel, ids = Quiet(), iter(range(10**9))
        await core.inbound.handle(event(next(ids), "command", command="start"), channel)
        for _ in range(2):  # onboarding: language, time zone (the first button each)
            last = await core.inbound.handle(event(next(ids), "command", command="start"),
                                             channel)
        cpu: list[float] = []
        wall: list[float] = []
        n = 0
        del last
        while len(cpu) < answers:
            await core.inbound.handle(event(next(ids), "command", command="delegate"), channel)
            for text in (f"Opgave nummer {n} til teamet", f"Formålet med opgave {n}"):
                typed = event(next(ids), "text", text=text)
                started, clock = time.process_time(), time.perf_counter()
                await core.inbound.handle(typed, channel)
                cpu.append((time.process_time() - started) * 1000)
                wall.append((time.perf_counter() - clock) * 1000)
            await core.inbound.handle(event(next(ids), "command", command="cancel"), channel)
            n += 1
        await core.close()
    return cpu[:answers], wall[:answers]


def main(argv: list[str]) -> int:
    """Run, print the figures."""
    runs = int(argv[0]) if argv else 5
    answers = int(argv[1]) if len(argv) > 1 else 200
    cpus, walls = [], []
    for _ in range(runs):
        cpu, wall = asyncio.run(one_run(answers))
        cpus.append(statistics.median(cpu))
        walls.append(statistics.median(wall))
    print(f"tree {ROOT}: {answers} typed answers per run, {runs} run(s); per step, median of "
          f"run medians (min-max): CPU {statistics.median(cpus):.3f} ms "
          f"({min(cpus):.3f}-{max(cpus):.3f}), wall {statistics.median(walls):.3f} ms "
          f"({min(walls):.3f}-{max(walls):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
