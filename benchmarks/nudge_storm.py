"""Weekly nudge storm: N leaders due in the same minute, through the scheduler's pacer AND the
Telegram rate limiter, in virtual time.

    .venv/bin/python benchmarks/nudge_storm.py [--sizes 1000 10000] [--rate 25 30]

Every leader has the default Monday 08:30 nudge. The real Dispatcher and Pacer (real SQLite
file, real dialogues) send through an outbox that does what TelegramChannel.deliver does with
each message: it goes through the real PacedRateLimiter as a pre-paced message (counted in the
chat's bucket, not made to wait for it, held under the global ceiling and the schedule rate).
Time is a ManualClock shared by both, so 10,000 leaders take seconds, not minutes. The figures
are what Telegram would see: messages per second over the storm, the busiest one-second window
and messages per leader. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_core  # noqa: E402
from bot.channels.compose import coalesce  # noqa: E402
from bot.channels.telegram_limits import PRE_PACED, PacedRateLimiter  # noqa: E402
from bot.clock import ManualClock, iso  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.dialogue.state import OutMessage  # noqa: E402
from bot.schedule import plan  # noqa: E402
from bot.schedule.dispatcher import Dispatcher, ScheduleConfig  # noqa: E402
from bot.store import repo  # noqa: E402

MONDAY_0830 = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)  # 08:30 in Copenhagen


class LimitedOutbox:
    """TelegramChannel.deliver without the network: each message through the rate limiter."""

    def __init__(self, clock: ManualClock, rate: int) -> None:
        """A limiter on the same virtual clock as the scheduler."""
        self.clock = clock
        self.start = clock.now()
        self.limiter = PacedRateLimiter(chat_interval=1.0, scheduled_rate=rate,
                                        clock=self.seconds, sleep=clock.sleep)
        self.sent: list[tuple[float, str]] = []

    def seconds(self) -> float:
        """Virtual seconds since the start."""
        return (self.clock.now() - self.start).total_seconds()

    async def deliver(self, chat_id: str, messages: list[OutMessage]) -> None:
        """Every Telegram message the channel would send, as the API would receive it."""
        for _message in coalesce(messages):

            async def callback(*args: Any, **kwargs: Any) -> bool:
                self.sent.append((self.seconds(), chat_id))
                return True

            await self.limiter.process_request(callback, (), {}, "sendMessage",
                                               {"chat_id": int(chat_id)}, PRE_PACED)


def busiest_window(times: list[float]) -> int:
    """Most messages in any half-open one-second window."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


async def storm(n: int, rate: int) -> dict[str, float]:
    """N leaders due at Monday 08:30; send them all; the figures."""
    clock = ManualClock(MONDAY_0830 - timedelta(hours=1))
    with tempfile.TemporaryDirectory() as tmp:
        core = await build_core(load_settings(env={}, database_path=Path(tmp) / "storm.db"),
                                clock)
        now = clock.now()
        async with core.store.transaction() as tx:
            for i in range(n):
                leader = await repo.create_leader(tx, f"tg:{1 + i}", str(1 + i), "da", iso(now))
                await plan.plan_nudge(tx, leader, now, "reflection")
        outbox = LimitedOutbox(clock, rate)
        dispatcher = Dispatcher(core.service, outbox,
                                ScheduleConfig(rate=rate, max_queue=max(5000, n)))
        await dispatcher.startup()
        clock.set(MONDAY_0830 + timedelta(minutes=1))
        outbox.start = clock.now()
        started = time.perf_counter()
        await dispatcher.run_once()
        wall = time.perf_counter() - started
        await core.close()
    times = [t for t, _ in outbox.sent]
    span = max(times) - min(times) if times else 0.0
    per_leader = Counter(chat for _, chat in outbox.sent)
    return {"messages": len(times), "span": span,
            "rate": (len(times) - 1) / span if span else float("nan"),
            "busiest": busiest_window(times),
            "per_leader": len(times) / max(1, len(per_leader)),
            "leaders": len(per_leader), "wall": wall}


def main() -> int:
    """Each size at each rate."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rate", type=int, nargs="+", default=[25, 30])
    args = parser.parse_args()
    print("| leaders | schedule rate | messages | leaders reached | messages/leader | "
          "span (virtual s) | rate msg/s | busiest 1-s window | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        for rate in args.rate:
            f = asyncio.run(storm(n, rate))
            print(f"| {n} | {rate}/s | {f['messages']:.0f} | {f['leaders']:.0f} | "
                  f"{f['per_leader']:.2f} | {f['span']:.1f} | {f['rate']:.1f} | "
                  f"{f['busiest']:.0f} | {f['wall']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
