"""Team check-ins, channel-independent: the core builds one `Team`; each channel attaches its
gateway and gets a `TeamService` that its group commands, buttons and private messages call.

State is committed before anything is posted; everything posted goes through the channel's
TeamGateway (bot/team/delivery.py documents it). Member ids are used only to compute scoped
hashes and never stored, logged or shown. The work itself lives in setup.py (settings and the
wizard), pulse.py, governance.py, views.py (how it all looks) and delivery.py (pacing, the
at-most-once sends, per-group locks); this module routes and ticks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.clock import Clock, iso
from bot.dialogue import Dialogues
from bot.store import team as repo
from bot.store.db import Store
from bot.team import core, wizard
from bot.team.delivery import (
    ADMIN_CACHE_SIZE,
    ADMIN_CACHE_TTL,
    GROUP_LIMIT,
    AdminCache,
    ChatMoved,
    Delivery,
    GroupGone,
    GroupLocks,
    GroupPacer,
    SendMarks,
    TeamGateway,
    guard,
)
from bot.team.governance import DraftHolders, Governance
from bot.team.jobs import add_team_job
from bot.team.pulse import Pulses
from bot.team.setup import Setup
from bot.team.views import Views, member_language

__all__ = ["ADMIN_CACHE_SIZE", "ADMIN_CACHE_TTL", "GROUP_LIMIT", "AdminCache", "ChatMoved",
           "GroupGone", "GroupPacer", "Team", "TeamGateway", "TeamService", "member_language"]

log = logging.getLogger(__name__)


class Team:
    """Team check-ins for every channel of one process, built once by the core.

    Holds what the channels share: the store, wording, clock, the member-hash secret, the
    at-most-once marks and the per-group locks. A channel calls `attach` with its gateway;
    `start` catches up and registers one job on the core's scheduler, whose `tick` ticks every
    attached channel, each through its own gateway and for its own groups only. The team code
    owns no scheduler: the core passes its own.
    """

    def __init__(self, store: Store, dialogues: Dialogues, clock: Clock, secret: bytes,
                 scheduler: BaseScheduler | None = None, tick_seconds: float = 30.0) -> None:
        """Assemble; no channel is attached yet. Without a scheduler nothing ticks by itself
        (tests and tools call tick)."""
        self.scheduler = scheduler
        self.tick_seconds = tick_seconds
        self.store = store
        self.views = Views(dialogues)
        self.clock = clock
        self._secret = secret
        self.marks = SendMarks(store, clock)
        self.locks = GroupLocks()
        self.drafts = DraftHolders(store)
        self.channels: dict[str, TeamService] = {}

    def key(self, scope: str, user_id: str) -> str:
        """A member's hash within one scope."""
        return core.member_key(self._secret, scope, user_id)

    def derive_key(self, purpose: str, length: int = 64) -> bytes:
        """A key for one purpose derived from the member-hash secret (HKDF-SHA256), so a
        channel can seal what it must keep about a member under the same secret."""
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                    info=f"tillidsbot team {purpose}".encode()).derive(self._secret)

    def attach(self, channel: str, gateway: TeamGateway) -> TeamService:
        """The service for one channel's groups, posting through its gateway."""
        if channel in self.channels:
            raise ValueError(f"a team gateway for {channel!r} is attached already")
        service = TeamService(self, channel, gateway)
        self.channels[channel] = service
        return service

    async def tick(self) -> None:
        """Do what is due in every channel's groups (a failing channel does not stop the
        others: each step is guarded)."""
        await self.marks.settle_orphaned()
        for service in list(self.channels.values()):
            await service.tick(settle=False)

    async def start(self) -> None:
        """Catch up on what fell due while the bot was down, then tick with one job on the
        core's scheduler (the channels attached by now are ticked)."""
        await self.tick()
        if self.scheduler is not None:
            add_team_job(self.scheduler, self, self.tick_seconds)


class TeamService:
    """Pulses and governance rounds for one channel's group chats."""

    def __init__(self, team: Team, channel: str, gateway: TeamGateway) -> None:
        """Wire the parts for one channel (use Team.attach)."""
        self.team = team
        self.channel = channel
        self.gateway = gateway
        self.store = team.store
        self.clock = team.clock
        self.views = team.views
        self.out = Delivery(team.store, team.clock, channel, gateway, team.marks, team.locks)
        self.out.on_moved = self.follow
        self.pacer = self.out.pacer
        self.pulses = Pulses(self.out, self.views, team.key)
        self.governance = Governance(self.out, self.views, team.key, team.drafts)
        self.setup = Setup(self.out, self.views)

    @classmethod
    def standalone(cls, store: Store, dialogues: Dialogues, clock: Clock, secret: bytes,
                   gateway: TeamGateway, channel: str = "telegram") -> TeamService:
        """A Team with this one channel attached (tests, tools)."""
        return Team(store, dialogues, clock, secret).attach(channel, gateway)

    def ui(self, key: str, lang: str, **variables: Any) -> str:
        """Team wording."""
        return self.views.ui(key, lang, **variables)

    def parse_setup(self, tokens: list[str], group: repo.Group) -> str | None:
        """Apply setup words to a group's settings; return the first unreadable word, if any."""
        return self.setup.parse_setup(tokens, group)

    # ---- what the channel routes here ----------------------------------------------------------

    async def command(self, chat_id: str, user_id: str, args: str,
                      language_code: str | None = None, is_admin: bool | None = None,
                      anonymous: bool = False) -> None:
        """/checkin <sub> [args] in a group; only administrators may use it. An anonymous
        administrator (writing as the group) has no user id of their own to reach."""
        words = args.split()
        sub = words[0].lower() if words else "help"
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, self.channel, chat_id)
        lang = group.language if group else member_language(language_code)
        admin = is_admin if is_admin is not None else await self.out.is_admin(chat_id, user_id)
        if not admin:
            # Once a minute per group at most: members typing /checkin again and again must not
            # flood the group or spend the budget the pulse's live count needs.
            if (self.pacer.used(chat_id) < self.pacer.limit
                    and self.out.refusals.ready(chat_id, self.clock.now())):
                await self.out.reply(chat_id, self.ui("team_admin_only", lang))
            return
        rest = words[1:]
        steps: dict[str, Callable[[], Awaitable[None]]] = {
            "setup": lambda: self.setup.setup(chat_id, lang, rest),
            "now": lambda: self.pulses.open_now(chat_id, lang),
            "close": lambda: self.pulses.close_now(chat_id, lang),
            "pause": lambda: self.setup.switch(chat_id, lang, "pause"),
            "off": lambda: self.setup.switch(chat_id, lang, "off"),
            "resume": lambda: self.setup.switch(chat_id, lang, "resume"),
            "status": lambda: self.setup.status(chat_id, lang),
            "governance": lambda: self.governance.command(
                chat_id, None if anonymous else user_id, lang, rest),
        }
        step = steps.get(sub)
        if step is None:
            await self.out.reply(chat_id, self.ui("team_help", lang))
        else:
            await step()

    async def button(self, chat_id: str, user_id: str, data: str,
                     language_code: str | None = None) -> str:
        """Route a team button ('tp:', 'tv:', 'tg:', 'tw:'); returns the private confirmation
        text (the toast), in the presser's language when no group or round gives one."""
        prefix, _, rest = data.partition(":")
        parts = rest.split(":")
        fallback = member_language(language_code)
        if prefix == "tp":
            return await self.pulses.button(chat_id, user_id, parts, fallback)
        if prefix == "tv":
            return await self.governance.vote_button(chat_id, user_id, parts, fallback)
        if prefix == "tg":
            return await self.governance.colour_button(chat_id, user_id, parts, fallback)
        if prefix == wizard.PREFIX:
            return await self.setup.wizard_button(chat_id, user_id, parts, fallback)
        return self.ui("team_toast_stale", fallback)

    async def private_start(self, chat_id: str, user_id: str, payload: str,
                            language_code: str | None = None) -> bool:
        """A member arrived through a round's link; False if the payload is not one."""
        return await self.governance.private_start(chat_id, user_id, payload, language_code)

    async def has_draft(self, user_id: str) -> bool:
        """Whether a member is in the middle of sending a governance example (read-only;
        costs nothing for someone who has not started one, such as a leader)."""
        return await self.governance.has_draft(user_id)

    async def private_text(self, chat_id: str, user_id: str, text: str | None,
                           language_code: str | None = None) -> bool:
        """A member's example (text None: a photo, sticker…); False when no example is awaited."""
        return await self.governance.private_text(chat_id, user_id, text, language_code)

    async def close_pulse(self, pulse_id: int) -> None:
        """Aggregate a pulse, forget its individual answers, then publish the result."""
        await self.pulses.close(pulse_id)

    async def settle_orphaned_sends(self) -> int:
        """Record sends a dead process left marked as done (never resent); return how many."""
        return await self.team.marks.settle_orphaned()

    # ---- a group that became a supergroup -----------------------------------------------------

    async def follow(self, old: str, new: str) -> None:
        """Move a group's check-ins to the chat id the channel gave it (Telegram: it became a
        supergroup).

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
            await repo.close_wizards(tx, self.channel, old)
            if await repo.get_group(tx, self.channel, new) is not None:
                # The supergroup was set up on its own before we learnt of the move: its own
                # settings win, and the old group is switched off like one the bot left.
                stale = await repo.get_group(tx, self.channel, old)
                retired = stale is not None and stale.status != "off"
                if stale is not None:
                    await repo.retire_group(tx, self.channel, old, now)
                moved = None
            else:
                retired = False
                moved = await repo.move_group(tx, self.channel, old, new, now)
        if retired:
            log.warning("team group %s became %s, which has check-ins of its own; the old "
                        "group's check-ins were switched off", old, new)
        if moved is None:
            return
        log.info("team group %s became a supergroup; its check-ins moved to %s", old, new)
        for pulse_id in moved.pulses:
            await guard(self.pulses.post(pulse_id), "posting a moved pulse")
        for round_id in moved.rounds:
            await guard(self.governance.repost(round_id), "posting a moved round")

    # ---- the clock -----------------------------------------------------------------------------

    async def tick(self, settle: bool = True) -> None:
        """Do what is due in this channel's groups: post, open and close pulses, move rounds
        on, catch up live counts. Everything is read from SQLite, so a restart resumes here."""
        if settle:
            await self.team.marks.settle_orphaned()
        now = iso(self.clock.now())
        await self.pulses.tick(now)
        await self.governance.tick(now)
