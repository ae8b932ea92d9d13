"""Assembles the bot in one place: config -> store -> dialogues -> service -> pipeline ->
channels, with one store and one scheduler however many channels run (see serve())."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from bot import identity
from bot.channels.base import Outbox, Routes
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.dialogue import load_dialogues
from bot.dialogue.state import OutMessage
from bot.features import export, forget, history, onboarding, reflection, retention, trend
from bot.features import settings as schedule_settings
from bot.health import start_heartbeat
from bot.runtime import Background, Core, Stop
from bot.schedule.dispatcher import make_runner
from bot.service import BotService
from bot.store.db import Store
from bot.team import feature as team_feature
from bot.team.jobs import TEAM_JOB_ID
from bot.team.secret import load_secret
from bot.team.service import Team

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel

__all__ = ["BACKGROUND", "Background", "Core", "Host", "Stop", "build_core", "run_console",
           "run_telegram", "serve"]

log = logging.getLogger(__name__)


# Libraries whose debug records carry what the bot handles: aiosqlite every SQL statement with
# its parameters (a leader's answers, user ids), PTB request parameters and webhook bodies,
# httpcore and httpx the Bot API URL with the token in it. Capped whatever LOG_LEVEL says.
LIBRARY_LEVELS = {"httpx": logging.WARNING, "httpcore": logging.INFO, "telegram": logging.INFO,
                  "aiosqlite": logging.INFO, "tornado": logging.INFO,
                  "apscheduler": logging.INFO, "asyncio": logging.INFO,
                  # The Agents SDK logs conversation ids and request details at INFO.
                  "microsoft_agents": logging.WARNING, "msal": logging.WARNING,
                  # Its connector logs each failed call with the conversation id in the URL;
                  # bot/channels/teams_send.py logs every failure itself, without ids.
                  "microsoft_agents.hosting.core.connector": logging.CRITICAL,
                  "aiohttp.access": logging.WARNING}


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
    trend.register(service, prompts)
    export.register(service)
    forget.register(service, core.forget_hooks)
    # Before onboarding: the scheduling feature owns the full /settings.
    schedule_settings.register(service, settings.nudge_conversation, settings.reminder_hours)
    onboarding.register(service)
    await retention.run_retention(store, used_clock, settings.retention_days)  # at start-up
    return core


# Background services every process starts once its channels can deliver (tests add theirs).
BACKGROUND: list[Background] = []


class Host(Protocol):
    """A channel as the process runs it: its Outbox, its life cycle, its own services."""

    name: str  # identity.TELEGRAM, identity.CONSOLE …
    background: list[Background]  # the channel's own services (e.g. team ticks on Telegram)

    async def deliver(self, reference: str, messages: list[OutMessage]) -> list[str] | None:
        """Its Outbox (see bot/channels/base.py)."""
        ...

    def running(self) -> AbstractAsyncContextManager[object]:
        """Receive events for the duration of the block (and finish what was received)."""
        ...

    async def wait(self, stop: asyncio.Event) -> int:
        """Until the channel ends (the terminal chat's /quit) or stop is set; the exit code."""
        ...


def build_team(core: Core) -> Team:
    """Team check-ins for this process, ticked by the core's one scheduler; each channel with
    groups attaches its gateway."""
    return Team(core.store, core.dialogues, core.clock, load_secret(core.settings),
                core.scheduler, core.settings.team_tick_seconds)


def team_background(team: Team) -> Background:
    """Catch up on team check-ins that fell due while the bot was down, then tick them with one
    job on the core's scheduler."""

    async def start(core: Core, outbox: Outbox) -> Stop:
        """The first tick and the job; return the stop that removes the job."""
        await team.start()
        core.start_scheduler()

        async def stop() -> None:
            """Stop ticking; anything half-done is finished from SQLite at the next start."""
            if core.scheduler.running and core.scheduler.get_job(TEAM_JOB_ID) is not None:
                core.scheduler.remove_job(TEAM_JOB_ID)

        return stop

    return start


async def serve(core: Core, hosts: Sequence[Host], stop: asyncio.Event) -> int:
    """Run channels in one process with one store and one scheduler: each starts receiving,
    then the background services start (the dispatcher routes each leader's scheduled messages
    to their own channel), until a channel ends or stop is set."""
    routes = Routes({host.name: host for host in hosts})
    async with contextlib.AsyncExitStack() as stack:
        for host in hosts:
            await stack.enter_async_context(host.running())
        core.start_housekeeping()
        stops = await start_background(core, routes, [
            *(service for host in hosts for service in host.background),
            schedule_background(), heartbeat_background([host.name for host in hosts])])
        try:
            return await _until_one_ends(hosts, stop)
        finally:
            await stop_background(stops)


async def _until_one_ends(hosts: Sequence[Host], stop: asyncio.Event) -> int:
    """Wait on every channel; the first to end ends the others. One channel runs inline, so
    Ctrl-C reaches it as it would without the composition."""
    if len(hosts) == 1:
        return await hosts[0].wait(stop)
    tasks = [asyncio.create_task(host.wait(stop), name=f"channel {host.name}")
             for host in hosts]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        codes = await asyncio.gather(*tasks, return_exceptions=True)
        return next((c for c in codes if isinstance(c, int) and c), 0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def schedule_background() -> Background:
    """Weekly nudges and follow-ups for every running channel's leaders, on the core's one
    scheduler: start-up reconciles rows a crash left 'sending', sends what fell due while the
    bot was down (within the grace), then ticks with one job."""

    async def start(core: Core, outbox: Outbox) -> Stop:
        """Start the dispatcher on the routes; return its stop."""
        runner = make_runner(core.service, outbox, core.settings, scheduler=core.scheduler)
        await runner.start()
        return runner.stop

    return start


def heartbeat_background(channels: Sequence[str]) -> Background:
    """The heartbeat `tillidsbot health` reads, on the core's scheduler."""
    # One channel: only its leaders' schedules are this process's to send; several: all.
    prefix = identity.prefix(channels[0]) if len(channels) == 1 else ""

    async def start(core: Core, outbox: Outbox) -> Stop:
        """Beat for these channels; return the stop that records a clean shutdown."""
        return await start_heartbeat(core.settings.database_path, core.clock,
                                     "+".join(channels), prefix, core.scheduler)

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
    from bot.channels.console import ConsoleChannel

    core = await build_core(settings, clock)
    try:
        channel = ConsoleChannel(core.service, inbound=core.inbound)
        return await serve(core, [channel], asyncio.Event())
    finally:
        await core.close()


async def run_telegram(settings: Settings, stop: asyncio.Event | None = None,
                       clock: Clock | None = None) -> int:
    """The bot on Telegram until stop is set (or SIGINT/SIGTERM when none is given)."""
    from bot.channels.telegram import TelegramChannel

    core = await build_core(settings, clock)
    try:
        channel = TelegramChannel(core.service, settings, core.clock, core.inbound)
        # Before anything is sent: leaders the settings no longer let in get nothing more.
        shut = await channel.gate.reconcile()
        if shut:
            log.warning("%d leaders who came in by ALLOWED_USER_IDS or open mode are no longer "
                        "let in; `tillidsbot access grant --user ID` lets one back in", shut)
        channel.background = wire_telegram(channel, core) or []  # a test may wire nothing
        return await serve(core, [channel], stop or _stop_on_signals())
    finally:
        await core.close()


def wire_telegram(channel: TelegramChannel, core: Core,
                  team: Team | None = None) -> list[Background]:
    """Telegram-only features register their group commands and buttons here (before the
    channel starts, so they are in its menus); they return background services to start
    (none for a team shared with another channel, which starts it)."""
    from bot.team.telegram import wire as wire_team

    if team is not None:
        wire_team(channel, team)
        return []
    team = build_team(core)
    wire_team(channel, team)
    return [team_background(team)]


async def run_teams(settings: Settings, stop: asyncio.Event | None = None,
                    clock: Clock | None = None) -> int:
    """The bot on Microsoft Teams, and on Telegram too in the same process when a token is set,
    until stop is set (or SIGINT/SIGTERM when none is given)."""
    from bot.channels.teams import TeamsChannel

    core = await build_core(settings, clock)
    try:
        from bot.team.teams import wire as wire_teams_groups

        hosts: list[Host] = []
        team = build_team(core)  # one Team for both channels' groups, ticked once
        if settings.telegram_bot_token:
            from bot.channels.telegram import TelegramChannel

            telegram = TelegramChannel(core.service, settings, core.clock, core.inbound)
            await _reconcile(core, identity.TELEGRAM)
            telegram.background = wire_telegram(telegram, core, team) or []
            hosts.append(telegram)
        teams = TeamsChannel(core, settings)
        wire_teams_groups(teams, team)
        teams.background = [team_background(team)]
        await _reconcile(core, identity.TEAMS)
        hosts.append(teams)
        return await serve(core, hosts, stop or _stop_on_signals())
    finally:
        await core.close()


async def _reconcile(core: Core, channel: str) -> None:
    """Before anything is sent: leaders the settings no longer let in get nothing more."""
    shut = await core.inbound.gate(channel).reconcile()
    if shut:
        log.warning("%d %s leaders who came in by their allow-list or open mode are no longer "
                    "let in; `tillidsbot access grant` lets one back in", shut, channel)




def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, for a clean shutdown."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
