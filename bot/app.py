"""Assembles the bot in one place: config -> store -> dialogues -> service -> channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.dialogue import Dialogues, load_dialogues
from bot.features import reflection
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

    async def close(self) -> None:
        """Release the database."""
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
    reflection.register(service, prompts)
    team_feature.register(service)
    return Core(settings, store, dialogues, service, used_clock)


async def run_console(settings: Settings) -> int:
    """The terminal chat: the whole bot with a local SQLite file and no network."""
    from bot.channels.console import ConsoleChannel

    core = await build_core(settings)
    try:
        return await ConsoleChannel(core.service).run()
    finally:
        await core.close()
