"""What encryption at rest adds to a step: CPU per typed answer with and without it.

    .venv/bin/python benchmarks/encryption_cost.py [runs] [answers]

Runs the real BotService on a temporary SQLite file (WAL, as in production): `/delegate`,
two typed answers, `/cancel`, over and over until `answers` typed answers (default 200) were
stored, and measures the process CPU time (all threads, so aiosqlite's too) of each typed-answer
step. "sealed" is the code as shipped; "plain" is the same code with the cipher calls replaced
by pass-through, so the difference is the cost of AES-GCM, the key lookups and the key store's
freshness check. Runs alternate (sealed, plain, plain, sealed, …) so drift hits both alike; it
prints the median of the per-run medians and their spread. Asserts nothing.

On a tree from before encryption (no bot/store/crypto.py) it measures "plain" only, with that
tree's own store code: run it there with PYTHONPATH pointing at the tree for the baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.dialogue import load_dialogues
from bot.dialogue.state import TextInput
from bot.service import BotService, Who
from bot.store.db import Store

ROOT = Path(__file__).resolve().parent.parent
WHO = Who(leader_id="tg:1", chat_id="1", language_code="da")
HAS_CRYPTO = importlib.util.find_spec("bot.store.crypto") is not None


@contextlib.contextmanager
def plain_cells() -> Iterator[None]:
    """Replace sealing and opening by pass-through (the cells stay text)."""
    if not HAS_CRYPTO:
        yield
        return
    from bot.store import crypto

    seal, opened = crypto.seal_cell, crypto.open_cell

    async def no_seal(conn: Any, table: str, column: str, row: Any, plain: str | None) -> Any:
        return plain

    def no_open(conn: Any, table: str, column: str, row: Any, stored: Any) -> Any:
        return stored if stored is None or isinstance(stored, str) else bytes(stored).decode()

    crypto.seal_cell, crypto.open_cell = no_seal, no_open  # type: ignore[assignment]
    try:
        yield
    finally:
        crypto.seal_cell, crypto.open_cell = seal, opened


async def one_run(answers: int) -> list[float]:
    """CPU milliseconds of each typed-answer step on a fresh database."""
    dialogues = load_dialogues(ROOT / "dialogues", ROOT / "templates")
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        service = BotService(store, dialogues, ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC)))
        steps: list[float] = []
        n = 0
        while len(steps) < answers:
            await service.handle_command(WHO, "delegate")
            for text in (f"Opgave nummer {n} til teamet", f"Formålet med opgave {n}"):
                started = time.process_time()
                await service.handle_input(WHO, TextInput(text=text))
                steps.append((time.process_time() - started) * 1000)
            await service.handle_command(WHO, "cancel")
            n += 1
        await store.close()
    return steps[:answers]


def main(argv: list[str]) -> int:
    """Alternate sealed and plain runs; print the figures."""
    runs = int(argv[0]) if argv else 5
    answers = int(argv[1]) if len(argv) > 1 else 200
    order = ["sealed", "plain", "plain", "sealed"] * ((runs + 1) // 2)
    modes = order[: 2 * runs] if HAS_CRYPTO else ["plain"] * runs
    medians: dict[str, list[float]] = {"sealed": [], "plain": []}
    for mode in modes:
        if mode == "plain":
            with plain_cells():
                steps = asyncio.run(one_run(answers))
        else:
            steps = asyncio.run(one_run(answers))
        medians[mode].append(statistics.median(steps))
    print(f"{answers} typed answers per run, {runs} run(s) per mode; CPU ms per step "
          "(median of run medians, min-max)")
    for mode, values in medians.items():
        if values:
            print(f"  {mode:6}  {statistics.median(values):.3f} ms  "
                  f"({min(values):.3f}-{max(values):.3f})")
    if medians["sealed"] and medians["plain"]:
        added = statistics.median(medians["sealed"]) - statistics.median(medians["plain"])
        print(f"  added by encryption: {added * 1000:.0f} µs per step "
              f"({added / statistics.median(medians['plain']) * 100:.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
