"""Team check-ins, channel-independent: commands, buttons and a clock tick drive it.

State is committed before anything is posted; everything posted goes through a TeamGateway
that a channel (Telegram) implements. Member ids are used only to compute scoped hashes and
never stored, logged or shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiosqlite
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from cachetools import TTLCache

from bot import metrics
from bot.access import Cooldown
from bot.clock import Clock, iso, parse_iso
from bot.dialogue import Dialogues
from bot.dialogue.state import Attachment, Button, OutMessage
from bot.numbers import small_int
from bot.schedule.holidays import back_to_weekday, moved_off_holiday
from bot.schedule.times import find_zone
from bot.service import language_for
from bot.store import team as repo
from bot.store.db import Store
from bot.team import core, wizard
from bot.team.chart import trust_chart

log = logging.getLogger(__name__)

TEAM_LANGUAGES: tuple[str, ...] = ("da", "nb", "en")
LOCALES = {"da": "da", "nb": "nb", "en": "en_GB"}
GROUP_LIMIT = 18  # posts+edits per group per minute; Telegram's ceiling is 20
CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096
CHART_PULSES = 12
DEFAULT_GOV_DAYS = 3
MAX_GOV_DAYS = 14
VOTE_HOURS = 48
MAX_EXAMPLES_PER_MEMBER = 5
DRAFT_LIFETIME = timedelta(hours=1)
NOTIFY_GIVE_UP = timedelta(days=1)
WIZARD_LIFETIME = timedelta(days=1)  # a setup wizard left this long untouched is closed
# Who is a group's admin is remembered this long, so members repeating /checkin or pressing
# wizard buttons do not cost a getChatMember call each; the price: an admin who was just
# demoted keeps their rights (and one just promoted waits) for at most this long.
ADMIN_CACHE_TTL = timedelta(seconds=60)
ADMIN_CACHE_SIZE = 1024  # (group, person) pairs; the oldest is forgotten first
MEANING_CODES = {"y": "yes", "p": "partly", "n": "no"}
VOTE_CODES = {"r": "remove", "c": "change", "a": "anchor"}
COLOUR_CODES = {"r": "red", "g": "green"}
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
_HOUR = re.compile(r"^([01]?\d|2[0-3])$")  # after 'kl.' or 'at' only
_SPACES = re.compile(r"[\s-]+")


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
    """What the team feature needs from a channel."""

    async def send(self, chat_id: str, message: OutMessage) -> str | None:
        """Post a message (a photo attachment goes with message.text as its caption);
        return the new message's id. Raises GroupGone when the chat is closed to the bot,
        ChatMoved when the group now has another chat id."""
        ...

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        """Replace a posted message's text and buttons (ChatMoved as for send)."""
        ...

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        """Whether a user administers a group."""
        ...

    def deep_link(self, payload: str | None = None) -> str:
        """A link that opens a private chat with the bot (carrying a start payload)."""
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
    """Whether a person is a group's admin, as Telegram last said, for ADMIN_CACHE_TTL.

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


class TeamService:
    """Pulses and governance rounds for group chats."""

    def __init__(self, store: Store, dialogues: Dialogues, clock: Clock, secret: bytes,
                 gateway: TeamGateway | None = None) -> None:
        """Assemble; the gateway may be attached later, when the channel starts."""
        self.store = store
        self.strings = dialogues.strings
        self.renderer = dialogues.renderer
        self.clock = clock
        self._secret = secret
        self.gateway = gateway
        self.pacer = GroupPacer(clock)
        self._refusals = Cooldown()  # groups that heard 'admins only' within the minute
        self._admins = AdminCache(clock)
        # Live counts are edited from button presses and from the tick; one at a time, so the
        # same count is never sent twice (Telegram rejects an edit that changes nothing).
        self._count_lock = asyncio.Lock()
        # Steps that send and then record it (post a pulse, publish a result, tell a leader)
        # may be reached from a command and from the tick at once; only one may run.
        self._inflight: set[str] = set()
        # Marks in team_sends carry this token; a mark with another token was left by a
        # process that died mid-send.
        self._owner = secrets.token_hex(8)

    # ---- small helpers -----------------------------------------------------------------------

    def ui(self, key: str, lang: str, **variables: Any) -> str:
        """Team wording."""
        return self.strings(key, lang, **variables)

    def _gw(self) -> TeamGateway:
        """The attached gateway."""
        if self.gateway is None:
            raise RuntimeError("TeamService has no gateway attached")
        return self.gateway

    async def _is_admin(self, chat_id: str, user_id: str) -> bool:
        """Whether someone administers a group: Telegram's answer, at most ADMIN_CACHE_TTL old."""
        known = self._admins.get(chat_id, user_id)
        if known is None:
            known = await self._gw().is_admin(chat_id, user_id)  # an error is not remembered
            self._admins.put(chat_id, user_id, known)
        return known

    def _key(self, scope: str, user_id: str) -> str:
        """A member's hash within one scope."""
        return core.member_key(self._secret, scope, user_id)

    def _when(self, instant: datetime | str, lang: str, zone: str) -> str:
        """An instant in a group's time zone and language."""
        moment = parse_iso(instant) if isinstance(instant, str) else instant
        return format_datetime(moment.astimezone(_zone(zone)),
                               self.ui("team_datetime_format", lang), locale=LOCALES[lang])

    def _decimal(self, value: float, lang: str, signed: bool = False) -> str:
        """A one-decimal number in the group's language, optionally with its sign."""
        text = format_decimal(abs(value) if signed else value, "0.0", locale=LOCALES[lang])
        if not signed:
            return text
        return ("+" if value > 0 else "−" if value < 0 else "±") + text

    async def _post(self, chat_id: str, message: OutMessage) -> str | None:
        """Post something that must go out, to wherever the group lives now."""
        chat_id = await self._current(chat_id)
        try:
            return await self._send(chat_id, message)
        except ChatMoved as moved:
            # The group became a supergroup before any service message told us: follow it and
            # send once more to the new id. Telegram refused the first send, so a post guarded
            # by _sending still goes out at most once.
            await self.follow(chat_id, moved.new_chat_id)
            return await self._send(moved.new_chat_id, message)

    async def _current(self, chat_id: str) -> str:
        """The chat id a group is reached at now (its new one once it became a supergroup)."""
        async with self.store.transaction() as tx:
            return await repo.moved_to(tx, chat_id) or chat_id

    async def _send(self, chat_id: str, message: OutMessage) -> str | None:
        """One send, counted against the group's budget; a closed group is switched off."""
        self.pacer.record(chat_id)
        try:
            return await self._gw().send(chat_id, message)
        except GroupGone:
            # Removed from the group: stop its schedule and close what is open there, so the
            # tick does not retry forever; /checkin setup starts afresh if the bot is re-added.
            async with self.store.transaction() as tx:
                await repo.retire_group(tx, chat_id, iso(self.clock.now()))
            log.warning("a team group is closed to the bot; its check-ins were switched off")
            raise

    async def _edit(self, chat_id: str, message_id: str | None, message: OutMessage,
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
            await self._gw().edit(chat_id, message_id, message)
        except ChatMoved as moved:
            # The message stays behind in the old chat, where it can no longer be edited.
            await self.follow(chat_id, moved.new_chat_id)
            return False
        except Exception as exc:  # an edit is cosmetic; a vanished message must not stop us
            log.warning("could not edit a team message: %s", type(exc).__name__)
            return False
        return True

    async def _reply(self, chat_id: str, text: str) -> None:
        """Answer an admin command in the group."""
        await self._post(chat_id, OutMessage(text=text))

    @contextlib.asynccontextmanager
    async def _once(self, key: str) -> AsyncIterator[bool]:
        """Whether this caller may run the step named key (False while another runs it)."""
        if key in self._inflight:
            yield False
            return
        self._inflight.add(key)
        try:
            yield True
        finally:
            self._inflight.discard(key)

    @contextlib.asynccontextmanager
    async def _sending(self, key: str) -> AsyncIterator[bool]:
        """Mark a send (committed) before the channel is called; False if it is marked already.

        An error raised here in this process means the message did not go out as far as we
        know, so the mark goes and the next tick tries again. A crash leaves the mark, and the
        next process records the step as done instead of posting it twice.
        """
        async with self.store.transaction() as tx:
            mine = await repo.mark_send(tx, key, self._owner, iso(self.clock.now()))
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

    async def settle_orphaned_sends(self) -> int:
        """Record sends a dead process left marked as done (never resent); return how many."""
        async with self.store.transaction() as tx:
            keys = await repo.orphaned_sends(tx, self._owner)
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

    async def _guard(self, step: Awaitable[None], what: str) -> None:
        """Run one tick step; a failure is logged and retried on the next tick."""
        try:
            await step
        except Exception as exc:
            log.warning("team %s failed (%s); retrying on the next tick", what,
                        type(exc).__name__)

    # ---- commands ------------------------------------------------------------------------------

    async def command(self, chat_id: str, user_id: str, args: str,
                      language_code: str | None = None, is_admin: bool | None = None,
                      anonymous: bool = False) -> None:
        """/checkin <sub> [args] in a group; only administrators may use it. An anonymous
        administrator (writing as the group) has no user id of their own to reach."""
        words = args.split()
        sub = words[0].lower() if words else "help"
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, chat_id)
        lang = group.language if group else member_language(language_code)
        admin = is_admin if is_admin is not None else await self._is_admin(chat_id, user_id)
        if not admin:
            # Once a minute per group at most: members typing /checkin again and again must not
            # flood the group or spend the budget the pulse's live count needs.
            if (self.pacer.used(chat_id) < self.pacer.limit
                    and self._refusals.ready(chat_id, self.clock.now())):
                await self._reply(chat_id, self.ui("team_admin_only", lang))
            return
        rest = words[1:]
        if sub == "setup":
            await self._setup(chat_id, lang, rest)
        elif sub == "now":
            await self._now(chat_id, lang)
        elif sub == "close":
            await self._close_now(chat_id, lang)
        elif sub in ("pause", "off", "resume"):
            await self._switch(chat_id, lang, sub)
        elif sub == "status":
            await self._status(chat_id, lang)
        elif sub == "governance":
            await self._governance(chat_id, None if anonymous else user_id, lang, rest)
        else:
            await self._reply(chat_id, self.ui("team_help", lang))

    def _vocabulary(self) -> dict[str, tuple[str, str | int]]:
        """Setup words in every language: cadence words and phrases (hyphenated, as the
        bot words them too: 'hver-anden-uge'), weekday names (their prefixes, and the forms
        'fredagen', 'torsdager', 'Fridays'), and the little words around a day or time."""
        table: dict[str, tuple[str, str | int]] = {}
        for lang in TEAM_LANGUAGES:
            for cadence in core.CADENCES:
                words = [*self.ui(f"team_words_{cadence}", lang).split(","),
                         self.ui(f"team_cadence_{cadence}", lang)]
                for word in words:
                    table[_SPACES.sub("-", word.strip().lower())] = ("cadence", cadence)
            for index, name in enumerate(self.ui("team_weekdays", lang).split(",")):
                name = name.strip().lower()
                for size in range(3, len(name) + 1):
                    table.setdefault(name[:size], ("weekday", index))
                for ending in ("en", "e", "er", "ene", "s"):
                    table.setdefault(name + ending, ("weekday", index))
            for word in self.ui("team_words_at", lang).split(","):
                table.setdefault(word.strip().lower(), ("at", 0))
            for word in self.ui("team_words_on", lang).split(","):
                table.setdefault(word.strip().lower(), ("on", 0))
        return table

    def parse_setup(self, tokens: list[str], group: repo.Group) -> str | None:
        """Apply setup words to a group's settings; return the first unreadable word, if any."""
        vocabulary = self._vocabulary()
        words = [token.strip("(),;") or token for token in tokens]
        index = 0
        at = False  # the word before was 'kl.'/'at': a bare hour ('kl. 14') is a time
        while index < len(words):
            token = words[index]
            word = token.lower()
            # Phrases first, longest first: 'hver anden uge', 'every other week'.
            for size in (4, 3, 2):
                phrase = "-".join(w.lower() for w in words[index:index + size])
                if index + size <= len(words) and vocabulary.get(phrase, ("",))[0] == "cadence":
                    word = phrase
                    index += size - 1
                    break
            index += 1
            match = _TIME.match(word)
            hour = _HOUR.match(word) if at else None
            at = False
            if word in vocabulary:
                kind, value = vocabulary[word]
                if kind == "cadence":
                    group.cadence = str(value)
                elif kind == "weekday":
                    group.weekday = int(value)
                at = kind == "at"
            elif match:
                group.at_time = f"{int(match.group(1)):02d}:{match.group(2)}"
            elif hour:
                group.at_time = f"{int(hour.group(1)):02d}:00"
            elif word in TEAM_LANGUAGES or word == "no":
                group.language = "nb" if word == "no" else word
            elif re.fullmatch(r"min(imum)?=?\d{1,2}", word):
                group.min_respondents = core.threshold(int(re.sub(r"\D", "", word)))
            elif re.fullmatch(r"\d{1,3}h", word) and 1 <= int(word[:-1]) <= 336:
                group.open_hours = int(word[:-1])
            elif "/" in token or word == "utc":
                zone = find_zone(token) or token
                try:
                    ZoneInfo(zone)
                except (KeyError, ValueError):
                    return token
                group.timezone = zone
            else:
                return token
        return None

    async def _setup(self, chat_id: str, lang: str, tokens: list[str]) -> None:
        """Choose cadence, weekday, time, time zone and language, and switch the pulse on;
        with no words, open the button wizard that asks for them one at a time."""
        if not tokens:
            await self._start_wizard(chat_id, lang)
            return
        async with self.store.transaction() as tx:
            # A wizard still open here (its time step itself suggests '/checkin setup 13:45'):
            # the typed words complete the choices pressed so far, and the wizard closes, so a
            # late press on it cannot overwrite what was typed.
            started = await repo.open_wizard(tx, chat_id)
            if started is not None and (
                    parse_iso(started.updated_at) + WIZARD_LIFETIME < self.clock.now()):
                started = None

            def change(group: repo.Group) -> str | None:
                """The wizard's choices so far, then the typed words."""
                if started is not None:
                    wizard.adopt(started, group)
                return self.parse_setup(tokens, group)

            group, bad = await self._configure(tx, chat_id, lang, change)
            replaced = await repo.replace_wizards(tx, chat_id) if bad is None else []
        if bad is not None:
            await self._reply(chat_id, self.ui("team_setup_bad", group.language, token=bad[:40]))
            return
        for message_id in replaced:
            await self._edit(chat_id, message_id, OutMessage(text=self.ui(
                "team_wizard_replaced", wizard.lang_of(started) if started else group.language)),
                optional=True)
        await self._reply(chat_id, self._settings_text(group))

    async def _configure(self, tx: aiosqlite.Connection, chat_id: str, lang: str,
                         change: Callable[[repo.Group], str | None]
                         ) -> tuple[repo.Group, str | None]:
        """Apply a change to a group's settings and switch its pulse on, in the caller's
        transaction; the typed setup and the wizard both come here. Returns the group and the
        change's complaint (nothing is saved then)."""
        now = self.clock.now()
        group = await repo.ensure_group(tx, chat_id, lang, iso(now))
        bad = change(group)
        if bad is None:
            group.status = "active"
            group.next_pulse_at = iso(core.first_occurrence(_cadence(group), now))
            await repo.save_group(tx, group, iso(now))
        return group, bad

    def _settings_text(self, group: repo.Group) -> str:
        """The group's schedule in words."""
        lang = group.language
        values = {
            "cadence": self.ui(f"team_cadence_{group.cadence}", lang),
            "weekday": self.ui("team_weekdays", lang).split(",")[group.weekday].strip(),
            "time": group.at_time, "timezone": group.timezone,
            "hours": group.open_hours, "minimum": core.threshold(group.min_respondents),
        }
        if group.status == "paused":
            return self.ui("team_status_paused", lang, **values)
        if group.status != "active" or group.next_pulse_at is None:
            return self.ui("team_status_off", lang)
        nxt = self._when(group.next_pulse_at, lang, group.timezone)
        return self.ui("team_setup_done", lang, next=nxt, **values)

    async def _status(self, chat_id: str, lang: str) -> None:
        """Tell the admin the current settings."""
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, chat_id)
        text = self._settings_text(group) if group else self.ui("team_status_off", lang)
        await self._reply(chat_id, text)

    async def _switch(self, chat_id: str, lang: str, how: str) -> None:
        """Pause, resume or switch off the regular pulse (an open pulse runs to its close).
        A group with no regular pulse (never set up, or switched off) has nothing to pause or
        resume: it is told to use /checkin setup, which shows the schedule it starts, rather
        than getting a default one silently."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, chat_id)
            if group is None or (group.status == "off" and how != "off"):
                group = None
            elif how == "resume":
                group.status = "active"
                group.next_pulse_at = iso(core.first_occurrence(_cadence(group), now))
            else:
                group.status = "paused" if how == "pause" else "off"
                group.next_pulse_at = None
            if group is not None:
                await repo.save_group(tx, group, iso(now))
        if group is None:
            await self._reply(chat_id, self.ui("team_status_off", lang))
            return
        key = {"pause": "team_paused", "off": "team_off"}.get(how)
        await self._reply(chat_id, self.ui(key, group.language) if key
                          else self._settings_text(group))

    async def _now(self, chat_id: str, lang: str) -> None:
        """Open a pulse right away, outside the regular schedule."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            group = await repo.ensure_group(tx, chat_id, lang, iso(now))
            if await repo.live_pulse(tx, chat_id) is not None:
                pulse = None
            else:
                pulse = await repo.create_pulse(
                    tx, chat_id, group.language, iso(now),
                    iso(now + timedelta(hours=group.open_hours)))
        if pulse is None:
            await self._reply(chat_id, self.ui("team_already_open", group.language))
            return
        log.info("team pulse %d opened on request", pulse.id)
        metrics.team_pulse("opened")
        await self._post_pulse(pulse.id)

    async def _close_now(self, chat_id: str, lang: str) -> None:
        """Close the open pulse now."""
        async with self.store.transaction() as tx:
            pulse = await repo.live_pulse(tx, chat_id)
            if pulse is not None and pulse.status in ("opening", "open"):
                await repo.set_pulse(tx, pulse.id, closes_at=iso(self.clock.now()))
        if pulse is None or pulse.status not in ("opening", "open"):
            await self._reply(chat_id, self.ui("team_none_open", lang))
            return
        await self.close_pulse(pulse.id)

    # ---- the pulse -----------------------------------------------------------------------------

    def _pulse_message(self, pulse: repo.Pulse, group: repo.Group, count: int) -> OutMessage:
        """The one pulse message: the questions, buttons and the live respondent count only."""
        lang = pulse.language
        title = self.ui("team_pulse_title", lang, seq=pulse.seq)
        if pulse.status in ("closing", "closed"):
            return OutMessage(text=f"{title}\n\n{self.ui('team_pulse_closed', lang, count=count)}")
        footer = self.ui("team_pulse_footer", lang, count=count,
                         minimum=core.threshold(group.min_respondents),
                         closes=self._when(pulse.closes_at, lang, group.timezone))
        text = "\n\n".join([title, self.ui("team_q_trust", lang), self.ui("team_q_meaning", lang),
                            footer])
        trust_row = [Button(label=str(v), data=f"tp:{pulse.id}:t:{v}") for v in core.TRUST_VALUES]
        meaning_row = [Button(label=self.ui(f"team_meaning_{value}", lang),
                              data=f"tp:{pulse.id}:m:{code}")
                       for code, value in MEANING_CODES.items()]
        return OutMessage(text=text, kind="prompt", buttons=[trust_row, meaning_row])

    async def _post_pulse(self, pulse_id: int) -> None:
        """Post a pulse whose message is not out yet (also after a crash, from the tick)."""
        async with self._once(f"post:{pulse_id}") as mine:
            if mine:
                await self._post_pulse_now(pulse_id)

    async def _post_pulse_now(self, pulse_id: int) -> None:
        """The post itself (only one caller at a time)."""
        async with self.store.transaction() as tx:
            pulse = await repo.get_pulse(tx, pulse_id)
            if pulse is None or pulse.status != "opening" or pulse.message_id:
                return
            if parse_iso(pulse.closes_at) <= self.clock.now():
                return  # too late to ask; the close step reports it
            group = await repo.get_group(tx, pulse.chat_id)
            count = await repo.respondents(tx, pulse.id)
        assert group is not None
        async with self._sending(f"post:{pulse.id}") as mine:
            if not mine:
                return
            message_id = await self._post(pulse.chat_id,
                                          self._pulse_message(pulse, group, count))
            async with self.store.transaction() as tx:
                await repo.set_pulse(tx, pulse.id, status="open", message_id=message_id,
                                     shown_count=count)

    async def _scheduled_pulse(self, chat_id: str) -> None:
        """Open the group's regular pulse and move its schedule on, in one transaction."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, chat_id)
            if group is None or group.status != "active" or group.next_pulse_at is None:
                return
            due = parse_iso(group.next_pulse_at)
            if due > now:
                return
            moved = moved_off_holiday(due, group.timezone)
            if moved is not None:  # a public holiday where the team is: the next working day
                group.next_pulse_at = iso(moved)
                await repo.save_group(tx, group, iso(now))
                return
            pulse = None
            missed = now - due >= timedelta(hours=group.open_hours)
            # One pulse at a time; a pulse missed entirely while the bot was down is skipped
            # rather than posted late (it would already have closed).
            if not missed and await repo.live_pulse(tx, chat_id) is None:
                pulse = await repo.create_pulse(tx, chat_id, group.language, iso(now),
                                                iso(due + timedelta(hours=group.open_hours)))
            cadence = _cadence(group)  # counted on from the day a holiday may have moved it off
            slot = back_to_weekday(due, cadence.timezone, cadence.weekday)
            group.next_pulse_at = iso(core.next_occurrence(cadence, slot, now))
            await repo.save_group(tx, group, iso(now))
        if pulse is not None:
            log.info("team pulse %d opened on schedule", pulse.id)
            metrics.team_pulse("opened")
            await self._post_pulse(pulse.id)

    async def _pulse_button(self, chat_id: str, user_id: str, parts: list[str],
                            fallback: str) -> str:
        """A member answers (or changes an answer); returns the private confirmation."""
        if len(parts) != 3 or small_int(parts[0]) is None or parts[1] not in ("t", "m"):
            return self.ui("team_toast_stale", fallback)
        trust = int(parts[2]) if parts[1] == "t" and parts[2] in {"1", "2", "3", "4", "5"} else None
        meaning = MEANING_CODES.get(parts[2]) if parts[1] == "m" else None
        async with self.store.transaction() as tx:
            # A press on the pulse message left in a group's old chat still counts.
            chat_id = await repo.moved_to(tx, chat_id) or chat_id
            pulse = await repo.get_pulse(tx, int(parts[0]))
            if pulse is None or pulse.chat_id != chat_id or (trust is None and meaning is None):
                group = await repo.get_group(tx, chat_id)
                return self.ui("team_toast_stale", group.language if group else fallback)
            if pulse.status not in ("opening", "open") or (
                    parse_iso(pulse.closes_at) <= self.clock.now()):
                return self.ui("team_toast_closed", pulse.language)
            await repo.put_answer(tx, pulse.id, self._key(f"pulse:{pulse.id}", user_id),
                                  trust=trust, meaning=meaning)
            count = await repo.respondents(tx, pulse.id)
        if count != pulse.shown_count:
            await self._show_count(pulse.id)
        return self.ui("team_toast_saved", pulse.language)

    async def _show_count(self, pulse_id: int) -> None:
        """Edit the pulse message to the current respondent count, if the budget allows."""
        async with self._count_lock:
            await self._show_count_now(pulse_id)

    async def _show_count_now(self, pulse_id: int) -> None:
        """The edit itself (under the count lock)."""
        async with self.store.transaction() as tx:
            pulse = await repo.get_pulse(tx, pulse_id)
            if pulse is None or pulse.status != "open":
                return
            group = await repo.get_group(tx, pulse.chat_id)
            count = await repo.respondents(tx, pulse_id)
        if group is None or count == pulse.shown_count:
            return
        if await self._edit(pulse.chat_id, pulse.message_id,
                            self._pulse_message(pulse, group, count), optional=True):
            async with self.store.transaction() as tx:
                await repo.set_pulse(tx, pulse_id, shown_count=count)

    async def close_pulse(self, pulse_id: int) -> None:
        """Aggregate a pulse, forget its individual answers, then publish the result."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            pulse = await repo.get_pulse(tx, pulse_id)
            if pulse is None or pulse.status not in ("opening", "open"):
                return
            group = await repo.get_group(tx, pulse.chat_id)
            assert group is not None
            result = core.aggregate(await repo.answers_to(tx, pulse_id), group.min_respondents)
            await repo.set_pulse(tx, pulse_id, status="closing", closed_at=iso(now),
                                 result=core.result_to_json(result))
            await repo.forget_pulse_answers(tx, pulse_id)
        log.info("team pulse %d closed (%s)", pulse_id, "shown" if result.shown else "too few")
        await self._publish(pulse_id)

    async def _publish(self, pulse_id: int) -> None:
        """Post a closed pulse's result (or 'too few answers') and mark it done."""
        async with self._once(f"publish:{pulse_id}") as mine:
            if mine:
                await self._publish_now(pulse_id)

    async def _publish_now(self, pulse_id: int) -> None:
        """The publishing itself (only one caller at a time)."""
        async with self.store.transaction() as tx:
            pulse = await repo.get_pulse(tx, pulse_id)
            if pulse is None or pulse.status != "closing" or pulse.result is None:
                return
            group = await repo.get_group(tx, pulse.chat_id)
            history = await repo.closed_pulses(tx, pulse.chat_id, CHART_PULSES - 1)
        assert group is not None
        lang = pulse.language
        async with self._sending(f"publish:{pulse_id}") as mine:
            if not mine:
                return
            result = core.result_from_json(pulse.result)
            await self._edit(pulse.chat_id, pulse.message_id,
                             self._pulse_message(pulse, group, result.respondents))
            if not result.shown:
                await self._post(pulse.chat_id, OutMessage(text=self.ui(
                    "team_too_few", lang, seq=pulse.seq, count=result.respondents,
                    minimum=result.minimum)))
            else:
                shown_before = [p for p in history if p.result and
                                core.result_from_json(p.result).shown]
                previous = core.result_from_json(shown_before[-1].result) if (
                    shown_before and shown_before[-1].result) else None
                since = shown_before[-1].seq if shown_before else None
                text = self.result_text(pulse.seq, result, previous, lang, since)
                chart = self._chart([*history, pulse], group)
                photo = Attachment(kind="photo", filename=self.ui("team_chart_filename", lang),
                                   data=chart)
                if len(text) <= CAPTION_LIMIT:
                    await self._post(pulse.chat_id, OutMessage(text=text, kind="summary",
                                                               attachments=[photo]))
                else:
                    await self._post(pulse.chat_id, OutMessage(text=text, kind="summary"))
                    await self._post(pulse.chat_id, OutMessage(text="", attachments=[photo]))
            async with self.store.transaction() as tx:
                await repo.set_pulse(tx, pulse_id, status="closed")
            metrics.team_pulse("closed")

    def result_text(self, seq: int, result: core.PulseResult,
                    previous: core.PulseResult | None, lang: str,
                    since: int | None = None) -> str:
        """The summary of a shown pulse: distributions, change since the last shown pulse
        (number `since`; named when pulses with too few answers came in between), a prompt."""
        change = core.change_since(result, previous)
        trust_rows = None
        if result.trust:
            top = max(result.trust.values()) or 1
            trust_rows = [{"value": v, "count": c,
                           "bar": "█" * (max(1, round(10 * c / top)) if c else 0) or "·"}
                          for v, c in sorted(result.trust.items(), reverse=True)]
        meaning_rows = None
        if result.meaning:
            meaning_rows = [{"label": self.ui(f"team_meaning_{v}", lang),
                             "count": result.meaning.get(v, 0),
                             "text": f"{self.ui(f'team_meaning_{v}', lang)} "
                                     f"{result.meaning.get(v, 0)}"}
                            for v in core.MEANING_VALUES]
        number = core.prompt_number(seq, result)
        return self.renderer.template("team_pulse_result", lang, {
            "seq": seq, "respondents": result.respondents,
            "trust": trust_rows, "meaning": meaning_rows,
            "trust_mean": (self._decimal(result.trust_mean, lang)
                           if result.trust_mean is not None else ""),
            "trust_delta": (self._decimal(change.trust_delta, lang, signed=True)
                            if change and change.trust_delta is not None else ""),
            "yes_delta": (_signed_int(change.yes_share_delta)
                          if change and change.yes_share_delta is not None else ""),
            "prompt": self.ui(f"team_prompt_{number}", lang),
            "since": (self.ui("team_since_pulse", lang, seq=since)
                      if since is not None and since != seq - 1
                      else self.ui("team_since_last", lang)),
        })

    def _chart(self, pulses: list[repo.Pulse], group: repo.Group) -> bytes:
        """The trust score over the group's recent pulses as a PNG."""
        lang = group.language
        labels: list[str] = []
        means: list[float | None] = []
        for pulse in pulses[-CHART_PULSES:]:
            day = parse_iso(pulse.opened_at).astimezone(_zone(group.timezone)).date()
            labels.append(format_date(day, self.ui("team_date_format", lang),
                                      locale=LOCALES[lang]))
            result = core.result_from_json(pulse.result) if pulse.result else None
            means.append(result.trust_mean if result and result.trust else None)
        return trust_chart(labels, means, self.ui("team_chart_title", lang),
                           self.ui("team_chart_ylabel", lang), self.ui("team_chart_hidden", lang),
                           decimal=format_decimal(0.5, "0.0", locale=LOCALES[lang])[1])

    # ---- red and green governance --------------------------------------------------------------

    async def _governance(self, chat_id: str, user_id: str | None, lang: str,
                          args: list[str]) -> None:
        """Open a round, or move the running one on with 'end'. The admin who opens it gets
        the result privately, unless they wrote anonymously (user_id None)."""
        if args and args[0].lower() in ("end", "next", "slut", "stop"):
            async with self.store.transaction() as tx:
                found = await repo.live_round(tx, chat_id)
                if found is not None and found.status == "collecting":
                    await repo.set_round(tx, found.id, collect_until=iso(self.clock.now()))
            if found is None:
                await self._reply(chat_id, self.ui("team_gov_none", lang))
            elif found.status == "collecting":
                await self._start_vote(found.id)
            else:
                await self._close_vote(found.id)
            return
        days = DEFAULT_GOV_DAYS
        if args and small_int(args[0]) is not None:
            days = min(max(int(args[0]), 1), MAX_GOV_DAYS)
        now = self.clock.now()
        async with self.store.transaction() as tx:
            group = await repo.ensure_group(tx, chat_id, lang, iso(now))
            if await repo.live_round(tx, chat_id) is not None:
                created = None
            else:
                created = await repo.create_round(
                    tx, chat_id, secrets.token_urlsafe(9), group.language, user_id, iso(now),
                    iso(now + timedelta(days=days)), VOTE_HOURS)
        if created is None:
            await self._reply(chat_id, self.ui("team_gov_already", group.language))
            return
        log.info("team governance round %d opened", created.id)
        message_id = await self._post(chat_id, self._invitation(created, group, 0))
        async with self.store.transaction() as tx:
            await repo.set_round(tx, created.id, message_id=message_id)
        if user_id is None:
            await self._reply(chat_id, self.ui("team_gov_leader_anonymous", group.language))
            return
        try:
            await self._gw().send(user_id, OutMessage(text=self.ui("team_gov_leader_hello",
                                                                   group.language)))
        except Exception as exc:  # the leader never opened a private chat with the bot
            log.info("leader of round %d not reachable privately (%s)", created.id,
                     type(exc).__name__)
            await self._reply(chat_id, self.ui("team_gov_leader_unreachable", group.language,
                                               link=self._gw().deep_link(None)))

    def _invitation(self, found: repo.Round, group: repo.Group, count: int) -> OutMessage:
        """The round's group message: how to send examples privately, and the live count."""
        lang = found.language
        if found.status != "collecting":
            return OutMessage(text=self.ui("team_gov_collect_closed", lang))
        return OutMessage(text=self.ui(
            "team_gov_open", lang, link=self._gw().deep_link(f"gov_{found.token}"), count=count,
            until=self._when(found.collect_until, lang, group.timezone)))

    def _colour_buttons(self, found: repo.Round) -> list[list[Button]]:
        """Red or green? The buttons carry the round's link token, not its number, so only
        someone who had the group's link can send examples to it (callback data is forgeable)."""
        lang = found.language
        return [[Button(label=self.ui("team_gov_red_button", lang), data=f"tg:{found.token}:r")],
                [Button(label=self.ui("team_gov_green_button", lang),
                        data=f"tg:{found.token}:g")]]

    async def private_start(self, chat_id: str, user_id: str, payload: str,
                            language_code: str | None = None) -> bool:
        """A member arrived through a round's deep link; False if the payload is not ours.
        With no round to take a language from, the member's own is used."""
        if not payload.startswith("gov_"):
            return False
        now = self.clock.now()
        async with self.store.transaction() as tx:
            found = await repo.round_by_token(tx, payload[4:])
            open_ = found is not None and found.status == "collecting" and (
                parse_iso(found.collect_until) > now)
            if found is not None and open_:
                await repo.set_draft(tx, self._key("draft", user_id), found.id, None, iso(now))
        if found is None:
            await self._gw().send(chat_id, OutMessage(text=self.ui(
                "team_gov_unknown_link", member_language(language_code))))
        elif not open_:
            await self._gw().send(chat_id, OutMessage(text=self.ui("team_gov_round_closed",
                                                                   found.language)))
        else:
            await self._gw().send(chat_id, OutMessage(
                text=self.ui("team_gov_intro", found.language), kind="prompt",
                buttons=self._colour_buttons(found)))
        return True

    async def _colour_button(self, chat_id: str, user_id: str, parts: list[str],
                             fallback: str) -> str:
        """A member chose red or green for the example they are about to write."""
        if len(parts) != 2 or parts[1] not in COLOUR_CODES:
            return self.ui("team_toast_stale", fallback)
        now = self.clock.now()
        async with self.store.transaction() as tx:
            found = await repo.round_by_token(tx, parts[0])
            open_ = found is not None and found.status == "collecting" and (
                parse_iso(found.collect_until) > now)
            if found is not None and open_:
                await repo.set_draft(tx, self._key("draft", user_id), found.id,
                                     COLOUR_CODES[parts[1]], iso(now))
        if found is None:
            return self.ui("team_toast_stale", fallback)
        if not open_:
            await self._gw().send(chat_id, OutMessage(text=self.ui("team_gov_round_closed",
                                                                   found.language)))
            return ""
        await self._gw().send(chat_id, OutMessage(text=self.ui(
            "team_gov_ask_text", found.language, limit=core.EXAMPLE_LIMIT)))
        return ""

    async def has_draft(self, user_id: str) -> bool:
        """Whether a member is in the middle of sending a governance example (read-only)."""
        async with self.store.transaction() as tx:
            draft = await repo.get_draft(tx, self._key("draft", user_id))
            created = await repo.draft_created(tx, self._key("draft", user_id))
        return draft is not None and created is not None and (
            parse_iso(created) + DRAFT_LIFETIME > self.clock.now())

    async def private_text(self, chat_id: str, user_id: str, text: str | None,
                           language_code: str | None = None) -> bool:
        """A member's example (text None: a photo, sticker…); False when no example is awaited."""
        now = self.clock.now()
        draft_key = self._key("draft", user_id)
        reply: OutMessage
        added = None
        async with self.store.transaction() as tx:
            draft = await repo.get_draft(tx, draft_key)
            created = await repo.draft_created(tx, draft_key)
            if draft is None or created is None:
                return False
            if parse_iso(created) + DRAFT_LIFETIME <= now:
                # An hour later an ordinary message is not an example any more.
                await repo.drop_draft(tx, draft_key)
                return False
            found = await repo.get_round(tx, draft[0])
            if found is None or found.status != "collecting" or (
                    parse_iso(found.collect_until) <= now):
                await repo.drop_draft(tx, draft_key)
                lang = found.language if found else member_language(language_code)
                reply = OutMessage(text=self.ui("team_gov_round_closed", lang))
            elif draft[1] is None:
                reply = OutMessage(text=self.ui("team_gov_pick_colour", found.language),
                                   kind="prompt",
                                   buttons=self._colour_buttons(found))
            elif text is None or not core.normalise(core.anonymise(text)):
                reply = OutMessage(text=self.ui("team_gov_text_only", found.language))
            elif len(text.strip()) > core.EXAMPLE_LIMIT:
                reply = OutMessage(text=self.ui("team_gov_too_long", found.language,
                                                length=len(text.strip()),
                                                limit=core.EXAMPLE_LIMIT))
            else:
                contributor = self._key(f"contrib:{found.id}", user_id)
                if await repo.contributions(tx, found.id, contributor) >= MAX_EXAMPLES_PER_MEMBER:
                    await repo.drop_draft(tx, draft_key)
                    reply = OutMessage(text=self.ui("team_gov_limit", found.language,
                                                    limit=MAX_EXAMPLES_PER_MEMBER))
                else:
                    await repo.add_example(tx, found.id, secrets.token_hex(8), draft[1],
                                           core.anonymise(text), contributor)
                    await repo.drop_draft(tx, draft_key)
                    added = found
                    reply = OutMessage(text=self.ui("team_gov_thanks", found.language),
                                       kind="prompt",
                                       buttons=self._colour_buttons(found))
        await self._gw().send(chat_id, reply)
        if added is not None:
            await self._show_examples(added.id)
        return True

    async def _show_examples(self, round_id: int) -> None:
        """Edit the invitation to the current number of examples, if the budget allows."""
        async with self._count_lock:
            await self._show_examples_now(round_id)

    async def _show_examples_now(self, round_id: int) -> None:
        """The edit itself (under the count lock)."""
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status != "collecting":
                return
            group = await repo.get_group(tx, found.chat_id)
            count = await repo.example_count(tx, round_id)
        if group is None or count == found.shown_count:
            return
        if await self._edit(found.chat_id, found.message_id,
                            self._invitation(found, group, count), optional=True):
            async with self.store.transaction() as tx:
                await repo.set_round(tx, round_id, shown_count=count)

    async def _start_vote(self, round_id: int) -> None:
        """End collection: merge and publish the examples with a vote on each red one."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status != "collecting":
                return
            group = await repo.get_group(tx, found.chat_id)
            assert group is not None
            minimum = core.threshold(group.min_respondents)
            contributors = await repo.contributor_count(tx, round_id)
            merged = core.merge_examples(await repo.examples_of(tx, round_id))
            items: list[dict[str, Any]] = []
            number = 0
            for example in merged:
                if example.colour == "red":
                    number += 1
                items.append({"n": number if example.colour == "red" else 0,
                              "colour": example.colour, "text": example.text,
                              "count": example.count})
            result: dict[str, Any] = {"contributors": contributors, "minimum": minimum}
            if contributors < minimum or not items:
                result["too_few"] = "examples"
                await repo.set_round(tx, round_id, status="closed", closed_at=iso(now),
                                     result=result)
            elif number == 0:
                await repo.set_round(tx, round_id, status="closed", closed_at=iso(now),
                                     items=items, result={**result, "voters": 0})
            else:
                await repo.set_round(tx, round_id, status="voting", items=items, result=result,
                                     vote_until=iso(now + timedelta(hours=found.vote_hours)))
            # Only the merged, anonymised list survives; raw rows and counts go.
            await repo.forget_round_inputs(tx, round_id)
            found = await repo.get_round(tx, round_id)
        assert found is not None
        await self._edit(found.chat_id, found.message_id, self._invitation(found, group, 0))
        if found.status == "voting":
            message_id = await self._post(found.chat_id, self._vote_message(found, group, 0))
            async with self.store.transaction() as tx:
                await repo.set_round(tx, round_id, vote_message_id=message_id)
        else:
            await self._post(found.chat_id, self._vote_message(found, group, 0))
            await self._notify_leader(round_id)

    def _vote_view(self, found: repo.Round, group: repo.Group, voters: int, mode: str
                   ) -> str:
        """The examples (and tallies, when closed) as text, fitted to one message."""
        lang = found.language
        result = found.result or {}
        minimum = int(result.get("minimum", core.MIN_RESPONDENTS))
        if result.get("too_few") == "examples":
            return self.ui("team_gov_too_few", lang, count=result.get("contributors", 0),
                           minimum=minimum)
        tallies = result.get("tallies") or {}
        labels = {v: self.ui(f"team_vote_{v}", lang) for v in core.VOTE_VALUES}
        green, red = [], []
        for item in found.items or []:
            entry = dict(item)
            if item["colour"] == "red":
                counts = tallies.get(str(item["n"]))
                entry["tally"] = counts
                best = core.leading(counts) if counts else None
                entry["leading"] = labels[best] if best else ""
                red.append(entry)
            else:
                green.append(entry)
        too_few = ""
        if result.get("too_few") == "votes":
            too_few = self.ui("team_gov_too_few_votes", lang, count=result.get("voters", 0),
                              minimum=minimum)
        variables = {
            "mode": mode, "green": green, "red": red, "voters": voters, "too_few": too_few,
            "contributors": result.get("contributors", 0),
            "until": self._when(found.vote_until, lang, group.timezone) if found.vote_until
            else "",
        }
        text = self.renderer.template("team_gov_vote", lang, variables)
        # Keep within one message: shorten the longest examples until it fits.
        while len(text) > MESSAGE_LIMIT - 16:
            longest = max([*green, *red], key=lambda e: len(e["text"]))
            longest["text"] = longest["text"][: max(20, len(longest["text"]) * 3 // 4)] + "…"
            text = self.renderer.template("team_gov_vote", lang, variables)
        return text

    def _vote_message(self, found: repo.Round, group: repo.Group, voters: int) -> OutMessage:
        """The group's vote message: examples and, while voting, buttons on each red one."""
        lang = found.language
        mode = "voting" if found.status == "voting" else "final"
        text = self._vote_view(found, group, voters, mode)
        rows: list[list[Button]] = []
        if mode == "voting":
            for item in found.items or []:
                if item["colour"] == "red":
                    rows.append([Button(label=f"{item['n']}: {self.ui(f'team_vote_{v}', lang)}",
                                        data=f"tv:{found.id}:{item['n']}:{code}")
                                 for code, v in VOTE_CODES.items()])
        return OutMessage(text=text, kind="prompt" if rows else "summary", buttons=rows)

    async def _vote_button(self, chat_id: str, user_id: str, parts: list[str],
                           fallback: str) -> str:
        """A member votes on a red example (or changes the vote)."""
        if len(parts) != 3 or any(small_int(p) is None for p in parts[:2]) or (
                parts[2] not in VOTE_CODES):
            return self.ui("team_toast_stale", fallback)
        async with self.store.transaction() as tx:
            chat_id = await repo.moved_to(tx, chat_id) or chat_id  # as for pulse answers
            found = await repo.get_round(tx, int(parts[0]))
            item = int(parts[1])
            reds = {i["n"] for i in (found.items or []) if i["colour"] == "red"} if found else set()
            if found is None or found.chat_id != chat_id or item not in reds:
                return self.ui("team_toast_stale", found.language if found else fallback)
            if found.status != "voting" or (
                    found.vote_until and parse_iso(found.vote_until) <= self.clock.now()):
                return self.ui("team_toast_closed", found.language)
            await repo.put_vote(tx, found.id, item, self._key(f"vote:{found.id}", user_id),
                                VOTE_CODES[parts[2]])
            voters = await repo.voter_count(tx, found.id)
            group = await repo.get_group(tx, chat_id)
        if voters != found.shown_count and group is not None and await self._edit(
                chat_id, found.vote_message_id, self._vote_message(found, group, voters),
                optional=True):
            async with self.store.transaction() as tx:
                await repo.set_round(tx, found.id, shown_count=voters)
        return self.ui("team_toast_voted", found.language)

    async def _close_vote(self, round_id: int) -> None:
        """End the vote: tally, forget the individual votes, show the result, tell the leader."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status != "voting":
                return
            group = await repo.get_group(tx, found.chat_id)
            assert group is not None
            result = dict(found.result or {})
            minimum = int(result.get("minimum", core.MIN_RESPONDENTS))
            voters = await repo.voter_count(tx, round_id)
            reds = [i["n"] for i in found.items or [] if i["colour"] == "red"]
            result["voters"] = voters
            if voters < minimum:
                result["too_few"] = "votes"
            else:
                tallies = core.tally(await repo.votes_of(tx, round_id), reds)
                result["tallies"] = {str(k): v for k, v in tallies.items()}
            await repo.set_round(tx, round_id, status="closed", closed_at=iso(now),
                                 result=result)
            await repo.forget_round_inputs(tx, round_id, votes=True)
            found = await repo.get_round(tx, round_id)
        assert found is not None
        log.info("team governance round %d closed", round_id)
        final = self._vote_message(found, group, voters)
        if found.vote_message_id is None:
            # The vote message stayed behind when the group moved chat id: post the result.
            await self._post(found.chat_id, final)
        else:
            await self._edit(found.chat_id, found.vote_message_id, final)
        await self._notify_leader(round_id)

    async def _notify_leader(self, round_id: int) -> None:
        """Send the result privately to the admin who opened the round."""
        async with self._once(f"notify:{round_id}") as mine:
            if mine:
                await self._notify_leader_now(round_id)

    async def _notify_leader_now(self, round_id: int) -> None:
        """The private message itself (only one caller at a time)."""
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status != "closed" or found.notified:
                return
            group = await repo.get_group(tx, found.chat_id)
            if found.leader_chat is None:
                await repo.leader_told(tx, round_id)  # the leader had their data erased
                return
            if found.closed_at and parse_iso(found.closed_at) + NOTIFY_GIVE_UP < self.clock.now():
                await repo.leader_told(tx, round_id)
                log.warning("gave up telling the leader of round %d the result", round_id)
                return
        assert group is not None
        voters = int((found.result or {}).get("voters", 0))
        text = self._vote_view(found, group, voters, "leader")
        async with self._sending(f"notify:{round_id}") as mine:
            if not mine:
                return
            await self._gw().send(found.leader_chat, OutMessage(text=text, kind="summary"))
            async with self.store.transaction() as tx:
                await repo.leader_told(tx, round_id)

    # ---- a group that became a supergroup -----------------------------------------------------

    async def follow(self, old: str, new: str) -> None:
        """Move a group's check-ins to the chat id Telegram gave it as a supergroup.

        Called for the service message in either chat (both may come, each perhaps twice) and
        when a send is refused with the new id; only the first call finds anything to move.
        Messages in the old chat can no longer be edited, so an open pulse is posted again in
        the new chat, as the same pulse: answers given so far count, and a member who answers
        again changes their answer (the hash is scoped to the pulse, not the chat). Closing it
        early instead would cut members' time short, and could show results from fewer people
        than the group usually has. A live governance round is posted again the same way.
        """
        if old == new:
            return
        now = iso(self.clock.now())
        async with self.store.transaction() as tx:
            # A setup wizard's message stays behind in the old chat, where it can no longer be
            # edited: it is closed (/checkin setup in the new chat starts another).
            await repo.close_wizards(tx, old)
            if await repo.get_group(tx, new) is not None:
                # The supergroup was set up on its own before we learnt of the move: its own
                # settings win, and the old group is switched off like one the bot left.
                stale = await repo.get_group(tx, old)
                retired = stale is not None and stale.status != "off"
                if stale is not None:
                    await repo.retire_group(tx, old, now)
                moved = None
            else:
                retired = False
                moved = await repo.move_group(tx, old, new, now)
        if retired:
            log.warning("team group %s became %s, which has check-ins of its own; the old "
                        "group's check-ins were switched off", old, new)
        if moved is None:
            return
        log.info("team group %s became a supergroup; its check-ins moved to %s", old, new)
        for pulse_id in moved.pulses:
            await self._guard(self._post_pulse(pulse_id), "posting a moved pulse")
        for round_id in moved.rounds:
            await self._guard(self._repost_round(round_id), "posting a moved round")

    async def _repost_round(self, round_id: int) -> None:
        """Post a live round's message again (its old one is in a chat that is gone)."""
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status == "closed":
                return
            group = await repo.get_group(tx, found.chat_id)
            collecting = found.status == "collecting"
            count = await (repo.example_count(tx, round_id) if collecting
                           else repo.voter_count(tx, round_id))
        if group is None:
            return
        if collecting:
            message_id = await self._post(found.chat_id, self._invitation(found, group, count))
            async with self.store.transaction() as tx:
                await repo.set_round(tx, round_id, message_id=message_id, shown_count=count)
        else:
            message_id = await self._post(found.chat_id, self._vote_message(found, group, count))
            async with self.store.transaction() as tx:
                await repo.set_round(tx, round_id, vote_message_id=message_id, shown_count=count)

    # ---- the setup wizard (/checkin setup with no words) ---------------------------------------

    async def _start_wizard(self, chat_id: str, lang: str) -> None:
        """Post the wizard's one message, starting from the group's settings if it has any;
        an older wizard still open in the group is closed."""
        now = iso(self.clock.now())
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, chat_id)
            replaced = await repo.replace_wizards(tx, chat_id)
            found = await repo.create_wizard(tx, chat_id, group.language if group else lang,
                                             group, now)
        for message_id in replaced:
            # Take the old buttons away when the budget allows; pressed, they are closed anyway.
            await self._edit(chat_id, message_id,
                             OutMessage(text=self.ui("team_wizard_replaced", found.language)),
                             optional=True)
        posted = await self._post(chat_id, wizard.render(found, self.ui))
        async with self.store.transaction() as tx:
            await repo.set_wizard_message(tx, found.id, posted)

    async def _wizard_button(self, chat_id: str, user_id: str, parts: list[str],
                             fallback: str) -> str:
        """An admin moves the wizard on (choice, back, cancel, save); returns the toast."""
        press = wizard.parse(parts)
        async with self.store.transaction() as tx:
            found = await repo.get_wizard(tx, press.wizard_id) if press else None
        refusal = self._wizard_refusal(found, press, chat_id, fallback)
        if refusal is not None:
            return refusal
        assert found is not None and press is not None
        lang = wizard.lang_of(found)
        # Checked on every press, as rights can be taken away while a wizard is open (Telegram's
        # answer is remembered for up to ADMIN_CACHE_TTL, so a demotion shows within a minute).
        if not await self._is_admin(chat_id, user_id):
            return self.ui("team_toast_wizard_admins", lang)
        if self.pacer.used(chat_id) >= self.pacer.limit:
            return self.ui("team_toast_wizard_busy", lang)  # the group's minute is spent
        async with self.store.transaction() as tx:
            # Read again inside the write transaction: the version check and the update are
            # one step, so of two admins pressing the same screen only the first gets through.
            current = await repo.get_wizard(tx, press.wizard_id)
            if current is None or current.version != press.version or (
                    not wizard.apply(current, press.code)) or (
                    not await repo.save_wizard(tx, current, press.version,
                                               iso(self.clock.now()))):
                return self.ui("team_toast_wizard_moved", lang)
            group = None
            if current.status == "saved":
                group, _ = await self._configure(tx, chat_id, lang,
                                                 lambda g: wizard.settle(current, g))
        if group is None:
            await self._edit(chat_id, current.message_id, wizard.render(current, self.ui))
            return ""
        log.info("team settings saved from the setup wizard")
        # The same confirmation the typed setup gives, in place of the wizard.
        await self._edit(chat_id, current.message_id, OutMessage(text=self._settings_text(group)))
        return self.ui("team_toast_wizard_saved", group.language)

    def _wizard_refusal(self, found: repo.Wizard | None, press: wizard.Press | None,
                        chat_id: str, fallback: str) -> str | None:
        """The toast for a press that must change nothing (checked before Telegram is asked
        anything): unknown, altered or another group's data, a finished, replaced or
        abandoned wizard, or a screen that has moved on."""
        if found is None or press is None or found.chat_id != chat_id or (
                found.status != "open") or (
                parse_iso(found.updated_at) + WIZARD_LIFETIME < self.clock.now()):
            return self.ui("team_toast_wizard_closed",
                           wizard.lang_of(found) if found else fallback)
        if found.version != press.version:
            return self.ui("team_toast_wizard_moved", wizard.lang_of(found))
        if press.code not in wizard.offered(found):
            return self.ui("team_toast_wizard_closed", wizard.lang_of(found))
        return None

    # ---- buttons and the clock -----------------------------------------------------------------

    async def button(self, chat_id: str, user_id: str, data: str,
                     language_code: str | None = None) -> str:
        """Route a team button ('tp:', 'tv:', 'tg:', 'tw:'); returns the private confirmation
        text (the toast), in the presser's language when no group or round gives one."""
        prefix, _, rest = data.partition(":")
        parts = rest.split(":")
        fallback = member_language(language_code)
        if prefix == "tp":
            return await self._pulse_button(chat_id, user_id, parts, fallback)
        if prefix == "tv":
            return await self._vote_button(chat_id, user_id, parts, fallback)
        if prefix == "tg":
            return await self._colour_button(chat_id, user_id, parts, fallback)
        if prefix == wizard.PREFIX:
            return await self._wizard_button(chat_id, user_id, parts, fallback)
        return self.ui("team_toast_stale", fallback)

    async def tick(self) -> None:
        """Do what is due: post, open and close pulses, move rounds on, catch up live counts.

        Everything is read from SQLite, so a restart simply resumes here.
        """
        await self.settle_orphaned_sends()
        now = iso(self.clock.now())
        async with self.store.transaction() as tx:
            opening = await repo.pulses_in(tx, "opening")
            due = await repo.due_groups(tx, now)
        for pulse in opening:
            await self._guard(self._post_pulse(pulse.id), "posting a pulse")
        for group in due:
            await self._guard(self._scheduled_pulse(group.chat_id), "opening a pulse")
        async with self.store.transaction() as tx:
            closing = [*await repo.pulses_in(tx, "opening", before=now),
                       *await repo.pulses_in(tx, "open", before=now)]
        for pulse in closing:
            await self._guard(self.close_pulse(pulse.id), "closing a pulse")
        async with self.store.transaction() as tx:
            unpublished = await repo.pulses_in(tx, "closing")
            live = await repo.pulses_in(tx, "open")
            rounds = await repo.rounds_due(tx, now)
        for pulse in unpublished:
            await self._guard(self._publish(pulse.id), "publishing a pulse")
        for pulse in live:
            await self._guard(self._show_count(pulse.id), "updating a count")
        for found in rounds:
            step = {"collecting": self._start_vote, "voting": self._close_vote,
                    "closed": self._notify_leader}[found.status]
            await self._guard(step(found.id), "moving a governance round on")


def member_language(language_code: str | None) -> str:
    """A member's language from Telegram's language_code ('no', 'nn', 'nb' → nb; else da)."""
    return language_for(language_code, TEAM_LANGUAGES)


def _zone(name: str) -> ZoneInfo:
    """A time zone by name, falling back to Copenhagen."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("Europe/Copenhagen")


def _cadence(group: repo.Group) -> core.Cadence:
    """A group's schedule as a Cadence."""
    hour, minute = (int(x) for x in group.at_time.split(":"))
    return core.Cadence(group.cadence, group.weekday, time(hour, minute), group.timezone)


def _signed_int(value: float) -> str:
    """A whole number with its sign (percentage points)."""
    number = round(value)
    return ("+" if number > 0 else "−" if number < 0 else "±") + str(abs(number))
