"""RETENTION_DAYS: delete history older than that, at start-up and once a day."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock
from bot.store import privacy
from bot.store.db import Store

log = logging.getLogger(__name__)

JOB_ID = "retention"


async def run_retention(store: Store, clock: Clock,
                        days: int | None) -> privacy.RetentionResult | None:
    """Delete ended conversations, their answers and past schedules older than `days`."""
    if not days:
        return None  # unset: keep everything
    async with store.transaction() as tx:
        result = await privacy.apply_retention(tx, clock.now(), days)
        if result.total:
            store.scrub_after_commit()
    log.info("retention (%d days): deleted %d threads, %d answers, %d schedules", days,
             result.threads, result.answers, result.schedules)
    return result


def schedule_retention(scheduler: AsyncIOScheduler, store: Store, clock: Clock,
                       days: int | None) -> None:
    """Run retention once a day on a scheduler (no job when retention is unset)."""
    if not days:
        return
    scheduler.add_job(run_retention, IntervalTrigger(days=1), args=(store, clock, days),
                      id=JOB_ID, replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=6 * 3600)
