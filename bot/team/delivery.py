"""How team check-ins reach a channel: the TeamGateway a channel implements, and the paced,
at-most-once delivery built on it.

Writing a gateway (Telegram's is bot/team/telegram.py, Teams' bot/team/teams.py)
---------------------------------------------------------------------------------------------
A channel implements `TeamGateway` and attaches it with `Team.attach(channel_name, gateway)`,
which returns the channel's `TeamService`. The channel then routes to that service:

- a group command (`/checkin …`) → `service.command(chat_id, user_id, args, language_code,
  is_admin=…)` (pass `is_admin=True` when the platform itself vouches for an administrator);
- a button press in a group or a private chat → `service.button(chat_id, user_id, data,
  language_code)`; it returns the confirmation for the presser alone (the toast), which the
  channel shows its own way (Telegram: answerCallbackQuery; Teams: the invoke response);
- a private start that carries the channel's round payload → `service.private_start(…)`, and
  a member's private message while `service.has_draft(user_id)` → `service.private_text(…)`;
- a group that changed id (Telegram's supergroup upgrade) → `service.follow(old, new)`.

Ids are strings the channel chooses; the service never parses them. Group chat ids are only
meaningful within their channel: a group is the pair (channel, chat_id), so two channels may
use the same id. User ids are used only to compute scoped hashes and to reach a member
privately; they are never stored, logged or shown (the admin who opened a governance round is
kept in team_gov_leaders until they are told its result).

The gateway's methods:
- `send(chat_id, message)`: post in a group; return the new message's id. A photo attachment
  goes with `message.text` as its caption. Raise `GroupGone` when the bot can no longer write
  there, `ChatMoved(new_id)` when the group lives on under another id (nothing was sent).
- `edit(chat_id, message_id, message)`: replace a posted message's text and buttons (an edit
  that changes nothing is not an error); `ChatMoved` as for send.
- `private(to, message)`: a private message to a member or admin, addressed by the user id
  (or private conversation id) the channel gave; raise when the person cannot be reached.
- `is_admin(chat_id, user_id)`: whether someone administers the group (the service caches the
  answer for ADMIN_CACHE_TTL).
- `private_link()`: a link that opens a private chat with the bot.
- `round_link(token)`: a link that opens a private chat in which a member sends examples to
  the governance round with this token; `round_token(payload)` reads the token back out of
  what such a link delivers at the start of the private chat (None if it is not one).
- `round_button(token)`: the data of a button on the round's invitation that starts the
  private chat instead of a link (Teams: the bot opens a 1:1 with whoever presses it), or None
  where the link alone does (Telegram). A press of it reaches `service.private_start` with the
  data as the payload, so `round_token` reads it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from cachetools import TTLCache

from bot.access import Cooldown
from bot.clock import Clock, iso
from bot.dialogue.state import OutMessage
from bot.locks import KeyedLocks
from bot.store import team as repo
from bot.store.db import Store

log = logging.getLogger(__name__)

GROUP_LIMIT = 18  # posts+edits per group per minute; Telegram's ceiling is 20
# Who is a group's admin is remembered this long, so members repeating /checkin or pressing
# wizard buttons do not cost a getChatMember call each; the price: an admin who was just
# demoted keeps their rights (and one just promoted waits) for at most this long.
ADMIN_CACHE_TTL = timedelta(seconds=60)
ADMIN_CACHE_SIZE = 1024  # (group, person) pairs; the oldest is forgotten first


class GroupGone(Exception):
    """The channel says the bot can no longer write in a chat (removed, chat deleted)."""


class ChatMoved(Exception):
    """The channel says a group lives on under a new chat id (Telegram: it became a
    supergroup); nothing was sent."""

    def __init__(self, new_chat_id: str) -> None:
        """Carry the new id (a group chat id, not about anyone)."""
        super().__init__("the group chat moved to a new id")
        self.new_chat_id = new_chat_id


class TeamGateway(Protocol):
    """What team check-ins need from a channel (see the module docstring)."""

    async def send(self, chat_id: str, message: OutMessage) -> str | None:
        """Post in a group; return the new message's id (GroupGone, ChatMoved)."""
        ...

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        """Replace a posted message's text and buttons (ChatMoved as for send)."""
        ...

    async def private(self, to: str, message: OutMessage) -> None:
        """Message a member or admin privately; raises when they cannot be reached."""
        ...

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        """Whether a user administers a group."""
        ...

    def private_link(self) -> str:
        """A link that opens a private chat with the bot."""
        ...

    def round_link(self, token: str) -> str:
        """A link to the private chat in which members send examples to one round."""
        ...

    def round_token(self, payload: str) -> str | None:
        """The round token a private start carries, or None when it carries none."""
        ...

    def round_button(self, token: str) -> str | None:
        """The invitation's button that opens the private chat, or None (the link does)."""
        ...


class GroupPacer:
    """Keeps the bot under the per-group message budget over a sliding minute."""

    def __init__(self, clock: Clock, limit: int = GROUP_LIMIT,
                 window: timedelta = timedelta(minutes=1)) -> None:
        """Count against the injected clock."""
        self.clock = clock
        self.limit = limit
        self.window = window
        self._sent: dict[str, deque[datetime]] = {}

    def _recent(self, chat_id: str) -> deque[datetime]:
        """The chat's send times within the window."""
        sent = self._sent.setdefault(chat_id, deque())
        horizon = self.clock.now() - self.window
        while sent and sent[0] <= horizon:
            sent.popleft()
        return sent

    def allow(self, chat_id: str) -> bool:
        """Spend one unit of budget if any is left (for optional edits such as live counts)."""
        sent = self._recent(chat_id)
        if len(sent) >= self.limit:
            return False
        sent.append(self.clock.now())
        return True

    def record(self, chat_id: str) -> None:
        """Count a message that must go out regardless (results, replies to admins)."""
        self._recent(chat_id).append(self.clock.now())

    def used(self, chat_id: str) -> int:
        """How much of the budget the last minute used."""
        return len(self._recent(chat_id))


class AdminCache:
    """Whether a person is a group's admin, as the channel last said, for ADMIN_CACHE_TTL.

    A cachetools.TTLCache read by the service's clock; past `size` answers the least recently
    used goes first.
    """

    def __init__(self, clock: Clock, ttl: timedelta = ADMIN_CACHE_TTL,
                 size: int = ADMIN_CACHE_SIZE) -> None:
        """Empty; entries expire by the given clock."""
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self._seen: TTLCache[tuple[str, str], bool] = TTLCache(
            maxsize=size, ttl=ttl.total_seconds(), timer=lambda: self.clock.now().timestamp())

    def __len__(self) -> int:
        """How many answers are remembered."""
        self._seen.expire()
        return len(self._seen)

    def get(self, chat_id: str, user_id: str) -> bool | None:
        """The remembered answer, or None when there is none younger than the ttl."""
        return self._seen.get((chat_id, user_id))

    def put(self, chat_id: str, user_id: str, admin: bool) -> None:
        """Remember an answer (for a full ttl from now)."""
        self._seen[(chat_id, user_id)] = admin


# One lock per group, held only while someone holds or waits for it. A live count is edited
# from button presses and from the tick; within one group one edit at a time, so the same count
# is never sent twice (Telegram rejects an edit that changes nothing). Another group's edits
# never wait for this one's network call.
GroupLocks = KeyedLocks


Mark = AbstractAsyncContextManager[bool]


class SendMarks:
    """The at-most-once bookkeeping of one process: steps in flight and marks in team_sends.

    Marks in team_sends carry this process's token; a mark with another token was left by a
    process that died mid-send.
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        """A fresh owner token; nothing in flight."""
        self.store = store
        self.clock = clock
        self.owner = secrets.token_hex(8)
        # Steps that send and then record it (post a pulse, publish a result, tell a leader)
        # may be reached from a command and from the tick at once; only one may run.
        self.inflight: set[str] = set()

    @contextlib.asynccontextmanager
    async def mark(self, key: str) -> AsyncIterator[bool]:
        """Mark a send (committed) before the channel is called; False if it is marked already.

        An error raised here in this process means the message did not go out as far as we
        know, so the mark goes and the next tick tries again. A crash leaves the mark, and the
        next process records the step as done instead of posting it twice.
        """
        async with self.store.transaction() as tx:
            mine = await repo.mark_send(tx, key, self.owner, iso(self.clock.now()))
        if not mine:
            yield False
            return
        try:
            yield True
        except asyncio.CancelledError:
            raise  # shutting down mid-send: unknown whether it arrived, so the mark stays
        except BaseException:
            async with self.store.transaction() as tx:
                await repo.unmark_send(tx, key)
            raise
        async with self.store.transaction() as tx:
            await repo.unmark_send(tx, key)

    async def settle_orphaned(self) -> int:
        """Record sends a dead process left marked as done (never resent); return how many."""
        async with self.store.transaction() as tx:
            keys = await repo.orphaned_sends(tx, self.owner)
            for key in keys:
                kind, _, number = key.partition(":")
                if kind == "post":
                    pulse = await repo.get_pulse(tx, int(number))
                    if pulse is not None and pulse.status == "opening":
                        await repo.set_pulse(tx, pulse.id, status="open")
                elif kind == "publish":
                    pulse = await repo.get_pulse(tx, int(number))
                    if pulse is not None and pulse.status == "closing":
                        await repo.set_pulse(tx, pulse.id, status="closed")
                elif kind == "notify":
                    await repo.leader_told(tx, int(number))
                await repo.unmark_send(tx, key)
        if keys:
            log.warning("%d team message(s) were being sent when the bot stopped; recorded as "
                        "sent (unconfirmed), not sent again", len(keys))
        return len(keys)


class Guarded(Protocol):
    """Something whose steps are guarded: it has the process's SendMarks."""

    marks: SendMarks


G = TypeVar("G", bound=Guarded)
GuardedStep = Callable[[G, int, Mark], Awaitable[None]]


def at_most_once(kind: str) -> Callable[[GuardedStep[G]], Callable[[G, int], Awaitable[None]]]:
    """Make `step(self, number, mark)` a send that goes out at most once, as `step(self, number)`.

    Of callers reaching the same `kind:number` at once (a command and the tick), only the
    first runs it; the others return at once. The step reads what it needs, then sends inside
    `async with mark as mine:` (proceeding only if `mine`): the mark in team_sends, committed
    before the channel is called, is what stops a restarted process from sending it again.
    """

    def wrap(step: GuardedStep[G]) -> Callable[[G, int], Awaitable[None]]:
        """The guarded step."""

        @functools.wraps(step)
        async def run(self: G, number: int) -> None:
            """Run the step unless it is running already."""
            key = f"{kind}:{number}"
            if key in self.marks.inflight:
                return
            self.marks.inflight.add(key)
            try:
                await step(self, number, self.marks.mark(key))
            finally:
                self.marks.inflight.discard(key)

        return run

    return wrap


async def guard(step: Awaitable[None], what: str) -> None:
    """Run one tick step; a failure is logged and retried on the next tick."""
    try:
        await step
    except Exception as exc:
        log.warning("team %s failed (%s); retrying on the next tick", what, type(exc).__name__)


Follow = Callable[[str, str], Awaitable[None]]


class Delivery:
    """One channel's way out: paced posts and edits, groups that moved, admins, private
    messages. Everything the team feature puts out goes through here."""

    def __init__(self, store: Store, clock: Clock, channel: str, gateway: TeamGateway,
                 marks: SendMarks, locks: GroupLocks) -> None:
        """Deliver through one channel's gateway; marks and locks are the process's."""
        self.store = store
        self.clock = clock
        self.channel = channel
        self.gateway = gateway
        self.marks = marks
        self.locks = locks
        self.pacer = GroupPacer(clock)
        self.refusals = Cooldown()  # groups that heard 'admins only' within the minute
        self._admins = AdminCache(clock)
        self.on_moved: Follow | None = None  # set by the service: follows a moved group

    def lock(self, chat_id: str) -> AbstractAsyncContextManager[None]:
        """The group's lock for live-count edits."""
        return self.locks.hold((self.channel, chat_id))

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        """Whether someone administers a group: the channel's answer, at most
        ADMIN_CACHE_TTL old."""
        known = self._admins.get(chat_id, user_id)
        if known is None:
            known = await self.gateway.is_admin(chat_id, user_id)  # an error is not remembered
            self._admins.put(chat_id, user_id, known)
        return known

    def forget_admins(self) -> None:
        """Ask the channel again next time (its admins changed: a bot-kept list did)."""
        self._admins = AdminCache(self.clock)

    async def current(self, chat_id: str) -> str:
        """The chat id a group is reached at now (its new one once it became a supergroup)."""
        async with self.store.transaction() as tx:
            return await repo.moved_to(tx, self.channel, chat_id) or chat_id

    async def post(self, chat_id: str, message: OutMessage) -> str | None:
        """Post something that must go out, to wherever the group lives now."""
        chat_id = await self.current(chat_id)
        try:
            return await self._send(chat_id, message)
        except ChatMoved as moved:
            # The group became a supergroup before any service message told us: follow it and
            # send once more to the new id. The channel refused the first send, so a post
            # guarded by at_most_once still goes out at most once.
            await self._follow(chat_id, moved.new_chat_id)
            return await self._send(moved.new_chat_id, message)

    async def _follow(self, old: str, new: str) -> None:
        """Move the group's check-ins to its new id."""
        if self.on_moved is not None:
            await self.on_moved(old, new)

    async def _send(self, chat_id: str, message: OutMessage) -> str | None:
        """One send, counted against the group's budget; a closed group is switched off."""
        self.pacer.record(chat_id)
        try:
            return await self.gateway.send(chat_id, message)
        except GroupGone:
            # Removed from the group: stop its schedule and close what is open there, so the
            # tick does not retry forever; /checkin setup starts afresh if the bot is re-added.
            async with self.store.transaction() as tx:
                await repo.retire_group(tx, self.channel, chat_id, iso(self.clock.now()))
            log.warning("a team group is closed to the bot; its check-ins were switched off")
            raise

    async def edit(self, chat_id: str, message_id: str | None, message: OutMessage,
                   optional: bool = False) -> bool:
        """Edit a posted message; optional edits wait when the budget is spent."""
        if message_id is None:
            return False
        if optional:
            if not self.pacer.allow(chat_id):
                return False
        else:
            self.pacer.record(chat_id)
        try:
            await self.gateway.edit(chat_id, message_id, message)
        except ChatMoved as moved:
            # The message stays behind in the old chat, where it can no longer be edited.
            await self._follow(chat_id, moved.new_chat_id)
            return False
        except Exception as exc:  # an edit is cosmetic; a vanished message must not stop us
            log.warning("could not edit a team message: %s", type(exc).__name__)
            return False
        return True

    async def reply(self, chat_id: str, text: str) -> None:
        """Answer an admin command in the group."""
        await self.post(chat_id, OutMessage(text=text))

    async def private(self, to: str, message: OutMessage) -> None:
        """A private message to a member or admin (not paced: it is not in the group)."""
        await self.gateway.private(to, message)
