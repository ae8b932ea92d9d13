"""Who may talk to the bot: existing leaders, listed user ids, invite codes, or open mode.

One Gate per channel: its list of ids let in without an invite comes from the settings
(`Settings.allowed_ids(channel)`: ALLOWED_USER_IDS for Telegram) and holds the platform's own
ids as text, so any channel's ids fit (Teams' are not numbers).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite
from cachetools import TTLCache

from bot import identity
from bot.clock import Clock, iso
from bot.config import Settings
from bot.service import language_for
from bot.store import repo
from bot.store import telegram as tgrepo
from bot.store.db import Store

# Invite codes travel as Telegram /start payloads: at most 64 of A-Z, a-z, 0-9, _ and -.
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A person who is not let in hears the refusal at most once in this long, however much they send.
REFUSAL_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Admission:
    """The verdict on one contact."""

    allowed: bool
    new: bool  # no leader row existed before this contact (time for the welcome)
    closed: bool = False  # a leader whose access the operator closed (their data is kept)


def new_code() -> str:
    """A fresh, unguessable invite code (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


class Gate:
    """Decides whether a person may use the bot, storing nothing about anyone refused."""

    def __init__(self, store: Store, settings: Settings, clock: Clock,
                 languages: tuple[str, ...], channel: str = identity.TELEGRAM,
                 always_open: bool = False) -> None:
        """Bind to the store and one channel's access settings; always_open lets everyone in
        (the terminal chat: whoever sits at it is its one local leader)."""
        self.store = store
        self.channel = channel
        self.open = always_open or settings.access_mode == "open"
        self.allowed_ids = settings.allowed_ids(channel)
        self.clock = clock
        self.languages = languages

    async def admit(self, leader_id: str, user_id: str | int, chat_id: str,
                    language_code: str | None, code: str | None) -> Admission:
        """admit_in in a transaction of its own."""
        async with self.store.transaction() as tx:
            return await self.admit_in(tx, leader_id, str(user_id), chat_id, language_code,
                                       code)

    async def admit_in(self, tx: aiosqlite.Connection, leader_id: str, user_id: str,
                       reference: str, language_code: str | None,
                       code: str | None) -> Admission:
        """Existing leader, listed id or open mode: allowed; a valid code admits (once), the
        leader row (with its conversation reference) created in the caller's transaction."""
        exists, via = await tgrepo.admitted_via(tx, leader_id)
        if exists:
            # The list only changes with a restart, where reconcile() settles it.
            return Admission(allowed=via != tgrepo.REVOKED, new=False,
                             closed=via == tgrepo.REVOKED)
        if self.open or user_id in self.allowed_ids:
            return Admission(allowed=True, new=True)
        if code and CODE_PATTERN.match(code) and await tgrepo.use_invite(tx, code):
            lang = language_for(language_code, self.languages)
            now = iso(self.clock.now())
            await repo.create_leader(tx, leader_id, reference, lang, now)
            await tgrepo.set_admission(tx, leader_id, tgrepo.INVITED, now)
            return Admission(allowed=True, new=True)
        return Admission(allowed=False, new=False)

    async def reconcile(self) -> int:
        """At start: shut out this channel's leaders who came in by its list (or open mode)
        and whom the current settings no longer let in; return how many."""
        if self.open:
            return 0
        prefix = identity.prefix(self.channel)
        listed = {identity.leader_id(self.channel, user_id) for user_id in self.allowed_ids}
        now = iso(self.clock.now())
        async with self.store.transaction() as tx:
            gone = await tgrepo.unlisted_leaders(tx, prefix, listed)
            for leader_id in gone:
                await tgrepo.set_admission(tx, leader_id, tgrepo.REVOKED, now)
        return len(gone)


class Cooldown:
    """Who was answered lately, in memory only and for one interval: a flood gets one reply.

    A cachetools.TTLCache on the caller's clock: a key expires `interval` after it was let
    through, and at most `limit` are kept (past it the least recently used go first), so memory
    stays flat under any flood.
    """

    def __init__(self, interval: timedelta = REFUSAL_INTERVAL, limit: int = 10_000) -> None:
        """Let each key through once per interval; remember at most limit keys."""
        self.interval = interval
        self.limit = limit
        self._now = 0.0  # the instant of the latest call, as the cache's timer reads it
        self._last: TTLCache[Hashable, bool] = TTLCache(
            maxsize=limit, ttl=interval.total_seconds(), timer=lambda: self._now)

    def ready(self, key: Hashable, now: datetime) -> bool:
        """True, and remembered, when key was not let through within the last interval."""
        self._now = max(self._now, now.timestamp())
        if key in self._last:
            return False
        self._last[key] = True
        return True

    def __len__(self) -> int:
        """How many keys are remembered now."""
        self._last.expire()
        return len(self._last)
