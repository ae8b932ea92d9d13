"""The running core every channel shares, and the contract of background services.

A leaf module (it imports no channel and no feature wiring), so channels and features can name
`Core`, `Background` and `Stop` without importing `bot.app`, which imports them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.backups import add_backup_job
from bot.channels.base import Outbox
from bot.clock import Clock
from bot.config import Settings
from bot.dialogue import Dialogues
from bot.features import retention
from bot.features.forget import ForgetHooks
from bot.inbound import Inbound
from bot.metrics import MetricsServer, start_metrics
from bot.service import BotService
from bot.store.db import Store


def new_scheduler() -> AsyncIOScheduler:
    """The process's one APScheduler (UTC; every job registers with an explicit id)."""
    return AsyncIOScheduler(timezone=UTC)


@dataclass
class Core:
    """The channel-independent parts of a running bot: one store, one service, one scheduler.

    `scheduler` carries every periodic job of the process (the schedule dispatcher, retention,
    the heartbeat, team ticks); features add their job to it with an explicit id and
    replace_existing=True. It starts with the first channel and stops in close().
    """

    settings: Settings
    store: Store
    dialogues: Dialogues
    service: BotService
    clock: Clock
    forget_hooks: ForgetHooks = field(default_factory=ForgetHooks)
    scheduler: AsyncIOScheduler = field(default_factory=new_scheduler)
    inbound: Inbound = field(init=False)  # the one pipeline every channel hands events to
    metrics_server: MetricsServer | None = None

    def __post_init__(self) -> None:
        """Make the inbound pipeline over the service."""
        self.inbound = Inbound(self.service, self.settings, self.clock)

    def start_scheduler(self) -> None:
        """Start the scheduler on the running event loop (once)."""
        if not self.scheduler.running:
            self.scheduler.start()

    def start_housekeeping(self) -> None:
        """Start the metrics endpoint (METRICS_PORT), add the retention (RETENTION_DAYS) and
        backup (BACKUP_DIR) jobs, and start the scheduler; each only when configured."""
        if self.metrics_server is None:
            self.metrics_server = start_metrics(self.settings.metrics_host,
                                                self.settings.metrics_port)
        retention.schedule_retention(self.scheduler, self.store, self.clock,
                                     self.settings.retention_days)
        add_backup_job(self.scheduler, self.settings, self.clock)
        self.start_scheduler()

    async def close(self) -> None:
        """Stop every periodic job and the metrics endpoint, and release the database."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.metrics_server is not None:
            self.metrics_server.close()
            self.metrics_server = None
        await self.store.close()


# A stop function of a background service: stops what it started (awaited at shutdown).
Stop = Callable[[], Awaitable[None]]
# A background service (the schedule dispatcher, the heartbeat, team ticks) started once the
# channels can deliver: it gets the core and an Outbox routing to every running channel.
Background = Callable[[Core, Outbox], Awaitable[Stop]]
