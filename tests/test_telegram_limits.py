"""The Telegram rate limiter in virtual time: per-chat bursts, the global ceiling, pre-paced
scheduled messages, and pacing state that does not grow without bound."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from bot.channels.telegram_limits import (
    PRE_PACED,
    ChatBuckets,
    ChatLocks,
    PacedRateLimiter,
)
from bot.clock import ManualClock

START = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)


class Recorder:
    """A limiter on the ManualClock and the virtual times at which its requests went out."""

    def __init__(self, **options: Any) -> None:
        """Build the limiter with an injected clock."""
        self.clock = ManualClock(START)
        self.sent: list[tuple[float, int]] = []
        self.limiter = PacedRateLimiter(clock=self.now, sleep=self.clock.sleep, **options)

    def now(self) -> float:
        """Seconds since START on the virtual clock."""
        return (self.clock.now() - START).total_seconds()

    async def send(self, chat_id: int, paced: bool = False, method: str = "sendMessage") -> None:
        """One request through the limiter."""

        async def callback(*args: Any, **kwargs: Any) -> bool:
            self.sent.append((self.now(), chat_id))
            return True

        await self.limiter.process_request(callback, (), {}, method, {"chat_id": chat_id},
                                           PRE_PACED if paced else None)


def busiest_window(times: list[float]) -> int:
    """Most requests in any half-open one-second window."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_a_reply_of_three_messages_goes_out_at_once_then_about_one_a_second() -> None:
    r = Recorder(chat_interval=1.0)
    for _ in range(8):
        await r.send(7)
    times = [t for t, _ in r.sent]
    assert times[:3] == [0.0, 0.0, 0.0]  # the burst: no waiting
    assert times[3] >= 1.0  # the fourth waits for a token
    gaps = [b - a for a, b in zip(times[2:], times[3:], strict=False)]
    assert all(gap >= 1.0 - 1e-9 for gap in gaps), gaps  # sustained: one a second
    # After a quiet spell the bucket is full again.
    r.clock.advance(_seconds(10))
    before = r.now()
    for _ in range(3):
        await r.send(7)
    assert [t for t, _ in r.sent[-3:]] == [before] * 3


async def test_other_chats_are_not_paced_against_each_other() -> None:
    r = Recorder(chat_interval=1.0)
    await asyncio.gather(*(r.send(chat) for chat in range(1, 6) for _ in range(3)))
    assert {t for t, _ in r.sent} == {0.0}


async def test_the_global_rate_is_a_hard_ceiling_in_every_one_second_window() -> None:
    r = Recorder(chat_interval=1.0, overall_rate=30)
    rng = random.Random(3)
    jobs = [r.send(chat) for chat in range(1, 201) for _ in range(rng.randrange(1, 5))]
    rng.shuffle(jobs)
    await asyncio.gather(*jobs)
    times = [t for t, _ in r.sent]
    assert len(times) == len(jobs)
    assert busiest_window(times) == 30
    # Every request to a chat counts, edits too (Telegram counts them against the bot).
    r2 = Recorder(chat_interval=1.0, overall_rate=10)
    await asyncio.gather(*(r2.send(chat, method="editMessageText") for chat in range(1, 40)))
    assert busiest_window([t for t, _ in r2.sent]) == 10


async def test_pre_paced_messages_do_not_wait_for_the_chat_but_count_in_its_bucket() -> None:
    r = Recorder(chat_interval=1.0)
    for _ in range(5):
        await r.send(9, paced=True)  # the scheduler already spaced these
    assert [t for t, _ in r.sent] == [0.0] * 5
    await r.send(9)  # a live reply right after them waits: the bucket is empty
    assert r.sent[-1][0] >= 3.0


async def test_scheduled_messages_keep_to_the_configured_schedule_rate() -> None:
    r = Recorder(chat_interval=1.0, overall_rate=30, scheduled_rate=25)
    await asyncio.gather(*(r.send(chat, paced=True) for chat in range(1, 301)),
                         *(r.send(chat) for chat in range(1000, 1100)))
    scheduled = [t for t, chat in r.sent if chat < 1000]
    assert busiest_window(scheduled) == 25
    assert busiest_window([t for t, _ in r.sent]) == 30


async def test_no_pacing_without_an_interval() -> None:
    r = Recorder(chat_interval=0)
    for _ in range(10):
        await r.send(5)
    assert {t for t, _ in r.sent} == {0.0}


def test_chat_buckets_forget_chats_whose_bucket_is_full_again() -> None:
    buckets = ChatBuckets(interval=1.0, burst=3)
    for chat in range(5000):
        buckets.reserve(chat, now=float(chat) / 100)  # 100 new chats a second
    assert len(buckets) < 2100  # only recent chats are remembered
    assert buckets.reserve(4999, now=50.0) == 0.0  # still counted: second message, no wait


async def test_chat_locks_are_dropped_when_nobody_holds_them() -> None:
    locks = ChatLocks()
    order: list[str] = []

    async def hold(name: str) -> None:
        async with locks.hold(1):
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    await asyncio.gather(hold("a"), hold("b"))
    assert order == ["a in", "a out", "b in", "b out"]
    assert len(locks) == 0


def _seconds(n: float) -> Any:
    """A timedelta of n seconds."""
    from datetime import timedelta
    return timedelta(seconds=n)
