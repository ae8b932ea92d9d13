"""The channel-independent bot: commands and inputs in, messages out, state committed first."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import aiosqlite
from pydantic import ValidationError

from bot.channels.compose import with_header
from bot.clock import Clock, iso
from bot.dialogue import Dialogues
from bot.dialogue.engine import DialogueError, UnknownConversationError, UnknownNodeError
from bot.dialogue.render import RenderError, pick
from bot.dialogue.state import (
    AnswerEffect,
    Back,
    Button,
    ButtonInput,
    Cancel,
    CancelFollowupsEffect,
    CancelledEffect,
    DialogueState,
    FinishedEffect,
    FollowupParams,
    Input,
    OutMessage,
    ScheduleFollowupEffect,
    StartConversationEffect,
    StepResult,
    SummaryEffect,
)
from bot.locale import LANGUAGE_CODES, language_for, zone_of  # noqa: F401 - re-exported
from bot.store import repo
from bot.store.db import Store

log = logging.getLogger(__name__)

MENU_PREFIX = "m:"
DEFAULT_FOLLOWUP_TIME = time(9, 0)
# The least time between a conversation and the follow-up it asked for on the same day.
SAME_DAY_FOLLOWUP_DELAY = timedelta(hours=3)



@dataclass(frozen=True)
class Who:
    """Who is talking, as a channel saw it."""

    leader_id: str  # channel-qualified (bot/identity.py)
    chat_id: str  # the channel's opaque conversation reference, stored on the leader row
    language_code: str | None = None


@dataclass(frozen=True)
class Command:
    """A slash command with its arguments ('/delegate', '/pause 24.12.2026')."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class Resume:
    """Show where the conversation stands (a reconnect, or an event a crash interrupted)."""


# What a leader can do in one event: a command, an input to the engine, or resume.
Action = Command | Input | Resume


@dataclass
class Request:
    """What a feature's command or button handler gets: the open transaction and the leader."""

    tx: aiosqlite.Connection
    leader: repo.Leader
    state: DialogueState | None
    args: str
    service: BotService
    extra: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[list[OutMessage]]]
ContextProvider = Callable[[aiosqlite.Connection, repo.Leader], Awaitable[dict[str, Any]]]


class BotService:
    """Runs the engine for a leader and commits state and effects before any reply."""

    def __init__(
        self,
        store: Store,
        dialogues: Dialogues,
        clock: Clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        """Assemble from a store, the loaded dialogues and a clock."""
        self.store = store
        self.dialogues = dialogues
        self.engine = dialogues.engine
        self.strings = dialogues.strings
        self.clock = clock
        self.new_id = new_id
        self.commands: dict[str, str] = {
            d.command: d.id for d in dialogues.registry.definitions.values() if d.command
        }
        self.command_handlers: dict[str, tuple[Handler, bool]] = {}
        self.button_handlers: dict[str, Handler] = {}
        self.unguarded: set[str] = set()  # button prefixes that carry their own proof
        self.context_providers: dict[str, ContextProvider] = {}
        self.start_extras: list[Handler] = []

    # ---- extension points: features register here (see bot/app.py) --------------------------

    def register_command(self, name: str, handler: Handler, reprompt: bool = True) -> None:
        """Add a slash command; with reprompt, the open question is shown again after it."""
        self.command_handlers[name] = (handler, reprompt)

    def register_buttons(self, prefix: str, handler: Handler, guarded: bool = True) -> None:
        """Route buttons whose data starts with '<prefix>:' to a feature (args = the rest).

        Guarded buttons count once: the pipeline stamps them with the leader's button token
        (bot/buttons.py). Unguarded ones must prove themselves (e.g. by a schedule row)."""
        if len(prefix) >= 6 or prefix == MENU_PREFIX.rstrip(":"):
            raise ValueError("button prefixes are short and distinct from the engine's tokens")
        self.button_handlers[prefix] = handler
        if not guarded:
            self.unguarded.add(prefix)

    def register_context(self, conversation: str, provider: ContextProvider) -> None:
        """Supply starting context for a conversation (e.g. this week's reflection prompt)."""
        self.context_providers[conversation] = provider

    def register_start_extra(self, handler: Handler) -> None:
        """Add messages to /start after the welcome (e.g. choosing the weekly reflection time)."""
        self.start_extras.append(handler)

    # ---- helpers ------------------------------------------------------------------------

    def now(self) -> str:
        """Now as a stored UTC string."""
        return iso(self.clock.now())

    def today(self, leader: repo.Leader) -> date:
        """The leader's local date."""
        return self.clock.now().astimezone(_zone(leader.timezone)).date()

    async def _leader(self, tx: aiosqlite.Connection, who: Who) -> repo.Leader:
        """Load or create the leader talking."""
        leader = await repo.get_leader(tx, who.leader_id)
        if leader is None:
            lang = language_for(who.language_code, self.dialogues.languages)
            leader = await repo.create_leader(tx, who.leader_id, who.chat_id, lang, self.now())
        elif leader.chat_id != who.chat_id:
            leader.chat_id = who.chat_id
            await repo.update_leader(tx, leader, self.now())
        return leader

    def ui(self, key: str, lang: str, **variables: Any) -> str:
        """Interface wording."""
        return self.strings(key, lang, **variables)

    def menu(self, lang: str) -> OutMessage:
        """The menu of conversations a leader can start."""
        rows = [
            [Button(label=pick(d.title, lang), data=f"{MENU_PREFIX}start:{d.id}")]
            for d in self.dialogues.registry.menu()
        ]
        return OutMessage(text=self.ui("menu", lang), kind="prompt", buttons=rows)

    def with_menu(self, messages: list[OutMessage], lang: str) -> list[OutMessage]:
        """The messages, then the menu; the menu rides on the last one when that one has buttons
        of its own (the weekly-time offer of a first /start): one message where one will do,
        its text on top and the menu's buttons first."""
        menu = self.menu(lang)
        if messages and messages[-1].buttons:
            return [*messages[:-1], *with_header(messages[-1], [menu])]
        return [*messages, menu]

    # ---- entry points ---------------------------------------------------------------------

    async def handle_command(self, who: Who, command: str, args: str = "") -> list[OutMessage]:
        """A slash command such as /start, /delegate, /back or /help, in its own transaction."""
        return await self._own_transaction(who, Command(command, args))

    async def handle_input(self, who: Who, event: Input) -> list[OutMessage]:
        """Text, a button, back or cancel: step the engine, commit, then reply."""
        return await self._own_transaction(who, event)

    async def resume(self, who: Who) -> list[OutMessage]:
        """On reconnect (e.g. the terminal chat restarting): the current question, or the menu."""
        return await self._own_transaction(who, Resume())

    async def _own_transaction(self, who: Who, action: Action) -> list[OutMessage]:
        """One action in one transaction; wording that fails to render rolls it back and the
        leader hears so in a second one (see recover_in)."""
        try:
            async with self.store.transaction() as tx:
                return await self.act_in(tx, who, action)
        except RenderError as exc:
            async with self.store.transaction() as tx:
                return await self.recover_in(tx, who, action, exc)

    # ---- one action inside the caller's transaction (the inbound pipeline's step) -----------

    async def act_in(self, tx: aiosqlite.Connection, who: Who, action: Action) -> list[OutMessage]:
        """Carry out a leader's command, input or resume inside the caller's transaction,
        returning what to send once it commits. A RenderError propagates: the caller rolls back
        and calls recover_in in a fresh transaction."""
        if isinstance(action, Resume):
            return await self._resume_in(tx, who)
        if isinstance(action, Command):
            command = action.name.lower().lstrip("/")
            if command not in ("back", "cancel"):
                notes = await self._drop_unfit_in(tx, who)
                return [*notes, *await self._command_in(tx, who, command, action.args)]
            action = Back() if command == "back" else Cancel()
        return await self._input_in(tx, who, action)

    async def recover_in(self, tx: aiosqlite.Connection, who: Who, action: Action,
                         exc: RenderError) -> list[OutMessage]:
        """After act_in failed to render and was rolled back: keep the state and say so (a
        conversation the dialogues can no longer show is ended first, as act_in would)."""
        if isinstance(action, Resume) or (isinstance(action, Command) and action.name.lower(
                ).lstrip("/") not in ("back", "cancel")):
            with contextlib.suppress(RenderError):  # the drop itself may be what failed
                await self._drop_unfit_in(tx, who)
        return await self._render_failed_in(tx, who, exc)

    async def language_in(self, tx: aiosqlite.Connection, who: Who) -> str:
        """The language of the leader talking (creating the leader on first contact)."""
        return (await self._leader(tx, who)).language

    async def _command_in(self, tx: aiosqlite.Connection, who: Who, command: str,
                          args: str) -> list[OutMessage]:
        """The commands themselves, inside the caller's transaction."""
        leader = await self._leader(tx, who)
        lang = leader.language
        state = await self._state(tx, leader)
        if command in self.commands:
            conversation = self.commands[command]
            if state is not None:
                return [OutMessage(text=self.ui("busy", lang), kind="error"),
                        *self._reprompt(state, leader)]
            return await self._start(tx, leader, conversation, {}, None)
        if command in ("start", "menu"):
            intro = [OutMessage(text=self.ui("welcome", lang))] if command == "start" else []
            if command == "start":
                for extra in self.start_extras:
                    intro.extend(await extra(Request(tx, leader, state, args, self)))
            if state is not None:
                return [*intro, OutMessage(text=self.ui("resume", lang)),
                        *self._reprompt(state, leader)]
            return self.with_menu(intro, lang)
        if command == "help":
            return [OutMessage(text=self.ui("help", lang)), *self._reprompt(state, leader)]
        if command == "language":
            return [self._language_menu(lang)]
        if command in self.command_handlers:
            handler, reprompt = self.command_handlers[command]
            out = await handler(Request(tx, leader, state, args, self))
            return [*out, *(self._reprompt(state, leader) if reprompt else [])]
        return [OutMessage(text=self.ui("unknown_command", lang, command=command),
                           kind="error"), *self._reprompt(state, leader)]

    async def _input_in(self, tx: aiosqlite.Connection, who: Who,
                        event: Input) -> list[OutMessage]:
        """One input inside the caller's transaction; a failure rolls all of it back."""
        leader = await self._leader(tx, who)
        lang = leader.language
        if isinstance(event, ButtonInput) and event.data.startswith(MENU_PREFIX):
            return await self._menu_button(tx, leader, event.data[len(MENU_PREFIX):])
        state = await self._state(tx, leader)
        prefix, _, rest = (event.data.partition(":") if isinstance(event, ButtonInput)
                           else ("", "", ""))
        if prefix in self.button_handlers:
            return await self.button_handlers[prefix](Request(tx, leader, state, rest, self))
        if state is None:
            if isinstance(event, ButtonInput):
                return [OutMessage(text=self.ui("stale_button", lang), kind="error",
                       key="stale_button")]
            if isinstance(event, Cancel | Back):
                return [OutMessage(text=self.ui("nothing_active", lang)), self.menu(lang)]
            return [OutMessage(text=self.ui("no_conversation", lang)), self.menu(lang)]
        try:
            result = self.engine.step(state, event, lang, self.today(leader))
        except (UnknownNodeError, UnknownConversationError) as exc:
            return await self._restart(tx, leader, state, exc)
        return await self._apply(tx, leader, state.conversation, result)

    async def _resume_in(self, tx: aiosqlite.Connection, who: Who) -> list[OutMessage]:
        """The current question after a reconnect (with 'resume' before it), or the menu."""
        notes = await self._drop_unfit_in(tx, who)
        current = await self.current_in(tx, who)
        if notes or not current or current[-1].node is None:
            return [*notes, *current]
        lang = await self.language_in(tx, who)
        return [OutMessage(text=self.ui("resume", lang)), *current]

    async def current(self, who: Who) -> list[OutMessage]:
        """The question the leader is at, or the menu (e.g. after pressing an old button)."""
        async with self.store.transaction() as tx:
            return await self.current_in(tx, who)

    async def current_in(self, tx: aiosqlite.Connection, who: Who) -> list[OutMessage]:
        """current() inside the caller's transaction."""
        leader = await self._leader(tx, who)
        state = await self._state(tx, leader)
        if state is None:
            return [self.menu(leader.language)]
        try:
            return self.engine.prompt(state, leader.language, self.today(leader))
        except DialogueError:
            return [self.menu(leader.language)]

    async def language_of(self, who: Who) -> str:
        """The language a leader has chosen (creating the leader on first contact)."""
        async with self.store.transaction() as tx:
            return await self.language_in(tx, who)

    async def known_language(self, leader_id: str) -> str | None:
        """A leader's language if they exist (read-only: creates nothing, takes no lock)."""
        async with self.store.read() as conn:
            leader = await repo.get_leader(conn, leader_id)
        return None if leader is None else leader.language

    async def start_conversation(
        self, who: Who, conversation: str, context: dict[str, Any] | None = None,
        parent_thread: str | None = None,
    ) -> list[OutMessage]:
        """Begin a conversation for a leader (used by follow-ups and nudges)."""
        async with self.store.transaction() as tx:
            leader = await self._leader(tx, who)
            return await self._start(tx, leader, conversation, context or {}, parent_thread)

    async def start_in(
        self, tx: aiosqlite.Connection, leader: repo.Leader, conversation: str,
        context: dict[str, Any] | None = None, parent_thread: str | None = None,
    ) -> list[OutMessage]:
        """Begin a conversation inside the caller's transaction (the scheduler records
        'sending' in the same commit as the new conversation state)."""
        return await self._start(tx, leader, conversation, context or {}, parent_thread)

    # ---- internals --------------------------------------------------------------------------

    async def _state(self, tx: aiosqlite.Connection, leader: repo.Leader) -> DialogueState | None:
        """The leader's active conversation state, if any."""
        raw = await repo.load_session(tx, leader.leader_id)
        if raw is None:
            return None
        try:
            return DialogueState.from_json(raw)
        except ValidationError:  # written by an incompatible version: nothing to resume
            log.warning("dropping an unreadable conversation state of %s", leader.leader_id)
            await repo.save_session(tx, leader.leader_id, None, self.now())
            return None

    def _reprompt(self, state: DialogueState | None, leader: repo.Leader) -> list[OutMessage]:
        """The current question again, or nothing outside a conversation."""
        if state is None:
            return []
        try:
            return self.engine.prompt(state, leader.language, self.today(leader))
        except (DialogueError, RenderError):
            return []

    async def _drop_unfit_in(self, tx: aiosqlite.Connection, who: Who) -> list[OutMessage]:
        """End a stored conversation the dialogues can no longer show; the apology, if so."""
        leader = await self._leader(tx, who)
        state = await self._state(tx, leader)
        if state is None:
            return []
        try:
            self.engine.prompt(state, leader.language, self.today(leader))
        except DialogueError as exc:
            return (await self._restart(tx, leader, state, exc))[:1]
        return []

    def _outdated(self, state: DialogueState) -> bool:
        """Whether the conversation was changed (new version, or gone) since this state began."""
        definition = self.dialogues.registry.definitions.get(state.conversation)
        return definition is None or definition.version != state.version

    async def _render_failed_in(self, tx: aiosqlite.Connection, who: Who,
                                exc: RenderError) -> list[OutMessage]:
        """After a rolled-back step whose wording failed to render: keep the state and say so;
        a conversation changed since it began starts over politely, as it could never finish."""
        leader = await self._leader(tx, who)
        state = await self._state(tx, leader)
        # The cause's class only: its message may quote the leader's own words.
        cause = type(exc.__cause__ or exc).__name__
        log.error("rendering failed in %s at node %s (%s); the leader's state is kept",
                  state.conversation if state else "-", state.node if state else "-", cause)
        if state is not None and self._outdated(state):
            return await self._restart(tx, leader, state, exc)
        return [OutMessage(text=self.ui("render_failed", leader.language), kind="error",
                           key="render_failed"), *self._reprompt(state, leader)]

    async def _restart(
        self, tx: aiosqlite.Connection, leader: repo.Leader, state: DialogueState,
        exc: DialogueError | RenderError,
    ) -> list[OutMessage]:
        """The stored state no longer fits the dialogues: apologise and start over politely."""
        log.warning("restarting a conversation whose state no longer fits: %s",
                    type(exc).__name__ if isinstance(exc, RenderError) else exc)
        await repo.save_session(tx, leader.leader_id, None, self.now())
        await repo.end_thread(tx, state.thread, "abandoned", self.now())
        return [OutMessage(text=self.ui("restarted", leader.language)), self.menu(leader.language)]

    async def _start(
        self, tx: aiosqlite.Connection, leader: repo.Leader, conversation: str,
        context: dict[str, Any], parent_thread: str | None,
    ) -> list[OutMessage]:
        """Begin a conversation inside the caller's transaction."""
        previous = await self._state(tx, leader)
        if previous is not None:
            await repo.end_thread(tx, previous.thread, "abandoned", self.now())
        provider = self.context_providers.get(conversation)
        if provider is not None:
            context = {**await provider(tx, leader), **context}
        thread = self.new_id()
        await repo.start_thread(tx, thread, leader.leader_id, conversation, leader.language,
                                self.now(), parent_thread)
        result = self.engine.start(conversation, thread, leader.language, self.today(leader),
                                   context)
        return await self._apply(tx, leader, conversation, result)

    async def _apply(
        self, tx: aiosqlite.Connection, leader: repo.Leader, conversation: str,
        result: StepResult,
    ) -> list[OutMessage]:
        """Commit the new state and every effect; return what to send afterwards."""
        messages = list(result.messages)
        if result.status == "rejected":
            return messages
        now = self.now()
        follow: list[StartConversationEffect] = []
        for effect in result.effects:
            if isinstance(effect, AnswerEffect):
                a = effect.params
                await repo.add_answer(tx, leader.leader_id, a["thread"], a["conversation"],
                                      a["node"], a["name"], a["value"], now)
            elif isinstance(effect, SummaryEffect):
                s = effect.params
                await repo.set_summary(tx, s["thread"], s["text"], s["headline"])
            elif isinstance(effect, ScheduleFollowupEffect):
                await self._schedule_followup(tx, leader, effect.params, now)
            elif isinstance(effect, CancelFollowupsEffect):
                c = effect.params
                await repo.cancel_schedules(tx, leader.leader_id, c["thread"], now, c.get("tag"))
            elif isinstance(effect, FinishedEffect):
                await repo.end_thread(tx, effect.params["thread"], "finished", now)
            elif isinstance(effect, CancelledEffect):
                await repo.end_thread(tx, effect.params["thread"], "cancelled", now)
                await repo.cancel_schedules(tx, leader.leader_id, effect.params["thread"], now)
            elif isinstance(effect, StartConversationEffect):
                follow.append(effect)
        await repo.save_session(tx, leader.leader_id,
                                result.state.to_json() if result.state else None, now)
        for effect in follow:
            messages.extend(await self._start(
                tx, leader, effect.params["conversation"], effect.params["context"],
                effect.params["parent_thread"]))
        if result.state is None and not follow:
            messages.append(self.menu(leader.language))
        return messages

    async def _schedule_followup(
        self, tx: aiosqlite.Connection, leader: repo.Leader, params: FollowupParams, now: str
    ) -> None:
        """Store a follow-up at the leader's preferred time on the chosen local date."""
        zone = _zone(leader.timezone)
        preferred = leader.settings.get("followup_time")
        at = time.fromisoformat(preferred) if preferred else DEFAULT_FOLLOWUP_TIME
        local = datetime.combine(date.fromisoformat(params["date"]), at, tzinfo=zone)
        # A check-in today after the follow-up time: ask later today, not straight after the
        # conversation that set it up (quiet hours may still move it to the morning).
        due = max(local, self.clock.now() + SAME_DAY_FOLLOWUP_DELAY)
        await repo.add_schedule(
            tx, leader.leader_id, "followup", iso(due), now,
            conversation=params["conversation"], thread=params["thread"], tag=params["tag"],
            payload={"context": params["context"],
                     "from_conversation": params["from_conversation"]},
        )

    async def _menu_button(
        self, tx: aiosqlite.Connection, leader: repo.Leader, action: str
    ) -> list[OutMessage]:
        """Buttons that belong to the menu rather than to a question."""
        lang = leader.language
        verb, _, arg = action.partition(":")
        if verb == "start" and arg in self.dialogues.registry.definitions:
            if await self._state(tx, leader) is not None:
                return [OutMessage(text=self.ui("busy", lang), kind="error"),
                        *self._reprompt(await self._state(tx, leader), leader)]
            return await self._start(tx, leader, arg, {}, None)
        if verb == "lang" and arg in self.dialogues.languages:
            leader.language = arg
            await repo.update_leader(tx, leader, self.now())
            state = await self._state(tx, leader)
            return [OutMessage(text=self.ui("language_set", arg)), *(
                self._reprompt(state, leader) if state else [self.menu(arg)])]
        return [OutMessage(text=self.ui("stale_button", lang), kind="error",
                           key="stale_button")]

    def _language_menu(self, lang: str) -> OutMessage:
        """Buttons to choose the language."""
        rows = [[Button(label=self.ui("language_name", code), data=f"{MENU_PREFIX}lang:{code}")]
                for code in self.dialogues.languages]
        return OutMessage(text=self.ui("choose_language", lang), kind="prompt", buttons=rows)


_zone = zone_of

