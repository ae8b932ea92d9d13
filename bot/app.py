"""Assembles the bot in one place: config -> store -> dialogues -> service -> channel."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.channels.base import Outbox
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.dialogue import Dialogues, load_dialogues
from bot.features import export, forget, history, onboarding, reflection, retention, trend
from bot.features import settings as schedule_settings
from bot.features.forget import ForgetHooks
from bot.health import start_heartbeat
from bot.schedule.dispatcher import ScheduleRunner, make_runner
from bot.service import BotService
from bot.store.db import Store
from bot.team import feature as team_feature

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel

log = logging.getLogger(__name__)


@dataclass
class Core:
    """The channel-independent parts of a running bot."""

    settings: Settings
    store: Store
    dialogues: Dialogues
    service: BotService
    clock: Clock
    forget_hooks: ForgetHooks = field(default_factory=ForgetHooks)
    housekeeping: AsyncIOScheduler | None = None

    def start_housekeeping(self) -> None:
        """Start daily background jobs (retention) on the running event loop."""
        if self.housekeeping is not None or not self.settings.retention_days:
            return
        self.housekeeping = AsyncIOScheduler(timezone="UTC")
        retention.schedule_retention(self.housekeeping, self.store, self.clock,
                                     self.settings.retention_days)
        self.housekeeping.start()

    async def close(self) -> None:
        """Stop background jobs and release the database."""
        if self.housekeeping is not None:
            self.housekeeping.shutdown(wait=False)
            self.housekeeping = None
        await self.store.close()


# Libraries whose debug records carry what the bot handles: aiosqlite every SQL statement with
# its parameters (a leader's answers, user ids), PTB request parameters and webhook bodies,
# httpcore and httpx the Bot API URL with the token in it. Capped whatever LOG_LEVEL says.
LIBRARY_LEVELS = {"httpx": logging.WARNING, "httpcore": logging.INFO, "telegram": logging.INFO,
                  "aiosqlite": logging.INFO, "tornado": logging.INFO,
                  "apscheduler": logging.INFO, "asyncio": logging.INFO}


def configure_logging(settings: Settings) -> None:
    """Plain logs to stderr; never the token or a leader's words (callers log ids only).

    LOG_LEVEL=DEBUG opens the bot's own loggers only; every library stays at INFO or above.
    """
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    level = logging.getLevelName(settings.log_level)
    logging.getLogger().setLevel(max(logging.INFO, level))
    logging.getLogger("bot").setLevel(level)
    for name, floor in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(max(floor, level))


async def build_core(settings: Settings, clock: Clock | None = None) -> Core:
    """Load dialogues (failing fast on any problem), open the store, make the service."""
    dialogues = load_dialogues(settings.dialogues_dir, settings.templates_dir)
    prompts = reflection.load_prompts(settings.dialogues_dir / reflection.PROMPTS_FILE,
                                      dialogues.languages)
    store = await Store.open(settings.database_path, settings.master_key)
    used_clock = clock or SystemClock()
    service = BotService(store, dialogues, used_clock)
    core = Core(settings, store, dialogues, service, used_clock)
    reflection.register(service, prompts)
    team_feature.register(service)
    history.register(service)
    trend.register(service)
    export.register(service)
    forget.register(service, core.forget_hooks)
    # Before onboarding: the scheduling feature owns the full /settings.
    schedule_settings.register(service, settings.nudge_conversation, settings.reminder_hours)
    onboarding.register(service)
    await retention.run_retention(store, used_clock, settings.retention_days)  # at start-up
    return core


# Background services (e.g. the scheduler) started once a channel can deliver messages:
# each gets the core and the channel's Outbox and returns the coroutine function that stops it.
Stop = Callable[[], Awaitable[None]]
Background = Callable[[Core, Outbox], Awaitable[Stop]]
BACKGROUND: list[Background] = []


def wire_telegram(channel: TelegramChannel) -> list[Background]:
    """Telegram-only features register their group commands and buttons here; they may return
    background services to start with the channel."""
    from bot.team.telegram import wire as wire_team

    return [wire_team(channel), schedule_background(TELEGRAM_PREFIX),
            heartbeat_background("telegram", TELEGRAM_PREFIX)]


TELEGRAM_PREFIX = "tg:"


async def start_schedule(core: Core, outbox: Outbox, leader_prefix: str | None) -> ScheduleRunner:
    """Start weekly nudges and follow-ups for one channel's leaders ('tg:', 'console:').

    Start-up reconciles rows a crash left 'sending', sends what fell due while the bot was down
    (within the grace) and then ticks with one APScheduler job; `await runner.stop()` before
    closing the core.
    """
    runner = make_runner(core.service, outbox, core.settings, leader_prefix)
    await runner.start()
    return runner


def schedule_background(leader_prefix: str) -> Background:
    """The scheduler as a background service of a channel (see start_background)."""

    async def start(core: Core, outbox: Outbox) -> Stop:
        """Start it on this channel's outbox; return its stop."""
        runner = await start_schedule(core, outbox, leader_prefix)
        return runner.stop

    return start


def heartbeat_background(channel: str, leader_prefix: str) -> Background:
    """The heartbeat `tillidsbot health` reads, as a background service of a channel."""

    async def start(core: Core, outbox: Outbox) -> Stop:
        """Beat for this channel; return the stop that records a clean shutdown."""
        return await start_heartbeat(core.settings.database_path, core.clock, channel,
                                     leader_prefix)

    return start


async def start_background(core: Core, outbox: Outbox,
                           extra: list[Background] | None = None) -> list[Stop]:
    """Start every background service; return their stop functions."""
    return [await start(core, outbox) for start in [*BACKGROUND, *(extra or [])]]


async def stop_background(stops: list[Stop]) -> None:
    """Stop background services in reverse order, logging (not raising) failures."""
    for stop in reversed(stops):
        try:
            await stop()
        except Exception:
            log.exception("a background service failed to stop cleanly")


async def run_console(settings: Settings, clock: Clock | None = None) -> int:
    """The terminal chat: the whole bot with a local SQLite file and no network."""
    from bot.channels.console import CONSOLE_PREFIX, ConsoleChannel

    core = await build_core(settings, clock)
    core.start_housekeeping()
    channel = ConsoleChannel(core.service)
    stops: list[Stop] = []

    async def ready() -> None:
        """Once the terminal shows the conversation: nudges and follow-ups can appear in it."""
        stops.extend(await start_background(core, channel, [
            schedule_background(CONSOLE_PREFIX), heartbeat_background("console", CONSOLE_PREFIX)]))

    try:
        return await channel.run(on_ready=ready)
    finally:
        await stop_background(stops)
        await core.close()


async def run_telegram(settings: Settings, stop: asyncio.Event | None = None,
                       clock: Clock | None = None) -> int:
    """The bot on Telegram until stop is set (or SIGINT/SIGTERM when none is given)."""
    from bot.channels.telegram import TelegramChannel

    core = await build_core(settings, clock)
    core.start_housekeeping()
    try:
        channel = TelegramChannel(core.service, settings, core.clock)
        # Before anything is sent: leaders the settings no longer let in get nothing more.
        shut = await channel.gate.reconcile(TELEGRAM_PREFIX)
        if shut:
            log.warning("%d leaders who came in by ALLOWED_USER_IDS or open mode are no longer "
                        "let in; `tillidsbot access grant --user ID` lets one back in", shut)
        features = wire_telegram(channel)
        stop_event = stop or _stop_on_signals()
        async with channel.running():
            stops = await start_background(core, channel, features)
            try:
                await stop_event.wait()
            finally:
                await stop_background(stops)
        return 0
    finally:
        await core.close()


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, for a clean shutdown."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
