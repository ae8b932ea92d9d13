"""Telegram through python-telegram-bot v22: a thin adapter around the inbound pipeline.

A private chat's update becomes an `InEvent` (`TelegramChannel.event`) for bot/inbound.py,
which admits, de-duplicates, steps and commits; `_PrivateChat.render` draws the `Reply` with
the Bot API (toast, pressed message, new messages). Around it, PTB does the plumbing:
- PerChatUpdateProcessor: one chat's updates strictly in order, different chats concurrently,
  a private chat's backlog bounded (bot/backlog.py: a flooding leader delays only themself);
- PacedRateLimiter (bot/channels/telegram_limits.py): PTB's AIORateLimiter (group limits,
  429 retry_after honoured) plus a per-private-chat burst bucket (three at once, ~1/s
  sustained), a hard global ceiling per one-second window and retries of transient 5xx errors.
Group updates and chat migrations are claimed in the same inbound_events table.

Leader conversations happen only in private chats. Group commands are a registry
(`register_group_command`, `register_group_buttons`) for features such as team check-ins.
A command appears in Telegram's menu when the service knows it and a wording key
`command_<name>` exists in some dialogues/_ui*.yaml.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import secrets
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlparse

from cachetools import LRUCache
from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, TelegramError
from telegram.ext import (
    Application,
    BaseUpdateProcessor,
    ContextTypes,
    ExtBot,
    TypeHandler,
)

from bot import identity, metrics
from bot.backlog import DEFAULT_LIMIT as DEFAULT_BACKLOG
from bot.backlog import Backlog, ChatQueues, Settle
from bot.channels import telegram_metrics as tg_metrics
from bot.channels.compose import coalesce
from bot.channels.telegram_limits import (  # noqa: F401 - re-exported for older imports
    PACED_METHODS,
    PRE_PACED,
    ChatLocks,
    PacedRateLimiter,
    _private_chat_id,
)
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.dialogue.state import Button, OutMessage
from bot.inbound import Delivered, Inbound, InEvent, Reply, Unreachable
from bot.locale import LANGUAGE_CODES
from bot.runtime import Background
from bot.service import BotService, language_for

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # characters in one message (counted in UTF-16 code units, as Telegram does)
MAX_CAPTION = 1024
# Telegram language codes of the command menus -> the language of their wording (the kit's
# table, so a Nynorsk ('nn') client reads the Bokmål menu, as it reads Bokmål replies).
COMMAND_LANGUAGES = LANGUAGE_CODES
# The leader commands in the order Telegram's menu shows them.
LEADER_COMMANDS = ("start", "delegate", "repair", "reflect", "resistance", "history", "trend",
                   "settings", "language", "export", "forget",
                   "back", "cancel", "help")
BUILTIN_COMMANDS = frozenset({"start", "menu", "help", "history", "language", "back", "cancel"})
UPDATE_MEMORY = timedelta(days=2)  # Telegram keeps undelivered updates for 24 hours
PRUNE_EVERY = 1000
GROUP_START_PAYLOAD = "group"
SHOWN_MEMORY = 10_000  # pressed messages whose buttons this process changed, remembered

TelegramApp = Application[Any, Any, Any, Any, Any, Any]
Context = ContextTypes.DEFAULT_TYPE


# ---- text ----------------------------------------------------------------------------------

def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split text into messages of at most limit, at paragraphs, then lines, then words."""
    chunks = _split(text, limit, ("\n\n", "\n", " "))
    return [chunk for chunk in chunks if chunk.strip()]


def _split(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    """Greedy packing of pieces split at the first separator; finer ones for long pieces."""
    if tg_len(text) <= limit:
        return [text]
    if not separators:
        return _cut(text, limit)
    sep, finer = separators[0], separators[1:]
    chunks: list[str] = []
    current = ""
    for piece in text.split(sep):
        for part in _split(piece, limit, finer) if tg_len(piece) > limit else [piece]:
            candidate = f"{current}{sep}{part}" if current else part
            if current and tg_len(candidate) > limit:
                chunks.append(current)
                current = part
            else:
                current = candidate
    if current:
        chunks.append(current)
    return chunks


def _cut(text: str, limit: int) -> list[str]:
    """Hard cuts for a single word longer than a message."""
    chunks: list[str] = []
    current = ""
    for char in text:
        if tg_len(current + char) > limit:
            chunks.append(current)
            current = ""
        current += char
    return [*chunks, current] if current else chunks


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows])


def parse_command(text: str) -> tuple[str, str | None, str] | None:
    """'/name@bot args' -> (name, bot or None, args); None when text is not a command."""
    stripped = text.strip()
    if len(stripped) < 2 or not stripped.startswith("/") or stripped[1].isspace():
        return None
    head, _, args = stripped.partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        args = f"{more} {args}".strip()
    name, _, target = head[1:].partition("@")
    return name.lower(), (target or None), args.strip()


# ---- ordering and rate limits --------------------------------------------------------------

def chat_key(update: object) -> Hashable:
    """Which queue an update belongs to: its chat, else its user, else its own."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
        return ("update", update.update_id)
    return ("object", id(update))


@dataclass(eq=False)
class _Queued:
    """One update waiting in its chat's queue (bot/backlog.py `Queued`)."""

    event: InEvent | None  # a private chat's event, judged by the backlog; None: never shed
    coroutine: Awaitable[Any]

    async def run(self) -> None:
        """PTB's processing of the update."""
        await self.coroutine

    def drop(self) -> None:
        """Shed: the update is never processed, so its coroutine is closed unstarted."""
        # A shed press is not answered either: hundreds of answerCallbackQuery calls would
        # spend the global send budget the other leaders' replies need.
        if inspect.iscoroutine(self.coroutine):
            self.coroutine.close()


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of one chat strictly in arrival order; different chats concurrently; a private
    chat's backlog bounded (bot/backlog.py), so a flooding leader delays only themself."""

    # PTB's semaphore only admits updates into do_process_update, which never waits, so updates
    # arrive here in the order Telegram sent them. The real bound is on chats run at once.
    ADMISSION = 1 << 20

    def __init__(self, max_concurrent_chats: int = 64, limit: int = DEFAULT_BACKLOG,
                 clock: Clock | None = None,
                 event_of: Callable[[object], InEvent | None] | None = None,
                 settle: Settle | None = None) -> None:
        """Run at most max_concurrent_chats chats' updates at the same time; event_of says which
        updates the backlog may shed (none by default), settle records the shed ones."""
        super().__init__(max_concurrent_updates=self.ADMISSION)
        self.event_of = event_of or (lambda update: None)
        self.backlog: Backlog[_Queued] = Backlog(identity.TELEGRAM, limit, clock or SystemClock())
        self.queues = ChatQueues(self.backlog, settle or _nothing_to_settle,
                                 concurrency=max_concurrent_chats)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Queue the update behind earlier ones of the same chat (or shed it, see backlog)."""
        self.queues.submit(chat_key(update), _Queued(self.event_of(update), coroutine))

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Finish every queued update."""
        await self.drain()

    async def drain(self) -> None:
        """Wait until every queued update has been processed."""
        await self.queues.drain()

    @property
    def busy(self) -> bool:
        """Whether any chat still has updates queued or running."""
        return self.queues.busy


async def _nothing_to_settle(dropped: list[InEvent], notify: bool) -> None:
    """Without a pipeline nothing is shed (event_of gives no events)."""


# ---- group hooks ---------------------------------------------------------------------------

@dataclass
class GroupEvent:
    """What a group command or group button handler gets."""

    update: Update
    context: Context
    channel: TelegramChannel
    args: str


GroupHandler = Callable[[GroupEvent], Awaitable[None]]
# A group became a supergroup: (old chat id, new chat id).
MigrationHandler = Callable[[str, str], Awaitable[None]]


class PrivateFeature(Protocol):
    """A feature that takes some private updates before the gate, from people who need not be
    leaders (e.g. team members sending a governance example through a group's deep link)."""

    async def wants(self, update: Update) -> bool:
        """Whether this private update is the feature's (read-only)."""
        ...

    async def handle(self, update: Update) -> None:
        """Handle it (at most once: the update id is claimed first)."""
        ...


# ---- the channel ---------------------------------------------------------------------------

class TelegramChannel:
    """Runs BotService on Telegram; also the Outbox for messages the bot starts itself."""

    name = identity.TELEGRAM

    def __init__(self, service: BotService, settings: Settings, clock: Clock,
                 inbound: Inbound | None = None) -> None:
        """Bind the service (through the process's inbound pipeline) to a bot token."""
        if not settings.telegram_bot_token:
            raise ValueError("TELEGRAM_BOT_TOKEN is needed to run on Telegram")
        self.service = service
        self.settings = settings
        self.clock = clock
        self.inbound = inbound or Inbound(service, settings, clock)
        self.background: list[Background] = []  # team ticks (set by the app's wiring)
        self.gate = self.inbound.gate(identity.TELEGRAM)
        self.group_commands: dict[str, tuple[GroupHandler, str | None]] = {}
        self.group_buttons: dict[str, GroupHandler] = {}
        self.private_features: list[PrivateFeature] = []
        self.migration_handlers: list[MigrationHandler] = []
        self._send_locks = ChatLocks()
        # The buttons this process last drew on a pressed message, (chat, message) -> markup:
        # a double tap's second press still carries the buttons the first one removed.
        self.shown: LRUCache[tuple[int, int], InlineKeyboardMarkup | None] = LRUCache(
            maxsize=SHOWN_MEMORY)
        self.processor = PerChatUpdateProcessor(
            limit=settings.chat_backlog, clock=clock, event_of=self._sheddable,
            settle=self._settle_shed)
        self.app: TelegramApp = self._build()

    # ---- extension points for group features ----

    def register_group_command(self, name: str, handler: GroupHandler,
                               description_key: str | None = None) -> None:
        """Handle /name in groups (e.g. /checkin); description_key puts it in the group menu."""
        self.group_commands[name.lower()] = (handler, description_key)

    def register_group_buttons(self, prefix: str, handler: GroupHandler) -> None:
        """Route group buttons whose data starts with '<prefix>:' (args = the rest)."""
        self.group_buttons[prefix] = handler

    def register_private_feature(self, feature: PrivateFeature) -> None:
        """Let a feature take matching private updates before the leader gate."""
        self.private_features.append(feature)

    def register_chat_migration(self, handler: MigrationHandler) -> None:
        """Tell a feature when a group it may know moves to a new chat id (a supergroup)."""
        self.migration_handlers.append(handler)

    # ---- lifecycle ----

    def _build(self) -> TelegramApp:
        """The PTB Application with our processor, rate limiter and one update handler."""
        settings = self.settings
        assert settings.telegram_bot_token is not None
        # Opt in to PTB's future time periods (timedelta) now: no code here reads them as ints,
        # and PTB's own rate limiter otherwise warns on every 429.
        os.environ.setdefault("PTB_TIMEDELTA", "1")
        builder = (
            Application.builder()
            .token(settings.telegram_bot_token)
            .concurrent_updates(self.processor)
            .rate_limiter(PacedRateLimiter(chat_interval=settings.telegram_chat_interval,
                                           scheduled_rate=settings.schedule_rate))
            .request(tg_metrics.requests()["request"])  # metrics: every Bot API call
            .get_updates_request(tg_metrics.requests()["get_updates_request"])
            .job_queue(None)  # scheduling lives in bot/schedule with its own SQLite table
        )
        if settings.telegram_api_base_url:
            base = settings.telegram_api_base_url.rstrip("/")
            builder = builder.base_url(base)
            if base.endswith("/bot"):
                builder = builder.base_file_url(base[: -len("/bot")] + "/file/bot")
        app = builder.build()
        # metrics: each update counted by kind, its reply timed, a failure counted
        app.add_handler(TypeHandler(Update, metrics.timed_update(
            tg_metrics.CHANNEL, tg_metrics.update_kind, self._on_update)))
        app.add_error_handler(self._on_error)
        return app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TelegramChannel]:
        """Start fetching updates (webhook or polling) for the duration of the block."""
        app, settings = self.app, self.settings
        updater = app.updater
        assert updater is not None
        async with app:
            await self.set_commands()
            await self.inbound.prune()
            # Before receiving: replies a crash held back reach their leaders first.
            await self.inbound.redeliver(identity.TELEGRAM, self)
            if settings.webhook_url:
                await updater.start_webhook(
                    listen=settings.webhook_listen,
                    port=settings.webhook_port,
                    url_path=urlparse(settings.webhook_url).path.lstrip("/"),
                    webhook_url=settings.webhook_url,
                    secret_token=settings.webhook_secret or _random_secret(),
                    bootstrap_retries=3,
                )
                log.info("receiving updates by webhook on %s:%d", settings.webhook_listen,
                         settings.webhook_port)
            else:
                await updater.start_polling(bootstrap_retries=3, error_callback=polling_error)
                log.info("receiving updates by polling as @%s", app.bot.username)
            await app.start()
            try:
                yield self
            finally:
                if updater.running:
                    await updater.stop()
                if app.running:
                    await app.stop()
                # PTB shuts the bot down before the update processor: finish queued updates
                # (their replies need the bot) first.
                await self.processor.drain()

    async def set_commands(self) -> None:
        """Register the command menus per language (private chats) and for groups.

        The calls are independent (one scope and language each), so they go out together:
        start-up waits one round trip to the Bot API for them instead of one per menu."""
        bot = self.app.bot
        names = self.menu_commands()
        calls = [bot.set_my_commands(
            [BotCommand(n, self.service.ui(f"command_{n}", lang)) for n in names],
            scope=BotCommandScopeAllPrivateChats(), language_code=code)
            for code, lang in COMMAND_LANGUAGES.items()]
        default = [BotCommand(n, self.service.ui(f"command_{n}", "da")) for n in names]
        calls.append(bot.set_my_commands(default, scope=BotCommandScopeAllPrivateChats()))
        calls.append(bot.set_my_commands([], scope=BotCommandScopeDefault()))
        group = [(name, key) for name, (_, key) in self.group_commands.items() if key]
        if group:
            calls.extend(bot.set_my_commands(
                [BotCommand(n, self.service.ui(k, lang)) for n, k in group],
                scope=BotCommandScopeAllGroupChats(), language_code=code)
                for code, lang in COMMAND_LANGUAGES.items())
        # Every call finishes before a failure is raised (as one at a time would have raised it).
        failed = [r for r in await asyncio.gather(*calls, return_exceptions=True)
                  if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    def menu_commands(self) -> list[str]:
        """Commands the service handles and that have menu wording, in menu order."""
        service = self.service
        known = BUILTIN_COMMANDS | set(service.commands) | set(service.command_handlers)
        described = {n for n in known if f"command_{n}" in service.strings.table}
        ordered = [n for n in LEADER_COMMANDS if n in described]
        return ordered + sorted(described - set(ordered))

    async def wait(self, stop: asyncio.Event) -> int:
        """Run until stop is set (SIGINT/SIGTERM or a test); 0."""
        await stop.wait()
        return 0

    # ---- the Outbox ----

    async def deliver(self, chat_id: str, messages: list[OutMessage]) -> list[str]:
        """Send messages the bot starts itself (follow-ups, nudges); raises on failure; the
        sent messages' ids.

        The scheduler's pacer has paced each message already: the rate limiter counts them
        but does not make them wait a second time."""
        ids: list[str] = []

        async def sent(message: OutMessage, more: list[str]) -> None:
            ids.extend(more)

        await self.send(int(chat_id), messages, pre_paced=True, sent=sent)
        return ids

    # ---- updates ----

    async def _on_update(self, update: Update, context: Context) -> None:
        """Every update: groups to the group handlers, private chats to the inbound pipeline."""
        if update.channel_post or update.edited_channel_post:
            return  # the bot has nothing to say in channels
        moved = _migration(update)
        if moved is not None:
            # Before the sender checks: who a service message names as its sender varies.
            if await self._claim(update) is None:
                for handler in self.migration_handlers:
                    await handler(*moved)
                await self._finish(update)
            return
        query = update.callback_query
        if query is not None and query.message is None:
            # Only an inline message id: the bot sends no inline messages, so it is forged.
            lang = language_for(query.from_user.language_code, self.service.dialogues.languages)
            await self._answer(query, self.service.ui("tg_closed", lang))
            return
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None or (user.is_bot and not _anonymous_admin(update)):
            return
        if chat.type != ChatType.PRIVATE:
            if await self._claim(update) is None:
                await self._on_group(update, context)
                await self._finish(update)
            return
        for feature in self.private_features:
            if await feature.wants(update):
                if await self._claim(update) is None:
                    await feature.handle(update)
                    await self._finish(update)
                return
        await self.inbound.handle(self.event(update), _PrivateChat(self, update))

    def _sheddable(self, update: object) -> InEvent | None:
        """The leader event of a private chat's update, which a flood's backlog may shed; None
        for everything else (groups, channels, migrations, forged presses: never shed)."""
        if not isinstance(update, Update) or update.channel_post or update.edited_channel_post:
            return None
        chat, user = update.effective_chat, update.effective_user
        query = update.callback_query
        if (chat is None or user is None or user.is_bot or chat.type != ChatType.PRIVATE
                or _migration(update) is not None or (query is not None and query.message is None)):
            return None
        return self.event(update)

    async def _settle_shed(self, dropped: list[InEvent], notify: bool) -> None:
        """Record shed updates as done and maybe tell the leader (bot/inbound.py)."""
        await self.inbound.shed(dropped, notify, self._say)

    async def _say(self, event: InEvent, messages: list[OutMessage]) -> None:
        """Send messages to the private chat an event came from."""
        await self.send(int(event.reference), messages)

    def event(self, update: Update) -> InEvent:
        """A private chat's update as the pipeline's event."""
        user = update.effective_user
        assert user is not None
        base = InEvent(channel=identity.TELEGRAM, event_id=self._event_id(update),
                       user_id=str(user.id), reference=str(user.id), kind="other",
                       language=user.language_code, label=str(update.update_id))
        query = update.callback_query
        if query is not None:
            origin = query.message if isinstance(query.message, Message) else None
            # A button from someone else's chat (a forged callback) or without data: no data.
            trusted = query.data and (origin is None or origin.chat.id == user.id)
            return replace(base, kind="button", data=(query.data or "") if trusted else "")
        if update.edited_message is not None:
            return replace(base, kind="edit")
        message = update.message
        if message is None:
            return base
        if message.text is not None:
            command = parse_command(message.text)
            if command is not None:
                return replace(base, kind="command", command=command[0], text=command[2])
            return replace(base, kind="text", text=message.text, sent_at=message.date)
        attachment = message.effective_attachment
        if attachment is not None:
            kind = type(attachment).__name__.lower() if not isinstance(attachment, tuple) \
                else "photo"
            return replace(base, kind="attachment", attachment=kind)
        return base

    async def _on_group(self, update: Update, context: Context) -> None:
        """Groups: registered group features; leader commands get a link to a private chat."""
        query = update.callback_query
        if query is not None:
            prefix, _, rest = (query.data or "").partition(":")
            handler = self.group_buttons.get(prefix)
            if handler is not None:
                await handler(GroupEvent(update, context, self, rest))
            else:
                lang = language_for(query.from_user.language_code,
                                    self.service.dialogues.languages)
                await self._answer(query, self.service.ui("tg_closed", lang))
            return
        message = update.message
        if message is None or not message.text:
            return
        command = parse_command(message.text)
        if command is None:
            return
        name, target, args = command
        username = (self.app.bot.username or "").lower()
        if target is not None and target.lower() != username:
            return  # addressed to another bot in the group
        group_command = self.group_commands.get(name)
        if group_command is not None:
            await group_command[0](GroupEvent(update, context, self, args))
        elif name in self.menu_commands() or name in self.service.commands:
            await self._private_link(message)

    async def _private_link(self, message: Message) -> None:
        """Answer a leader command in a group with a deep link to a private chat."""
        user = message.from_user
        lang = language_for(user.language_code if user else None,
                            self.service.dialogues.languages)
        link = f"https://t.me/{self.app.bot.username}?start={GROUP_START_PAYLOAD}"
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(self.service.ui("tg_open_private", lang), url=link)]])
        await self.app.bot.send_message(message.chat.id, self.service.ui("tg_private_only", lang),
                                        reply_markup=markup)

    async def _on_error(self, update: object, context: Context) -> None:
        """A group or feature handler failed: log it; a private chat hears so and keeps its
        place (the pipeline's failure path); the update is recorded as done."""
        error = context.error or RuntimeError("unknown error")
        if not isinstance(update, Update):
            stack = "".join(traceback.format_tb(error.__traceback__))
            log.error("update %s failed with %s\n%s", None, type(error).__name__, stack)
            return
        chat, user = update.effective_chat, update.effective_user
        if chat is not None and user is not None and chat.type == ChatType.PRIVATE:
            await self.inbound.failed(self.event(update), _PrivateChat(self, update), error,
                                      claimed=True)
            return
        stack = "".join(traceback.format_tb(error.__traceback__))
        log.error("update %s failed with %s\n%s", update.update_id, type(error).__name__, stack)
        await self._finish(update)

    # ---- helpers ----

    def _event_id(self, update: Update) -> str:
        """The update's id in inbound_events: update ids count per bot."""
        return f"{self.app.bot.id}:{update.update_id}"

    async def _claim(self, update: Update) -> str | None:
        """Record a group or feature update as in progress; its earlier status if seen."""
        return await self.inbound.claim(identity.TELEGRAM, self._event_id(update))

    async def _finish(self, update: Update) -> None:
        """Record that the update was handled and its replies sent."""
        await self.inbound.finish(identity.TELEGRAM, self._event_id(update))

    async def _answer(self, query: CallbackQuery, text: str | None) -> None:
        """Answer a callback query (stops the button's spinner); old queries are ignored."""
        try:
            await query.answer(text=text)
        except BadRequest as exc:
            log.info("could not answer a callback query: %s", type(exc).__name__)

    def markup_now(self, origin: Message) -> InlineKeyboardMarkup | None:
        """The buttons a pressed message shows now: as this process last drew them, else as
        the press reported them."""
        return self.shown.get((origin.chat.id, origin.message_id), origin.reply_markup)

    def _drawn(self, origin: Message, markup: InlineKeyboardMarkup | None) -> None:
        """Remember the buttons a message shows after an edit."""
        self.shown[(origin.chat.id, origin.message_id)] = markup

    async def _mark_chosen(self, origin: Message, data: str) -> None:
        """Remove the pressed message's buttons and show which one was chosen (nothing when
        it shows no buttons any more: an edit would change nothing)."""
        if self.markup_now(origin) is None:
            return
        label = _label_of(origin, data)
        text = origin.text or ""
        if label and text and tg_len(f"{text}\n\n→ {label}") <= MAX_TEXT:
            try:
                await origin.edit_text(f"{text}\n\n→ {label}", reply_markup=None,
                                       link_preview_options=LinkPreviewOptions(is_disabled=True))
                self._drawn(origin, None)
                return
            except BadRequest as exc:
                log.info("could not edit a pressed message: %s", type(exc).__name__)
        await self._edit_markup(origin, None)

    async def _edit(self, origin: Message, message: OutMessage) -> bool:
        """Edit a prompt in place (multi-choice toggles); False if Telegram refused."""
        if tg_len(message.text) > MAX_TEXT or message.attachments:
            return False
        markup = keyboard(message.buttons)
        if origin.text == message.text and self.markup_now(origin) == markup:
            return True  # it shows this already: an edit would change nothing
        try:
            await origin.edit_text(message.text, reply_markup=markup,
                                   link_preview_options=LinkPreviewOptions(is_disabled=True))
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return True
            log.info("could not edit a prompt in place: %s", type(exc).__name__)
            return False
        self._drawn(origin, markup)
        return True

    async def _edit_markup(self, origin: Message, markup: InlineKeyboardMarkup | None) -> None:
        """Replace a message's buttons, ignoring messages Telegram no longer lets us edit (and
        sending nothing when it shows these buttons already)."""
        if self.markup_now(origin) == markup:
            return
        try:
            await origin.edit_reply_markup(reply_markup=markup)
        except BadRequest as exc:
            log.info("could not edit a message's buttons: %s", type(exc).__name__)
            return
        self._drawn(origin, markup)

    async def send(self, chat_id: int, messages: list[OutMessage],
                   pre_paced: bool = False, sent: Delivered | None = None) -> None:
        """Draw messages: plain text (no parse mode, so nothing the leader wrote is markup),
        split at 4096 characters, buttons as an inline keyboard, attachments as files; each
        one out is reported to sent with its Telegram message ids."""
        bot = self.app.bot
        async with self._send_locks.hold(chat_id):
            for message in coalesce(messages):
                ids = await self._send_one(bot, chat_id, message, pre_paced)
                if sent is not None:
                    await sent(message, ids)

    async def _send_one(self, bot: ExtBot[Any], chat_id: int, message: OutMessage,
                        pre_paced: bool = False) -> list[str]:
        """One OutMessage: text chunks, then attachments; buttons go on the last part; the
        ids of the Telegram messages it took."""
        markup = keyboard(message.buttons)
        chunks = split_text(message.text)
        parts = len(chunks) + len(message.attachments)
        sent = 0
        no_preview = LinkPreviewOptions(is_disabled=True)
        ids: list[str] = []
        for chunk in chunks:
            sent += 1
            # Only the first part was paced by the scheduler; further parts count as a burst.
            out = await bot.send_message(
                chat_id, chunk, reply_markup=markup if sent == parts else None,
                link_preview_options=no_preview,
                rate_limit_args=PRE_PACED if pre_paced and sent == 1 else None)
            ids.append(str(out.message_id))
        for attachment in message.attachments:
            sent += 1
            caption = attachment.caption or None
            long_caption = caption if caption and tg_len(caption) > MAX_CAPTION else None
            if long_caption:
                caption = None
            last = sent == parts and not long_caption
            document = InputFile(attachment.data, filename=attachment.filename)
            if attachment.kind == "photo":
                out = await bot.send_photo(chat_id, document, caption=caption,
                                           reply_markup=markup if last else None)
            else:
                out = await bot.send_document(chat_id, document, caption=caption,
                                              reply_markup=markup if last else None)
            ids.append(str(out.message_id))
            if long_caption:
                pieces = split_text(long_caption)
                for index, piece in enumerate(pieces):
                    final = sent == parts and index == len(pieces) - 1
                    out = await bot.send_message(chat_id, piece,
                                                 reply_markup=markup if final else None,
                                                 link_preview_options=no_preview)
                    ids.append(str(out.message_id))
        return ids


class _PrivateChat:
    """Draws the pipeline's reply to one private-chat update (see bot.inbound.Reply)."""

    can_edit = True

    def __init__(self, channel: TelegramChannel, update: Update) -> None:
        """The update being answered: its callback query and pressed message, if any."""
        self.channel = channel
        self.query = update.callback_query
        self.answered = False  # a callback query is answered once, also after a failure
        message = self.query.message if self.query is not None else None
        self.origin = message if isinstance(message, Message) else None

    async def render(self, event: InEvent, reply: Reply) -> None:
        """The toast, then the pressed prompt, then the messages; a blocked bot is Unreachable."""
        try:
            await self._render(event, reply)
        except Forbidden as exc:
            raise Unreachable(type(exc).__name__) from exc

    async def _render(self, event: InEvent, reply: Reply) -> None:
        """Apply the hints in the documented order."""
        channel, origin, out = self.channel, self.origin, list(reply.messages)
        if self.query is not None and reply.toast is not None and not self.answered:
            self.answered = True
            await channel._answer(self.query, reply.toast or None)
        if origin is not None and self.query is not None:
            if reply.pressed == "clear_buttons":
                # Only a button the message shows: forged data leaves a live prompt alone.
                if _label_of(origin, self.query.data or "") is not None:
                    await channel._edit_markup(origin, None)
            elif reply.pressed == "mark_chosen":
                await channel._mark_chosen(origin, self.query.data or "")
            elif reply.pressed == "replace":
                replacement = next((m for m in out if m.replace), None)
                if replacement is not None:
                    out = [m for m in out if m is not replacement]
                    if await channel._edit(origin, replacement):
                        await reply.delivered(replacement, [str(origin.message_id)])
                    else:
                        out.insert(0, replacement)
        if out:
            await channel.send(int(event.reference), out, sent=reply.delivered)


def polling_error(error: TelegramError) -> None:
    """PTB's updater failed to fetch updates and will try again: one line, no traceback. A
    server or network fault passes by itself (WARNING); another bot polling with the same
    token, or anything else, needs a person (ERROR)."""
    transient = isinstance(error, NetworkError) and not isinstance(error, BadRequest)
    if transient:
        log.warning("fetching updates failed with %s (%s); retrying", type(error).__name__,
                    error.message)
    elif isinstance(error, Conflict):
        log.error("fetching updates failed with Conflict: another process polls with this "
                  "bot token; retrying")
    else:
        log.error("fetching updates failed with %s; retrying", type(error).__name__)


def _anonymous_admin(update: Update) -> bool:
    """A group administrator writing anonymously: Telegram sends it as the group itself."""
    message = update.message
    return bool(message and message.sender_chat and message.chat
                and message.sender_chat.id == message.chat.id)


def _migration(update: Update) -> tuple[str, str] | None:
    """(old, new) chat id when an update is the service message of a group that became a
    supergroup: migrate_to_chat_id in the old group, migrate_from_chat_id in the new one."""
    message = update.message
    if message is None:
        return None
    if message.migrate_to_chat_id:
        return str(message.chat.id), str(message.migrate_to_chat_id)
    if message.migrate_from_chat_id:
        return str(message.migrate_from_chat_id), str(message.chat.id)
    return None


def _label_of(message: Message, data: str) -> str | None:
    """The label of the button with this callback data on a message."""
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def _random_secret() -> str:
    """A webhook secret for this run when none was configured."""
    return secrets.token_urlsafe(32)
