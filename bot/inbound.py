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

Replies across a crash (a transactional outbox, bot/store/outbox.py): the reply's messages are
merged and written in the step's transaction, so what is stored is exactly what is sent; the
channel reports each message out with the platform's ids (`Reply.delivered`) and the rows are
marked delivered (the last one in the transaction that marks the event done). What a crash or
a failed send left pending is sent before the leader's next event (and at start-up by
`redeliver`, before the channel receives), in order, once. Text typed before the leader could
have seen the question it would answer (the question is still pending, or was delivered late
after the text was sent, `InEvent.sent_at`) is not taken as its answer: the leader is shown
where the conversation is instead.

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
from datetime import datetime, timedelta
from typing import Literal, Protocol

import aiosqlite

from bot import buttons, identity, metrics
from bot.access import Admission, Cooldown, Gate
from bot.channels.base import Outbox
from bot.channels.compose import merge
from bot.clock import Clock, iso
from bot.config import Settings
from bot.dialogue.render import RenderError
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.service import Action, BotService, Command, Resume, Who, language_for
from bot.store import inbound as events
from bot.store import outbox, repo
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
    sent_at    when the person sent it, by the platform's clock (Telegram: the message's
               date), if known: text sent before a question was delivered late is not taken
               as that question's answer
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
    sent_at: datetime | None = None

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


# What a channel reports as each message of a reply goes out: the message and its platform ids.
Delivered = Callable[[OutMessage, list[str]], Awaitable[None]]


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
    A channel applies them in this order: the toast, the pressed prompt, the messages, and
    calls `delivered` as each message is out.
    """

    messages: list[OutMessage] = field(default_factory=list)
    toast: str | None = None
    pressed: Pressed = "keep"
    on_delivered: Delivered | None = None  # set by the pipeline

    async def delivered(self, message: OutMessage, ids: list[str]) -> None:
        """Tell the pipeline that one of `messages` (the same object) is out, with the
        platform's ids of what was sent for it (the edited prompt's id for a replacement)."""
        if self.on_delivered is not None:
            await self.on_delivered(message, ids)



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


@dataclass
class _Delivery:
    """The outbox rows behind a reply's messages and what the channel has reported out."""

    keys: list[outbox.Key | None] = field(default_factory=list)  # per message; None: unstored
    late: set[int] = field(default_factory=set)  # messages a crash or failure held back
    attempts: dict[int, int] = field(default_factory=dict)  # their failed sends so far
    sent: dict[int, list[str]] = field(default_factory=dict)  # reported out: platform ids
    marked: set[int] = field(default_factory=set)  # recorded as delivered already

    def add(self, key: outbox.Key | None, late: bool = False, attempts: int = 0) -> None:
        """One more message of the reply."""
        if late:
            self.late.add(len(self.keys))
            self.attempts[len(self.keys)] = attempts
        self.keys.append(key)

    def unmarked(self) -> list[int]:
        """Stored messages not yet recorded as delivered."""
        return [i for i, k in enumerate(self.keys) if k is not None and i not in self.marked]

    def marks(self, indexes: list[int]) -> tuple[list[tuple[outbox.Key, list[str]]],
                                                 list[tuple[outbox.Key, list[str]]]]:
        """(sent at once, sent late) rows with their ids, for mark_delivered; now marked."""
        fresh: list[tuple[outbox.Key, list[str]]] = []
        late: list[tuple[outbox.Key, list[str]]] = []
        for i in indexes:
            key = self.keys[i]
            if key is None or i in self.marked:
                continue
            self.marked.add(i)
            (late if i in self.late else fresh).append((key, self.sent.get(i, [])))
        return fresh, late


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
        # Events sent before this moment were queued while the bot was down (see _held).
        self.started = clock.now()
        # Per channel, the leaders with held-back or late-delivered replies, read at the
        # channel's first event and kept up to date here: every other step skips the look-up.
        # (Rows another process leaves behind are seen when this one starts again.)
        self._open: dict[str, set[str]] = {}

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
        backlog: list[outbox.Row] = []
        delivery = _Delivery()
        seen: str | None = None
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
                    # What a crash or a failed send held back goes first (bot/store/outbox.py).
                    backlog = await self._backlog(tx, event)
                    reply = await self._answer(tx, event, plan, channel, backlog, delivery,
                                               seen is not None)
        except RenderError as exc:
            if plan is None or plan.action is None:
                await self.failed(event, channel, exc)
                return None
            try:
                delivery = _Delivery()
                reply = await self._recover(event, plan.action, exc, channel, backlog,
                                            delivery, seen is not None)
            except Exception as again:
                await self.failed(event, channel, again)
                return None
        except Exception as exc:
            await self.failed(event, channel, exc)
            return None
        if not admission.allowed:
            await self._render_refusal(event, reply, channel)
            return reply
        reply.on_delivered = self._recorder(event, reply, delivery)
        try:
            await channel.render(event, reply)
        except Unreachable:
            # They blocked the bot: nothing can reach them, now or later.
            await self.finish(event.channel, event.event_id, delivery, gone=True)
            return reply
        except Exception as exc:
            await self._failed_sends(event.channel, delivery)
            await self.failed(event, channel, exc, claimed=True)
            return None
        await self.finish(event.channel, event.event_id, delivery)
        return reply

    # ---- the outbox ---------------------------------------------------------------------------

    async def _answer(self, tx: aiosqlite.Connection, event: InEvent, plan: _Plan,
                      channel: Channel, backlog: list[outbox.Row], delivery: _Delivery,
                      seen: bool) -> Reply:
        """The plan carried out, after what was held back; or, when the event must not be
        applied (see _held), what was held back or the current question instead. The new
        messages are merged and stored, in the step's transaction."""
        pending = [r for r in backlog if r.status == outbox.PENDING and r.message is not None]
        latest = None
        # Queued while the bot was down (a date older than any platform keeps an update says
        # nothing: it is not looked at).
        if isinstance(plan.action, TextInput) and event.sent_at is not None \
                and self.started - EVENT_MEMORY < event.sent_at < self.started:
            latest = await outbox.latest_question(tx, event.channel, event.leader_id)
        held, lead = self._held(event, plan, [*backlog, *([latest] if latest else [])],
                                pending)
        if held:
            reply = Reply()
            if not pending:
                reply = await self._stamped(tx, event.who, Reply(
                    await self.service.current_in(tx, event.who)))
        else:
            reply = await self._respond(tx, event, plan, channel)
        return await self._compose(tx, event, reply, pending, lead, delivery, seen)

    async def _compose(self, tx: aiosqlite.Connection, event: InEvent, reply: Reply,
                       pending: list[outbox.Row], lead: str | None, delivery: _Delivery,
                       seen: bool) -> Reply:
        """The reply's messages: what was held back (under the lead wording, if any), then
        the new ones merged and stored as pending in the step's transaction."""
        fresh = merge(reply.messages)
        held_back = [r.message for r in pending if r.message is not None]
        shown: list[OutMessage] = []
        if lead is not None:
            note = OutMessage(text=self.service.ui(lead, await self._language(tx, event.who)))
            if not held_back:
                fresh = merge([note, *fresh])
            else:
                first = merge([note, held_back[0]])
                if len(first) == 1:
                    held_back[0] = first[0]
                else:  # shown first, not stored: only a pointer to what follows
                    shown.append(note)
                    delivery.add(None)
        for row, message in zip(pending, held_back, strict=True):
            shown.append(message)
            delivery.add(row.key, late=True, attempts=row.attempts)
        first_seq = await outbox.next_seq(tx, event.channel, event.leader_id,
                                          event.event_id) if seen else 0
        keys: list[outbox.Key | None] = [*await outbox.write(
            tx, event.channel, event.leader_id, event.event_id, fresh, self.clock.now(),
            first_seq)]
        for message, key in zip(fresh, keys or [None] * len(fresh), strict=True):
            shown.append(message)
            delivery.add(key)
        reply.messages = shown
        return reply

    async def _backlog(self, tx: aiosqlite.Connection, event: InEvent) -> list[outbox.Row]:
        """The leader's held-back and late-delivered replies (looked up only for a leader
        known to have some)."""
        known = self._open.get(event.channel)
        if known is None:
            known = self._open[event.channel] = set(
                await outbox.open_leaders(tx, event.channel))
        if event.leader_id not in known:
            return []
        rows = await outbox.open_rows(tx, event.channel, event.leader_id)
        if not rows:
            known.discard(event.leader_id)
        return rows

    def _opened(self, channel: str, leader_id: str) -> None:
        """A leader now has held-back or late-delivered replies."""
        known = self._open.get(channel)
        if known is not None:  # not read yet: the first event reads it from the database
            known.add(leader_id)

    def _held(self, event: InEvent, plan: _Plan, backlog: list[outbox.Row],
              pending: list[outbox.Row]) -> tuple[bool, str | None]:
        """Whether to show what was held back (or the current question) instead of applying
        the event, and the wording key to say so with (None: say nothing)."""
        action = plan.action
        if isinstance(action, Resume):
            # Where the conversation stands is what was held back, if anything was.
            if not pending:
                return False, None
            return True, "resume" if any(r.question for r in pending) else None
        if not isinstance(action, TextInput):
            return False, None  # commands work; a button names the question it answers
        if any(r.question for r in pending):
            return True, "outbox_where_we_are"  # the question the text would answer is unseen
        sent = event.sent_at
        if sent is not None and any(
                r.question and r.status != outbox.PENDING and r.delivered_at is not None
                and r.delivered_at > sent for r in backlog):
            # Sent before (in an earlier second than) the question reached the leader late,
            # or, queued while the bot was down, before the question this process showed:
            # typed while they were still looking at the question before it.
            return True, "outbox_where_we_are"
        return False, None

    def _recorder(self, event: InEvent, reply: Reply, delivery: _Delivery) -> Delivered:
        """What the channel calls as each message is out: recorded at once while more are to
        come (a crash between two messages sends only the rest again); the last with the
        event's own finish."""

        async def delivered(message: OutMessage, ids: list[str]) -> None:
            index = next((i for i, m in enumerate(reply.messages) if m is message), None)
            if index is None or index >= len(delivery.keys):
                return
            delivery.sent[index] = ids
            if len([i for i in delivery.unmarked() if i not in delivery.sent]) == 0:
                return  # the last one: marked with the event's finish
            await self._mark(event.channel, delivery, [index])

        return delivered

    async def _mark(self, channel: str, delivery: _Delivery, indexes: list[int],
                    tx: aiosqlite.Connection | None = None) -> None:
        """Record messages of a reply as delivered (in tx, or a transaction of their own)."""
        fresh, late = delivery.marks(indexes)
        if not fresh and not late:
            return
        if tx is None:
            async with self.service.store.transaction() as own:
                await self._mark_in(own, channel, fresh, late)
        else:
            await self._mark_in(tx, channel, fresh, late)

    async def _mark_in(self, tx: aiosqlite.Connection, channel: str,
                       fresh: list[tuple[outbox.Key, list[str]]],
                       late: list[tuple[outbox.Key, list[str]]]) -> None:
        """mark_delivered for both kinds; late ones counted."""
        now = self.clock.now()
        await outbox.mark_delivered(tx, fresh, now)
        await outbox.mark_delivered(tx, late, now, late=True)
        if late:
            self._opened(channel, late[0][0].leader_id)
            metrics.redelivery(channel, "delivered", len(late))

    async def _failed_sends(self, channel: str, delivery: _Delivery) -> None:
        """After a failed render: what the channel reported out is delivered, the rest counts
        a failed send (and is given up after MAX_ATTEMPTS)."""
        try:
            async with self.service.store.transaction() as tx:
                await self._mark(channel, delivery, list(delivery.sent), tx)
                unsent = delivery.unmarked()
                await self._count_failures(tx, channel, [
                    (delivery.keys[i], delivery.attempts.get(i, 0))  # type: ignore[misc]
                    for i in unsent])
                delivery.marked.update(unsent)
        except Exception as exc:
            log.error("could not record a failed send: %s", type(exc).__name__)

    async def _count_failures(self, tx: aiosqlite.Connection, channel: str,
                              rows: list[tuple[outbox.Key, int]]) -> None:
        """One more failed send of these pending messages; give up on those that had theirs."""
        now = self.clock.now()
        for key, _ in rows:
            self._opened(channel, key.leader_id)
        await outbox.failed(tx, [key for key, _ in rows], now)
        spent = [key for key, attempts in rows if attempts + 1 >= outbox.MAX_ATTEMPTS]
        if spent:
            await outbox.give_up(tx, spent, now)
            log.warning("gave up sending %d reply messages after %d failed tries", len(spent),
                        outbox.MAX_ATTEMPTS)
            metrics.redelivery(channel, "given_up", len(spent))
        if len(rows) > len(spent):
            metrics.redelivery(channel, "failed", len(rows) - len(spent))

    async def redeliver(self, channel: str, out: Outbox) -> int:
        """At start-up, before the channel receives: send what a crash or failure held back
        from its leaders, in order, once; how many messages went out."""
        async with self.service.store.read() as conn:
            leaders = await outbox.pending_leaders(conn, channel)
        sent = 0
        for leader_id in leaders:
            sent += await self._redeliver_to(channel, leader_id, out)
        if sent:
            log.info("sent %d reply messages a restart had held back", sent)
        return sent

    async def _redeliver_to(self, channel: str, leader_id: str, out: Outbox) -> int:
        """One leader's held-back messages, oldest first; stops at the first failure (the
        rest waits for their next event or start-up, so the order holds)."""
        async with self.service.store.read() as conn:
            rows = [r for r in await outbox.open_rows(conn, channel, leader_id)
                    if r.status == outbox.PENDING]
            leader = await repo.get_leader(conn, leader_id)
        sent = 0
        for index, row in enumerate(rows):
            if leader is None or not leader.chat_id or row.message is None:
                async with self.service.store.transaction() as tx:
                    await outbox.give_up(tx, [row.key], self.clock.now())
                metrics.redelivery(channel, "given_up")
                continue
            try:
                ids = await out.deliver(leader.chat_id, [row.message])
            except Unreachable:
                async with self.service.store.transaction() as tx:
                    await outbox.give_up(tx, [r.key for r in rows[index:]], self.clock.now())
                metrics.redelivery(channel, "given_up", len(rows) - index)
                break
            except Exception as exc:
                log.warning("could not send a held-back reply: %s", type(exc).__name__)
                async with self.service.store.transaction() as tx:
                    await self._count_failures(tx, channel, [(row.key, row.attempts)])
                break
            async with self.service.store.transaction() as tx:
                await outbox.mark_delivered(tx, [(row.key, list(ids or []))],
                                            self.clock.now(), late=True)
            self._opened(channel, leader_id)
            metrics.redelivery(channel, "delivered")
            sent += 1
        return sent

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
                       channel: Channel, backlog: list[outbox.Row], delivery: _Delivery,
                       seen: bool) -> Reply:
        """After wording failed to render and the step was rolled back: claim again and tell
        the leader, keeping their conversation (after what was held back, if anything)."""
        async with self.service.store.transaction() as tx:
            await self._admit(tx, event)  # an invite used in the rolled-back one counts here
            await self._claim(tx, event)
            out = await self.service.recover_in(tx, event.who, action, exc)
            reply = await self._stamped(tx, event.who,
                                        await self._shape(tx, event, action, out, channel))
            pending = [r for r in backlog
                       if r.status == outbox.PENDING and r.message is not None]
            return await self._compose(tx, event, reply, pending, None, delivery, seen)

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
                # A press is answered too (silently): its spinner must stop.
                toast = "" if event.kind == "button" else None
                if await self._resend(event, channel, sorry, toast, language):
                    return
                resumed = await self.service.resume(event.who)
                async with self.service.store.transaction() as tx:
                    resumed = await buttons.stamp(tx, self.service, event.leader_id, resumed)
                await channel.render(event, Reply(merge([sorry, *resumed]), toast=toast))
        except Exception as exc:  # reporting must never raise out of the pipeline
            log.error("could not tell the leader about the failed update %s: %s", event.name,
                      type(exc).__name__)
        finally:
            if admitted:
                await self._settle(event, claimed)

    async def _resend(self, event: InEvent, channel: Channel, sorry: OutMessage,
                      toast: str | None, language: str) -> bool:
        """After a failure, what is held back for the leader (under the apology): it is where
        they are. False when nothing is (then they hear where the conversation stands)."""
        async with self.service.store.read() as conn:
            rows = [r for r in await outbox.open_rows(conn, event.channel, event.leader_id)
                    if r.status == outbox.PENDING and r.message is not None]
        if not rows:
            return False
        delivery = _Delivery()
        messages = [r.message for r in rows if r.message is not None]
        lead = [sorry]
        if any(r.question for r in rows):  # as after any failure: 'where we were', the question
            lead.append(OutMessage(text=self.service.ui("resume", language)))
        first = merge([*lead, messages[0]])
        if len(first) == 2:
            delivery.add(None)
        for row in rows:
            delivery.add(row.key, late=True, attempts=row.attempts)
        reply = Reply([*first, *messages[1:]], toast=toast)
        reply.on_delivered = self._recorder(event, reply, delivery)
        try:
            await channel.render(event, reply)
        except Exception:
            await self._failed_sends(event.channel, delivery)
            raise
        await self._mark(event.channel, delivery, delivery.unmarked())
        return True

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

    async def finish(self, channel: str, event_id: str, delivery: _Delivery | None = None,
                     gone: bool = False) -> None:
        """Record that an event was handled and its replies sent (gone: they could not be,
        the person cannot be reached), in one transaction."""
        async with self.service.store.transaction() as tx:
            if delivery is not None:
                if gone:
                    await self._mark(channel, delivery, list(delivery.sent), tx)
                    unsent = delivery.unmarked()
                    await outbox.give_up(tx, [k for i in unsent if (k := delivery.keys[i])],
                                         self.clock.now())
                    delivery.marked.update(unsent)
                else:
                    await self._mark(channel, delivery, delivery.unmarked(), tx)
            await events.finish(tx, channel, event_id)
        if self._claims >= PRUNE_EVERY:
            self._claims = 0
            await self.prune()

    async def prune(self) -> int:
        """Forget event ids older than any platform could redeliver, and the bookkeeping of
        replies as old."""
        before = iso(self.clock.now() - EVENT_MEMORY)
        async with self.service.store.transaction() as tx:
            await outbox.prune(tx, before)
            return await events.prune(tx, before)

