"""One conversation's waiting events, bounded: a leader who floods the bot harms only themself.

Every channel runs a conversation's events one at a time, in arrival order, and conversations
concurrently (`ChatQueues`). What waits behind the event being processed is the conversation's
backlog; `Backlog` keeps it at most `limit` long (TILLIDSBOT_CHAT_BACKLOG):

- the oldest waiting events stay (the order the leader wrote in), and so does the one being
  processed; a newcomer past the bound is shed;
- a command or a button press (/cancel, a pressed answer) is never shed for a plain text: past
  the bound it takes the place of the newest waiting text, so a leader can always steer; only
  when every waiting event is a command or a press is the newcomer shed;
- a text identical to the text waiting just before it is coalesced (shed): the leader sent it
  again before the bot had answered the first;
- a shed event is never applied at all: it is dropped before its step starts. The channel's
  `settle` (bot/inbound.py `Inbound.shed`) records it as done, so a redelivery is a no-op, and
  tells the leader (`flood_notice`) at most once a minute on the injected clock.

Events that carry no `InEvent` (a group's updates, where many members may press at once) are
queued in order as before and never shed. Metrics (bot/metrics.py) count what was shed and the
longest backlog seen, by channel only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Generic, Protocol, TypeVar

from bot import metrics
from bot.access import Cooldown
from bot.clock import Clock
from bot.inbound import InEvent

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 16
NOTICE_EVERY = timedelta(minutes=1)
# Never shed for a plain text: how a leader steers (/cancel, /back) or answers a question.
CONTROL_KINDS = frozenset({"command", "button"})


class Queued(Protocol):
    """One event waiting in a conversation's queue."""

    @property
    def event(self) -> InEvent | None:
        """What the policy judges it by; None: never shed (e.g. a group's update)."""
        ...

    async def run(self) -> None:
        """Process it (its step, its reply)."""
        ...

    def drop(self) -> None:
        """It was shed before it started: release what it holds (close its coroutine, answer
        its waiting request). Must not block."""
        ...


Q = TypeVar("Q", bound=Queued)
# Record shed events (all of one conversation) as handled; notify: tell the leader now.
Settle = Callable[[list[InEvent], bool], Awaitable[None]]


@dataclass
class _Conversation(Generic[Q]):
    """One conversation's waiting events and the shed ones not yet settled."""

    waiting: deque[Q] = field(default_factory=deque)
    shed: list[InEvent] = field(default_factory=list)
    notify: bool = False

    def sheddable(self) -> int:
        """How many waiting events count towards the bound."""
        return sum(1 for item in self.waiting if item.event is not None)


class Backlog(Generic[Q]):
    """The policy: which events wait, which are shed, when the leader is told (no I/O)."""

    def __init__(self, channel: str, limit: int, clock: Clock,
                 notice_every: timedelta = NOTICE_EVERY) -> None:
        """At most limit waiting events per conversation; a notice at most every notice_every."""
        if limit < 1:
            raise ValueError("a conversation's backlog holds at least one event")
        self.channel = channel
        self.limit = limit
        self.clock = clock
        self.notices = Cooldown(notice_every)
        self.peak = 0  # the longest backlog any conversation had (what the metric shows)
        self._chats: dict[Hashable, _Conversation[Q]] = {}

    def push(self, key: Hashable, item: Q) -> list[Q]:
        """Queue item behind the conversation's waiting events; returns what was shed (item
        itself, or the waiting text it displaced), each already dropped."""
        chat = self._chats.setdefault(key, _Conversation())
        shed = self._shed_for(chat, item)
        if not any(victim is item for victim in shed):
            chat.waiting.append(item)
        for victim in shed:
            victim.drop()
            assert victim.event is not None
            chat.shed.append(victim.event)
            metrics.shed(self.channel)
        if shed and self.notices.ready((self.channel, key), self.clock.now()):
            chat.notify = True
        length = chat.sheddable()
        if length > self.peak:
            self.peak = length
            metrics.backlog_peak(self.channel, length)
        return shed

    def _shed_for(self, chat: _Conversation[Q], item: Q) -> list[Q]:
        """What pushing item sheds, by the rules in the module docstring."""
        event = item.event
        if event is None:
            return []
        last = next((w for w in reversed(chat.waiting) if w.event is not None), None)
        if (event.kind == "text" and last is not None and last.event is not None
                and last.event.kind == "text" and last.event.text == event.text):
            return [item]  # coalesced: the same words again before the bot answered
        if chat.sheddable() < self.limit:
            return []
        if event.kind in CONTROL_KINDS:
            for waiting in reversed(chat.waiting):
                if waiting.event is not None and waiting.event.kind not in CONTROL_KINDS:
                    chat.waiting.remove(waiting)
                    return [waiting]
        return [item]

    def pop(self, key: Hashable) -> Q | None:
        """The conversation's oldest waiting event, taken out to be processed; None if none."""
        chat = self._chats.get(key)
        if chat is None or not chat.waiting:
            return None
        return chat.waiting.popleft()

    def take_shed(self, key: Hashable) -> tuple[list[InEvent], bool]:
        """The conversation's shed events not yet settled, and whether to tell the leader."""
        chat = self._chats.get(key)
        if chat is None:
            return [], False
        shed, notify = chat.shed, chat.notify
        chat.shed, chat.notify = [], False
        return shed, notify

    def waiting(self, key: Hashable) -> int:
        """How many events of the conversation wait (the one being processed not counted)."""
        chat = self._chats.get(key)
        return len(chat.waiting) if chat is not None else 0

    def idle(self, key: Hashable) -> bool:
        """Nothing waits and nothing is left to settle: the conversation can be forgotten."""
        chat = self._chats.get(key)
        return chat is None or not (chat.waiting or chat.shed)

    def forget(self, key: Hashable) -> None:
        """Drop an idle conversation's entry, so the table holds only busy ones."""
        if self.idle(key):
            self._chats.pop(key, None)


class ChatQueues(Generic[Q]):
    """Each conversation's events one at a time in arrival order, conversations concurrently
    (at most `concurrency` at once), each conversation's backlog bounded by a `Backlog`."""

    def __init__(self, backlog: Backlog[Q], settle: Settle,
                 concurrency: int | None = None) -> None:
        """Run events under the backlog's policy; settle shed ones in their own conversation's
        turn (so a flood's bookkeeping waits behind the flooder, not behind everyone)."""
        self.backlog = backlog
        self.settle = settle
        self._running = asyncio.Semaphore(concurrency) if concurrency else None
        self._workers: dict[Hashable, asyncio.Task[None]] = {}

    def submit(self, key: Hashable, item: Q) -> bool:
        """Queue an event (never waits); False when it was shed at once."""
        shed = self.backlog.push(key, item)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._drain(key), name=f"chat {key}")
        return not any(victim is item for victim in shed)

    async def _drain(self, key: Hashable) -> None:
        """Process one conversation's queue, settling shed events between steps, until idle."""
        backlog = self.backlog
        try:
            while not backlog.idle(key):
                item = backlog.pop(key)
                if self._running is None:
                    await self._step(key, item)
                else:
                    async with self._running:
                        await self._step(key, item)
        finally:
            self._workers.pop(key, None)
            backlog.forget(key)

    async def _step(self, key: Hashable, item: Q | None) -> None:
        """Run one event, then record the events shed meanwhile; errors are logged by type."""
        if item is not None:
            try:
                await item.run()
            except Exception as exc:  # the pipeline reports its own failures to the leader
                # Type only: an exception's message may quote what a leader wrote.
                log.error("processing an update failed with %s", type(exc).__name__)
        shed, notify = self.backlog.take_shed(key)
        if shed:
            try:
                await self.settle(shed, notify)
            except Exception as exc:
                log.error("recording shed updates failed with %s", type(exc).__name__)

    async def drain(self) -> None:
        """Wait until every queued event has been processed."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    @property
    def busy(self) -> bool:
        """Whether any conversation still has events queued or running."""
        return bool(self._workers)
