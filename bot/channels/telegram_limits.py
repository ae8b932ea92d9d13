"""Telegram's limits on what the bot sends: a per-chat burst bucket and a hard global ceiling.

PacedRateLimiter is PTB's AIORateLimiter (group limits, 429 retry_after honoured) with:
- per private chat, a token bucket: a reply of up to `burst` messages goes out at once, the
  sustained rate is one message per `chat_interval` (Telegram tolerates short bursts and answers
  429 past them);
- one sliding one-second window for everything sent to a chat: never more than `overall_rate`
  requests in any one second (PTB's own overall limiter is a leaky bucket that lets ~2x through
  in a second after a quiet spell, so it is switched off);
- messages the scheduler already paced (rate_limit_args=PRE_PACED) skip the per-chat wait, are
  counted in the chat's bucket, and pass a second window at the configured schedule rate;
- retries of transient server errors.
Time and waiting are injected (`clock`, `sleep`) so tests run it in virtual time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from telegram.error import NetworkError
from telegram.ext import AIORateLimiter

from bot import metrics
from bot.locks import KeyedLocks

log = logging.getLogger(__name__)

# Requests that put a new message in a chat: these are paced per private chat.
PACED_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup",
                           "sendAnimation", "sendAudio", "sendVoice", "sendVideo",
                           "copyMessage", "forwardMessage"})
TELEGRAM_RATE = 30  # messages per second per bot (Telegram's broadcast limit)
CHAT_BURST = 3  # messages to one private chat that may go out at once
WINDOW = 1.0  # seconds
PRE_PACED = {"pre_paced": True}  # rate_limit_args of a message the scheduler paced already
PRUNE_AT = 1000  # chats with pacing state before quiet ones are forgotten


class SlidingWindow:
    """At most `rate` acquisitions in any `window` seconds of the clock; first come first in."""

    def __init__(self, rate: int, clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]], window: float = WINDOW) -> None:
        """rate per window; clock and sleep may be virtual."""
        self.rate = rate
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self._times: deque[float] = deque(maxlen=rate)
        self._lock = asyncio.Lock()

    async def acquire(self, inner: SlidingWindow | None = None) -> float:
        """Wait until one more keeps every window within the rate; the time it was granted.

        With `inner`, the grant is the inner window's (acquired while this one is held, so
        both count the same instant: the moment the request really goes out).
        """
        async with self._lock:
            while True:
                now = self.clock()
                if len(self._times) < self.rate or now - self._times[0] >= self.window:
                    break
                await self.sleep(self._times[0] + self.window - now)
            # Only this holder adds to the window and time moves on: there is still room.
            granted = now if inner is None else await inner.acquire()
            self._times.append(granted)
            return granted


class ChatBuckets:
    """A token bucket per chat (GCRA): `burst` at once, then one per `interval`."""

    def __init__(self, interval: float, burst: int) -> None:
        """Sustained one message per interval seconds, bursts of up to burst."""
        self.interval = interval
        self.tolerance = max(0, burst - 1) * interval
        self._due: dict[int, float] = {}  # chat -> when its bucket is full again (theoretical)
        self._prune_at = PRUNE_AT

    def reserve(self, chat_id: int, now: float) -> float:
        """Take a token; seconds to wait before sending (0 within the burst)."""
        due = max(self._due.get(chat_id, now), now)
        wait = max(0.0, due - self.tolerance - now)
        self._due[chat_id] = due + self.interval
        if len(self._due) > self._prune_at:
            self._forget_full(now)
        return wait

    def record(self, chat_id: int, now: float) -> None:
        """Count a message that was paced elsewhere, without waiting."""
        self._due[chat_id] = max(self._due.get(chat_id, now), now) + self.interval

    def _forget_full(self, now: float) -> None:
        """Drop chats whose bucket is full again: their state is the same as no state."""
        self._due = {c: t for c, t in self._due.items() if t > now}
        self._prune_at = max(PRUNE_AT, 2 * len(self._due))

    def __len__(self) -> int:
        """Chats with pacing state."""
        return len(self._due)


# One lock per chat, kept only while someone holds or waits for it.
ChatLocks = KeyedLocks


class PacedRateLimiter(AIORateLimiter):
    """AIORateLimiter plus a per-chat burst bucket, a hard global ceiling and 5xx retries."""

    def __init__(self, chat_interval: float = 1.0, max_retries: int = 3,
                 server_retries: int = 3, backoff: float = 0.5, *,
                 burst: int = CHAT_BURST, overall_rate: int = TELEGRAM_RATE,
                 scheduled_rate: int = TELEGRAM_RATE,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """chat_interval: sustained seconds per message to one private chat (0: unpaced)."""
        super().__init__(overall_max_rate=0, max_retries=max_retries)
        self.chat_interval = chat_interval
        self.server_retries = server_retries
        self.backoff = backoff
        self.clock = clock
        self.sleep = sleep
        self.buckets = ChatBuckets(chat_interval, burst)
        self.overall = SlidingWindow(overall_rate, clock, sleep)
        self.scheduled = SlidingWindow(min(scheduled_rate, overall_rate), clock, sleep)

    async def process_request(
        self,
        callback: Callable[..., Any],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> Any:
        """Pace per chat, keep under the global ceiling, then AIORateLimiter's group limits."""
        pre_paced = isinstance(rate_limit_args, dict) and rate_limit_args.get("pre_paced")
        retries = None if isinstance(rate_limit_args, dict) else rate_limit_args
        call = self._with_server_retries(callback, endpoint)
        chat_id = _private_chat_id(data) if endpoint in PACED_METHODS else None
        if chat_id is not None and self.chat_interval > 0:
            if pre_paced:
                self.buckets.record(chat_id, self.clock())
            else:
                wait = self.buckets.reserve(chat_id, self.clock())
                if wait > 0:
                    await self.sleep(wait)
        if data.get("chat_id") is not None:
            if pre_paced:
                await self.scheduled.acquire(inner=self.overall)
            else:
                await self.overall.acquire()
        return await super().process_request(call, args, kwargs, endpoint, data, retries)

    def _with_server_retries(self, callback: Callable[..., Any],
                             endpoint: str) -> Callable[..., Any]:
        """Retry a request that failed with a server or connection error (not a timeout)."""

        made = 0  # calls of this request so far: AIORateLimiter calls again after a 429

        async def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal made
            for attempt in range(self.server_retries + 1):
                if made:
                    metrics.api_retry("telegram", endpoint)
                made += 1
                try:
                    return await callback(*args, **kwargs)
                except NetworkError as exc:
                    # BadRequest and TimedOut are NetworkErrors too, but a timed-out request may
                    # have arrived (a retry could send twice) and a bad one stays bad.
                    if type(exc) is not NetworkError or attempt == self.server_retries:
                        raise
                    delay = self.backoff * 2 ** attempt
                    log.warning("Bot API %s failed with a server or network error; "
                                "retrying in %.1f s", endpoint, delay)
                    await asyncio.sleep(delay)
            raise AssertionError("unreachable")

        return call


def _private_chat_id(data: dict[str, Any]) -> int | None:
    """The chat id of a request to a private chat (positive ids), else None."""
    try:
        chat_id = int(data.get("chat_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return chat_id if chat_id > 0 else None
