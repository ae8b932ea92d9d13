"""Sends due messages oldest-due first under a global cap and a per-chat pace.

One loop owns the order: it takes the earliest-due item whose chat is free, prepares it (a short
transaction that decides what to send and records 'sending'), waits for a slot in the sliding
one-second window, and hands the network call to a task so a slow send never holds up the others
or the handling of incoming updates. All waiting goes through the injected Timer, so tests run a
Monday-morning crowd in virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.channels.base import Outbox, Routes
from bot.clock import Timer
from bot.dialogue.state import OutMessage

log = logging.getLogger(__name__)

WINDOW = timedelta(seconds=1)


@dataclass(frozen=True)
class Prepared:
    """What one due row turned into: the messages for one chat."""

    chat_id: str  # the leader's stored conversation reference (paced per reference)
    messages: list[OutMessage]
    leader_id: str = ""  # whose: picks the channel when several run (see Routes)


Prepare = Callable[[int], Awaitable[Prepared | None]]
Finish = Callable[[int, BaseException | None], Awaitable[None]]


@dataclass(order=True)
class _Item:
    """A queued row, ordered by (due_at, id); after preparing it carries its messages."""

    key: tuple[str, int]
    chat: str = field(compare=False)
    messages: list[OutMessage] | None = field(default=None, compare=False)
    target: str = field(default="", compare=False)
    leader: str = field(default="", compare=False)

    @property
    def row_id(self) -> int:
        """The schedules row this item sends."""
        return self.key[1]


class Pacer:
    """Global cap per one-second window, one message per chat per interval, oldest due first."""

    def __init__(self, timer: Timer, outbox: Outbox | Routes, prepare: Prepare, finish: Finish,
                 rate: int = 25, chat_interval: float = 1.0, max_inflight: int = 100) -> None:
        """Configure the limits; `prepare` and `finish` are the dispatcher's transactions."""
        if rate < 1:
            raise ValueError("the global rate must be at least one message per second")
        self.timer = timer
        self.outbox = outbox
        self.prepare = prepare
        self.finish = finish
        self.rate = rate
        self.chat_interval = timedelta(seconds=chat_interval)
        self.max_inflight = max_inflight
        self._ready: list[_Item] = []
        self._timed: list[tuple[datetime, int, _Item]] = []
        self._seq = itertools.count()
        self._window: deque[datetime] = deque()
        self._free_at: dict[str, datetime] = {}
        # chat -> the row being sent there, so one row's messages stay together
        self._owner: dict[str, int] = {}
        self._parked: dict[str, list[_Item]] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._queued: set[int] = set()
        self._changed = asyncio.Event()
        self._stopping = False

    @property
    def queued(self) -> set[int]:
        """Row ids waiting or being sent (the dispatcher must not queue them again)."""
        return self._queued

    def submit(self, row_id: int, chat: str, due_at: str) -> bool:
        """Queue a due row; False if it is already queued."""
        if row_id in self._queued:
            return False
        self._queued.add(row_id)
        heapq.heappush(self._ready, _Item((due_at, row_id), chat or f"row:{row_id}"))
        self._changed.set()
        return True

    async def drain(self) -> None:
        """Send everything queued, then return (tests and start-up catch-up)."""
        await self._loop(until_idle=True)

    async def run(self) -> None:
        """Send as work arrives until stop() is called."""
        await self._loop(until_idle=False)

    def stop(self) -> None:
        """Stop starting new rows; the loop finishes the rows it has begun sending, then ends."""
        self._stopping = True
        self._changed.set()

    # ---- the loop ---------------------------------------------------------------------------

    async def _loop(self, until_idle: bool) -> None:
        """Pick, prepare, pace and send until idle (or stopped)."""
        while True:
            if self._stopping and not self._owner and not self._inflight:
                return
            now = self.timer.now()
            self._release(now)
            if not self._ready:
                if self._timed:
                    await self.timer.sleep((self._timed[0][0] - now).total_seconds())
                elif self._inflight or not (until_idle or self._stopping):
                    await self._wait_change()
                else:
                    return
                continue
            if len(self._inflight) >= self.max_inflight:
                await self._wait_change()
                continue
            item = heapq.heappop(self._ready)
            if self._stopping and item.messages is None:
                self._queued.discard(item.row_id)  # still 'pending' in SQLite: sent after restart
                continue
            owner = self._owner.get(item.chat)
            if owner is not None and owner != item.row_id:
                self._parked.setdefault(item.chat, []).append(item)
                continue
            free_at = self._free_at.get(item.chat)
            if free_at is not None and free_at > now:
                self._later(free_at, item)
                continue
            if item.messages is None and not await self._prepare(item):
                continue
            await self._send_slot()
            self._dispatch(item)

    async def _wait_change(self) -> None:
        """Sleep until something is submitted or a send finishes."""
        self._changed.clear()
        await self._changed.wait()

    def _release(self, now: datetime) -> None:
        """Move items whose wait is over back into the due-ordered queue."""
        while self._timed and self._timed[0][0] <= now:
            heapq.heappush(self._ready, heapq.heappop(self._timed)[2])

    def _later(self, at: datetime, item: _Item) -> None:
        """Hold an item until `at`."""
        heapq.heappush(self._timed, (at, next(self._seq), item))

    async def _prepare(self, item: _Item) -> bool:
        """Turn a row into messages; False if there is nothing to send (skipped, moved, ...)."""
        self._owner[item.chat] = item.row_id
        try:
            prepared = await self.prepare(item.row_id)
        except Exception:  # one broken row must not stop everyone else's messages
            log.exception("could not prepare scheduled row %s", item.row_id)
            prepared = None
        if prepared is None or not prepared.messages:
            self._done(item)
            return False
        item.messages = list(prepared.messages)
        item.target = prepared.chat_id
        item.leader = prepared.leader_id
        return True

    async def _send_slot(self) -> None:
        """Wait until one more send keeps every one-second window within the cap."""
        while True:
            now = self.timer.now()
            while self._window and self._window[0] <= now - WINDOW:
                self._window.popleft()
            if len(self._window) < self.rate:
                self._window.append(now)
                return
            await self.timer.sleep((self._window[0] + WINDOW - now).total_seconds())

    def _dispatch(self, item: _Item) -> None:
        """Send the item's next message in a task; the loop moves on at once."""
        assert item.messages
        message = item.messages.pop(0)
        sent_at = self.timer.now()
        self._free_at[item.chat] = sent_at + self.chat_interval
        task = asyncio.create_task(self._send(item, message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _send(self, item: _Item, message: OutMessage) -> None:
        """Deliver one message; after the last one (or a failure) record the outcome."""
        error: BaseException | None = None
        try:
            await self._outbox_for(item).deliver(item.target, [message])
        except Exception as exc:  # the outbox raises on failure; the row records it
            error = exc
        if error is not None or not item.messages:
            try:
                await self.finish(item.row_id, error)
            except Exception:
                log.exception("could not record the outcome of scheduled row %s", item.row_id)
            self._done(item)
        else:
            self._later(self._free_at[item.chat], item)
        # Leave the in-flight set before waking the loop, so it never waits on a finished send.
        task = asyncio.current_task()
        if task is not None:
            self._inflight.discard(task)
        self._changed.set()

    def _outbox_for(self, item: _Item) -> Outbox:
        """The channel that sends this row: the leader's, when several run."""
        if not isinstance(self.outbox, Routes):
            return self.outbox
        outbox = self.outbox.for_leader(item.leader)
        if outbox is None:
            raise LookupError("the leader's channel is not running in this process")
        return outbox

    def _done(self, item: _Item) -> None:
        """Forget a finished row and let other rows for the same chat go ahead."""
        self._queued.discard(item.row_id)
        if self._owner.get(item.chat) == item.row_id:
            del self._owner[item.chat]
        for parked in self._parked.pop(item.chat, []):
            heapq.heappush(self._ready, parked)
        now = self.timer.now()
        if len(self._free_at) > 4 * self.rate * 60:  # forget chats that are free again
            self._free_at = {c: t for c, t in self._free_at.items() if t > now}
