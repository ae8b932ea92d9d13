"""The team feature's one periodic job: everything due is read from SQLite on each tick."""

from __future__ import annotations

from typing import Protocol

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

TEAM_JOB_ID = "tillidsbot-team-tick"


class Ticks(Protocol):
    """What the job runs: a Team (every channel) or one channel's TeamService."""

    async def tick(self) -> None:
        """Do what is due."""
        ...


async def team_tick(team: Ticks) -> None:
    """Open, close and publish what is due (module level: the job pickles nothing)."""
    await team.tick()


def add_team_job(scheduler: BaseScheduler, team: Ticks, seconds: float = 30.0) -> None:
    """Register the tick with an explicit id; re-registering at start-up replaces it, late or
    missed ticks collapse into one, and ticks never overlap."""
    scheduler.add_job(
        team_tick, trigger=IntervalTrigger(seconds=seconds), args=[team], id=TEAM_JOB_ID,
        name="team check-ins: open, close and publish", replace_existing=True,
        misfire_grace_time=max(1, int(seconds * 10)), coalesce=True, max_instances=1)
