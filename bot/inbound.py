"""One inbound pipeline for every channel: a normalised event in, a rendered reply out.

A channel turns a platform event into an `InEvent` and calls `Inbound.handle(event, channel)`.
The pipeline owns every decision that is not about drawing:

1. ONE write transaction: admission (the channel's Gate; an invite code is used up and the
   leader row created here), the claim of the event id (`inbound_events`, so a repeated event
   is a no-op and one a crash interrupted shows where the conversation stands instead of being
   applied twice), the onboarding decision and the engine step with its effects. It commits
   before anything is sent.
2. The reply: what the engine said plus rendering hints (`Reply`): answer the button press with
   this toast; mark the pressed prompt with the chosen answer, clear its buttons or edit it
   into a new message. Plain notes ride on the message after them (`compose.merge`: one
   message where one will do, on every channel). The channel draws it (`Channel.render`).
3. A second, small transaction marks the event done.

Errors: wording that fails to render rolls the step back and the leader hears so (their
conversation is kept); any other failure is logged by type and place only (an exception's
message may quote the leader) and the leader hears "something went wrong" and where they were.
Nothing is stored about a person the gate refuses, not even the event id.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, Protocol

import aiosqlite

from bot import buttons, identity, metrics
from bot.access import Admission, Cooldown, Gate
from bot.channels.compose import merge
from bot.clock import Clock, iso
from bot.config import Settings
from bot.dialogue.render import RenderError
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.service import Action, BotService, Command, Resume, Who, language_for
from bot.store import inbound as events
from bot.store import repo
from bot.store import telegram as admissions

log = logging.getLogger(__name__)

EVENT_MEMORY = timedelta(days=2)  # platforms redeliver for a day at most (Telegram: 24 h)
PRUNE_EVERY = 1000  # claims between two prunes of old event ids

# command: '/name args'; text: typed words; button: a pressed button's data; attachment: a
# photo, file, voice or sticker the bot cannot take; edit: an earlier message was edited;
# open: the chat was (re)opened (the terminal chat starting); other: anything else that may
# admit a person but asks for no answer (e.g. Telegram's "started the bot").
EventKind = Literal["command", "text", "button", "attachment", "edit", "open", "other"]
# What to do with the prompt whose button was pressed (see Reply).
Pressed = Literal["keep", "mark_chosen", "clear_buttons", "replace"]


@dataclass(frozen=True)
class InEvent:
    """One thing a person did, as every channel reports it.

    channel    identity.TELEGRAM, identity.CONSOLE, identity.TEAMS …
    event_id   the platform's id of this event, unique within the channel (Telegram:
               '<bot id>:<update id>'); a repeat is recognised by it
    user_id    the platform's own id of the person (text); the leader id is
               identity.leader_id(channel, user_id)
    reference  the opaque conversation reference the channel needs to message this person
               later on its own (Telegram: the private chat id); stored on the leader row
    language   the platform's language code of the person ('nb-NO'), for a new leader
    kind       see EventKind; then, by kind:
    command    kind 'command': the name, lower case, without '/' ('start', 'delegate')
    text       kind 'command': its arguments ('' for none); kind 'text': what was typed
    data       kind 'button': the pressed button's data; '' when the press cannot be trusted
               (a button from another chat, no data): it is answered "closed" and changes
               nothing
    step       kind 'text': the step of the question the person saw when they typed (a
               channel that can show an old question, like two terminal windows); None: the
               current one
    attachment kind 'attachment': what came ('photo', 'voice', 'document', 'sticker' …)
    label      how logs name the event (no personal data); the event id when empty
    """

    channel: str
    event_id: str
    user_id: str
    reference: str
    kind: EventKind
    language: str | None = None
    command: str = ""
    text: str = ""
    data: str = ""
    step: int | None = None
    attachment: str = ""
    label: str = ""

    @property
    def leader_id(self) -> str:
        """The channel-qualified leader id of the person."""
        return identity.leader_id(self.channel, self.user_id)

    @property
    def who(self) -> Who:
        """The person as the service sees them."""
        return Who(leader_id=self.leader_id, chat_id=self.reference,
                   language_code=self.language)

    @property
    def name(self) -> str:
        """The event's name in logs."""
        return self.label or self.event_id


@dataclass
class Reply:
    """What to draw for one event: messages to send, plus hints about the pressed button.

    messages  sent in order as new messages. One of them may have `replace=True` (a
              multiple choice toggled): with pressed == 'replace' the channel edits the
              pressed prompt into it and leaves it out of the new messages; when it cannot
              edit (too long, attachments, the platform refused, no pressed prompt) it sends
              it first instead
    toast     for a button press only: None = do not answer the press; '' = answer it
              silently (stops the spinner); text = answer it with this short notice
    pressed   for a button press only, what becomes of the prompt that carried the button:
              'keep' (leave it as it is: the answer was rejected, the question stays open),
              'mark_chosen' (remove its buttons and show the chosen button's label under it),
              'clear_buttons' (remove its buttons only: the question is closed),
              'replace' (edit it into the message marked replace=True)
    A channel applies them in this order: the toast, the pressed prompt, the messages.
    """

    messages: list[OutMessage] = field(default_factory=list)
    toast: str | None = None
    pressed: Pressed = "keep"


class Unreachable(Exception):
    """Raised by Channel.render when the person cannot be reached at all (they blocked the bot):
    the pipeline records the event as done and tells no one."""


class Channel(Protocol):
    """What the pipeline needs from a channel for the events it hands in."""

    @property
    def can_edit(self) -> bool:
        """Whether the channel answers button presses and edits the pressed prompt (Telegram,
        Teams). A channel that cannot (the terminal) gets, after an old button or an answer to
        an earlier question, where the conversation is now as messages instead."""
        ...

    async def render(self, event: InEvent, reply: Reply) -> None:
        """Draw the reply to the person who sent the event; raise on failure (Unreachable when
        they cannot be reached)."""
        ...


@dataclass(frozen=True)
class _Plan:
    """What the event asks the service for: an action, a fixed wording, or 'closed'."""

    action: Action | None = None
    say: str | None = None  # an interface wording key to answer with, changing nothing
    closed: bool = False  # a press that cannot be trusted: answered "closed"


class Inbound:
    """The pipeline; one per process, shared by every channel."""

    def __init__(self, service: BotService, settings: Settings, clock: Clock,
                 open_channels: frozenset[str] = frozenset({identity.CONSOLE})) -> None:
        """Bind to the service and the access settings; open_channels let everyone in (the
        terminal chat's one local leader is whoever sits at it)."""
        self.service = service
        self.settings = settings
        self.clock = clock
        self.open_channels = open_channels
        self.gates: dict[str, Gate] = {}
        self.refusals = Cooldown()
        self._claims = 0

    def gate(self, channel: str) -> Gate:
        """The access gate of one channel."""
        if channel not in self.gates:
            self.gates[channel] = Gate(self.service.store, self.settings, self.clock,
                                       self.service.dialogues.languages, channel,
                                       always_open=channel in self.open_channels)
        return self.gates[channel]

    # ---- the pipeline -------------------------------------------------------------------------

    async def handle(self, event: InEvent, channel: Channel) -> Reply | None:
        """Admit, claim, step and commit in one transaction; render; mark done. Returns what was
        rendered (None: nothing, e.g. a repeated event)."""
        plan: _Plan | None = None
        try:
            async with self.service.store.transaction() as tx:
                admission = await self._admit(tx, event)
                if not admission.allowed:
                    reply = self._refusal(event, admission)
                    plan = None
                else:
                    seen = await self._claim(tx, event)
                    if seen == "done":
                        log.info("update %s was already handled; ignoring the repeat",
                                 event.name)
                        return None
                    if seen == "processing":
                        # A crash interrupted this event: its step may or may not have been
                        # committed, so show where the conversation stands, never apply twice.
                        log.warning("update %s was interrupted earlier; resuming instead",
                                    event.name)
                    plan = _Plan(Resume()) if seen else self._plan(event, admission.new)
                    reply = await self._respond(tx, event, plan, channel)
        except RenderError as exc:
            if plan is None or plan.action is None:
                await self.failed(event, channel, exc)
                return None
            try:
                reply = await self._recover(event, plan.action, exc, channel)
            except Exception as again:
                await self.failed(event, channel, again)
                return None
        except Exception as exc:
            await self.failed(event, channel, exc)
            return None
        if not admission.allowed:
            await self._render_refusal(event, reply, channel)
            return reply
        reply.messages = merge(reply.messages)
        try:
            await channel.render(event, reply)
        except Unreachable:
            pass  # they blocked the bot: nothing can reach them
        except Exception as exc:
            await self.failed(event, channel, exc, claimed=True)
            return None
        await self.finish(event.channel, event.event_id)
        return reply

    async def _admit(self, tx: aiosqlite.Connection, event: InEvent) -> Admission:
        """The channel's gate, inside the pipeline's transaction."""
        code = event.text if event.kind == "command" and event.command == "start" else None
        return await self.gate(event.channel).admit_in(
            tx, event.leader_id, event.user_id, event.reference, event.language, code or None)

    async def _claim(self, tx: aiosqlite.Connection, event: InEvent) -> str | None:
        """Record the event as in progress; its earlier status if it was seen before."""
        seen = await events.claim(tx, event.channel, event.event_id, iso(self.clock.now()))
        self._claims += 1
        return seen

    def _plan(self, event: InEvent, new: bool) -> _Plan:
        """What a fresh event asks for; a new leader's first words start onboarding."""
        onboard = new and "onboarding" in self.service.command_handlers
        if event.kind == "button":
            return _Plan(ButtonInput(data=event.data)) if event.data else _Plan(closed=True)
        if event.kind == "command":
            if event.command == "start":
                return _Plan(Command("onboarding" if onboard else "start"))
            return _Plan(Command(event.command, event.text))
        if event.kind == "text":
            return _Plan(Command("onboarding") if onboard
                         else TextInput(text=event.text, step=event.step))
        if event.kind == "open":
            return _Plan(Command("onboarding") if onboard else Resume())
        if event.kind == "edit":
            return _Plan(say="tg_edited")
        if event.kind == "attachment":
            return _Plan(say="tg_unsupported")
        return _Plan()

    async def _respond(self, tx: aiosqlite.Connection, event: InEvent, plan: _Plan,
                       channel: Channel) -> Reply:
        """Carry the plan out in the transaction and shape the reply."""
        who = event.who
        if plan.closed:
            return Reply(toast=await self._closed(tx, who))
        if plan.say is not None:
            lang = await self.service.language_in(tx, who)
            return Reply([OutMessage(text=self.service.ui(plan.say, lang))])
        if plan.action is None:
            return Reply()
        action = plan.action
        if isinstance(action, ButtonInput) and buttons.guarded(self.service, action.data):
            # Counts once: a stale, repeated or forged press changes nothing (bot/buttons.py).
            taken = await buttons.take(tx, who.leader_id, action.data)
            if taken is None:
                stale = await self._stale(tx, who)
                return await self._stamped(tx, who, await self._shape(
                    tx, event, action, stale, channel))
            action = ButtonInput(data=taken)
        out = await self.service.act_in(tx, who, action)
        reply = await self._shape(tx, event, action, out, channel)
        if action is not plan.action and reply.pressed == "keep":
            reply.pressed = "clear_buttons"  # its token is used up: its buttons would be dead
        return await self._stamped(tx, who, reply)

    async def _stale(self, tx: aiosqlite.Connection, who: Who) -> list[OutMessage]:
        """What the engine says to an old button, for a guarded one."""
        lang = await self._language(tx, who)
        return [OutMessage(text=self.service.ui("stale_button", lang), kind="error",
                           key="stale_button")]

    async def _language(self, tx: aiosqlite.Connection, who: Who) -> str:
        """The leader's language, or their platform's for a person with no leader row (a press
        that changes nothing creates none: a forgotten leader's old button stays forgotten)."""
        leader = await repo.get_leader(tx, who.leader_id)
        if leader is not None:
            return leader.language
        return language_for(who.language_code, self.service.dialogues.languages)

    async def _stamped(self, tx: aiosqlite.Connection, who: Who, reply: Reply) -> Reply:
        """The reply with the leader's button token on its guarded buttons."""
        reply.messages = await buttons.stamp(tx, self.service, who.leader_id, reply.messages)
        return reply

    async def _shape(self, tx: aiosqlite.Connection, event: InEvent, action: Action,
                     out: list[OutMessage], channel: Channel) -> Reply:
        """The stale/edit/replace decisions as rendering hints."""
        press = event.kind == "button" and isinstance(action, ButtonInput)
        if press and channel.can_edit:
            if len(out) == 1 and out[0].key == "stale_button":
                return Reply(toast=await self._closed(tx, event.who), pressed="clear_buttons")
            if all(m.kind == "error" for m in out):
                return Reply(out, toast="", pressed="keep")  # the question stays open
            if any(m.replace for m in out):
                return Reply(out, toast="", pressed="replace")
            return Reply(out, toast="", pressed="mark_chosen")
        if not channel.can_edit and any(m.key in ("stale_button", "moved_on") for m in out):
            # An old button or an answer meant for an earlier question: show where it is now.
            return Reply([*out, *await self.service.current_in(tx, event.who)])
        return Reply(out)

    async def _closed(self, tx: aiosqlite.Connection, who: Who) -> str:
        """'This question is closed' in the leader's language."""
        return self.service.ui("tg_closed", await self._language(tx, who))

    async def _recover(self, event: InEvent, action: Action, exc: RenderError,
                       channel: Channel) -> Reply:
        """After wording failed to render and the step was rolled back: claim again and tell
        the leader, keeping their conversation."""
        async with self.service.store.transaction() as tx:
            await self._admit(tx, event)  # an invite used in the rolled-back one counts here
            await self._claim(tx, event)
            out = await self.service.recover_in(tx, event.who, action, exc)
            return await self._stamped(tx, event.who,
                                       await self._shape(tx, event, action, out, channel))

    # ---- refusals and failures --------------------------------------------------------------

    def _refusal(self, event: InEvent, admission: Admission) -> Reply:
        """A polite refusal in the person's language, to a message or a button only and at most
        once a minute however many they send; nothing about them is stored (a leader whose
        access was closed hears where their kept data can be had)."""
        lang = language_for(event.language, self.service.dialogues.languages)
        log.info("refused update %s from a person who is not an admitted leader", event.name)
        metrics.refused(event.channel)
        toast = self.service.ui("tg_closed", lang) if event.kind == "button" else None
        answers = event.kind in ("button", "command", "text", "attachment")
        if answers and self.refusals.ready((event.channel, event.user_id), self.clock.now()):
            key = "tg_access_closed" if admission.closed else "tg_refused"
            return Reply([OutMessage(text=self.service.ui(key, lang))], toast=toast)
        return Reply(toast=toast)

    async def _render_refusal(self, event: InEvent, reply: Reply, channel: Channel) -> None:
        """Draw a refusal; a failure is logged, never retried (nothing was claimed)."""
        if reply.toast is None and not reply.messages:
            return
        try:
            await channel.render(event, reply)
        except Exception as exc:
            log.info("could not send a refusal: %s", type(exc).__name__)

    async def failed(self, event: InEvent, channel: Channel, error: BaseException,
                     claimed: bool = False) -> None:
        """Log the event's name and the error's type and place, tell the leader (if they are
        one) and show where they were; record the event as done."""
        # Only the type and the stack: an exception's message may quote what the leader wrote.
        stack = "".join(traceback.format_tb(error.__traceback__))
        log.error("update %s failed with %s\n%s", event.name, type(error).__name__, stack)
        if isinstance(error, Unreachable):
            await self._settle(event, claimed)
            return
        admitted = True
        try:
            if not claimed:
                async with self.service.store.transaction() as tx:
                    admitted = (await self._admit(tx, event)).allowed
                    if not admitted:
                        return  # nothing is stored about a person the gate refuses
                    await self._claim(tx, event)
                claimed = True
            language = await self.service.known_language(event.leader_id)
            if language is not None:
                sorry = OutMessage(text=self.service.ui("tg_error", language))
                resumed = await self.service.resume(event.who)
                async with self.service.store.transaction() as tx:
                    resumed = await buttons.stamp(tx, self.service, event.leader_id, resumed)
                # A press is answered too (silently): its spinner must stop.
                toast = "" if event.kind == "button" else None
                await channel.render(event, Reply(merge([sorry, *resumed]), toast=toast))
        except Exception as exc:  # reporting must never raise out of the pipeline
            log.error("could not tell the leader about the failed update %s: %s", event.name,
                      type(exc).__name__)
        finally:
            if admitted:
                await self._settle(event, claimed)

    async def _settle(self, event: InEvent, claimed: bool) -> None:
        """Mark a failed event done (claiming it first if the failure came before the claim)."""
        try:
            async with self.service.store.transaction() as tx:
                if not claimed:
                    await self._claim(tx, event)
                await events.finish(tx, event.channel, event.event_id)
        except Exception as exc:
            log.error("could not record the failed update %s: %s", event.name,
                      type(exc).__name__)

    # ---- events a flood's backlog shed (bot/backlog.py) --------------------------------------

    async def shed(self, dropped: list[InEvent], notify: bool,
                   say: Callable[[InEvent, list[OutMessage]], Awaitable[None]]) -> None:
        """Events of one conversation dropped unapplied: recorded as done for an admitted
        leader (a redelivery stays a no-op; nothing is stored for anyone else), and with notify
        the leader hears flood_notice once (`say` sends it to the event's conversation)."""
        first = dropped[0]
        async with self.service.store.transaction() as tx:
            exists, via = await admissions.admitted_via(tx, first.leader_id)
            leader = await repo.get_leader(tx, first.leader_id) if exists else None
            if leader is None or via == admissions.REVOKED:
                return
            now = iso(self.clock.now())
            for event in dropped:
                # An event seen before keeps its status (one a crash interrupted resumes).
                if await events.claim(tx, event.channel, event.event_id, now) is None:
                    await events.finish(tx, event.channel, event.event_id)
        self._claims += len(dropped)
        log.info("shed %d updates of a flooding conversation (first %s)", len(dropped),
                 first.name)
        if notify:
            await say(first, [OutMessage(text=self.service.ui("flood_notice", leader.language))])

    # ---- event bookkeeping shared with a channel's own handlers -----------------------------

    async def claim(self, channel: str, event_id: str) -> str | None:
        """Claim an event a channel handles itself (e.g. a group's command), in a transaction
        of its own; its earlier status if it was seen before."""
        async with self.service.store.transaction() as tx:
            seen = await events.claim(tx, channel, event_id, iso(self.clock.now()))
        self._claims += 1
        return seen

    async def finish(self, channel: str, event_id: str) -> None:
        """Record that an event was handled and its replies sent."""
        async with self.service.store.transaction() as tx:
            await events.finish(tx, channel, event_id)
        if self._claims >= PRUNE_EVERY:
            self._claims = 0
            await self.prune()

    async def prune(self) -> int:
        """Forget event ids older than any platform could redeliver."""
        async with self.service.store.transaction() as tx:
            return await events.prune(tx, iso(self.clock.now() - EVENT_MEMORY))

