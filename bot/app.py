"""Assembles the bot in one place: config -> store -> dialogues -> service -> channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.dialogue import Dialogues, load_dialogues
from bot.features import export, forget, history, reflection, retention, trend
from bot.features.forget import ForgetHooks
from bot.service import BotService
from bot.store.db import Store
from bot.team import feature as team_feature


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


def configure_logging(settings: Settings) -> None:
    """Plain logs to stderr; never the token or a leader's words (callers log ids only)."""
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def build_core(settings: Settings, clock: Clock | None = None) -> Core:
    """Load dialogues (failing fast on any problem), open the store, make the service."""
    dialogues = load_dialogues(settings.dialogues_dir, settings.templates_dir)
    prompts = reflection.load_prompts(settings.dialogues_dir / reflection.PROMPTS_FILE,
                                      dialogues.languages)
    store = await Store.open(settings.database_path)
    used_clock = clock or SystemClock()
    service = BotService(store, dialogues, used_clock)
    core = Core(settings, store, dialogues, service, used_clock)
    reflection.register(service, prompts)
    team_feature.register(service)
    history.register(service)
    trend.register(service)
    export.register(service)
    forget.register(service, core.forget_hooks)
    await retention.run_retention(store, used_clock, settings.retention_days)  # at start-up
    return core


async def run_console(settings: Settings) -> int:
    """The terminal chat: the whole bot with a local SQLite file and no network."""
    from bot.channels.console import ConsoleChannel

    core = await build_core(settings)
    core.start_housekeeping()
    try:
        return await ConsoleChannel(core.service).run()
    finally:
        await core.close()
