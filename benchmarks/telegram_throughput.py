"""Telegram adapter figures: updates per second and reply latency against the local stand-in.

    .venv/bin/python benchmarks/telegram_throughput.py [chats] [messages_per_chat]

Runs the real bot (PTB Application, per-chat processor, rate limiter, SQLite) in-process
against tests/botapi_standin.py on 127.0.0.1. Every chat sends its messages at once; the figures
are the time until every update is handled, the latency from sending an update to the bot's
reply, and whether each chat's replies came in order. Per-chat pacing is switched off for the
throughput run (it would dominate: ~1 message/s per chat by design) and measured separately.
Every reply is a sendMessage with a chat_id, so AIORateLimiter's overall limit (Telegram's
30 messages/s per bot) bounds the throughput by design. Prints figures, asserts nothing.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.botapi_standin import BotApiStandIn  # noqa: E402
from tests.tgkit import InProcessBot, until, update_status  # noqa: E402

TAG = re.compile(r"/u(\d+)m(\d+)")


async def throughput(chats: int, messages: int) -> None:
    """All chats send unknown commands at once; measure until every one is answered."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        async with BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open",
                                                        TELEGRAM_CHAT_INTERVAL="0"):
            users = [api.user(10_000 + n, f"Leder {n}") for n in range(chats)]
            for user in users:  # first contact (welcome, leader row) outside the measurement
                api.send_text(user, "/start")
            await until(lambda: all(api.sent_texts(u.id) for u in users), within=300,
                        what="every welcome")
            sent_at: dict[str, float] = {}
            ids: list[int] = []
            start = time.monotonic()
            for m in range(messages):
                for user in users:
                    tag = f"u{user.id}m{m}"
                    ids.append(api.send_text(user, f"/{tag}"))
                    sent_at[tag] = time.monotonic()
            await until(lambda: update_status(db, ids[-1]) == "done"
                        and all(update_status(db, i) == "done" for i in ids), within=600,
                        what="every update")
            elapsed = time.monotonic() - start
            latencies = []
            in_order = True
            for user in users:
                found = [(TAG.search(str(c.params["text"])), c.at)
                         for c in api.calls_of("sendMessage") if c.params["chat_id"] == user.id]
                replies = [(match, at) for match, at in found if match]
                in_order = in_order and [int(m[2]) for m, _ in replies] == list(range(messages))
                latencies += [at - sent_at[match[0][1:]] for match, at in replies]
    total = chats * messages
    latencies.sort()
    print(f"{chats} chats x {messages} updates = {total} updates in {elapsed:.2f} s "
          f"-> {total / elapsed:.0f} updates/s")
    print(f"  reply latency: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"95th percentile {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
    print(f"  every chat's replies in order: {in_order}")


async def pacing(messages: int = 5) -> None:
    """One chat, several replies in a row, default pacing: the gaps between them."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        async with BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open",
                                                        TELEGRAM_CHAT_INTERVAL="1.0"):
            user = api.user(20_000, "Leder")
            ids = [api.send_text(user, f"/p{n}") for n in range(messages)]
            await until(lambda: all(update_status(db, i) == "done" for i in ids), within=120,
                        what="every update")
            times = [c.at for c in api.calls_of("sendMessage") if c.params["chat_id"] == user.id]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    print(f"pacing, one private chat, {len(times)} messages in a row: gaps "
          f"min {min(gaps):.2f} s, mean {statistics.mean(gaps):.2f} s")


def main(argv: list[str]) -> None:
    """Run both measurements."""
    chats = int(argv[0]) if argv else 50
    messages = int(argv[1]) if len(argv) > 1 else 20
    asyncio.run(throughput(chats, messages))
    asyncio.run(pacing())


if __name__ == "__main__":
    main(sys.argv[1:])
