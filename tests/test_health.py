"""`tillidsbot health`: a heartbeat from the running bot and nothing left waiting past its time."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import cli
from bot.clock import ManualClock, iso
from bot.config import load_settings
from bot.health import Heartbeat, check, heartbeat_path, start_heartbeat
from bot.store import repo
from bot.store import team as team_repo
from tests.botapi_standin import BotApiStandIn
from tests.history_helpers import NOW, make_core
from tests.tgkit import InProcessBot, until


async def test_a_beating_bot_is_healthy_and_a_silent_or_stopped_one_is_not(
        tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    core = await make_core(tmp_path, clock)
    db = tmp_path / "bot.db"
    assert "no heartbeat" in check(db, clock.now()).problems[0]

    stop = await start_heartbeat(db, clock, "telegram", "tg:")
    clock.advance(timedelta(seconds=20))
    fine = check(db, clock.now())
    assert fine.healthy, fine.problems
    assert fine.facts["channel"] == "telegram" and fine.facts["seconds_since_beat"] == 20
    assert heartbeat_path(db).stat().st_mode & 0o777 == 0o600

    clock.advance(timedelta(minutes=10))  # the process hangs: no beat for ten minutes
    silent = check(db, clock.now())
    assert silent.problems == ["no heartbeat for 620 s (the bot is stuck or was killed)"]

    await stop()
    stopped = check(db, clock.now())
    assert stopped.problems == [f"the bot stopped at {iso(clock.now())}"]
    await core.close()


async def test_scheduled_messages_and_team_pulses_left_waiting_are_reported(
        tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    core = await make_core(tmp_path, clock)
    db = tmp_path / "bot.db"
    stop = await start_heartbeat(db, clock, "telegram", "tg:")
    async with core.store.transaction() as tx:
        for leader in ("tg:1", "console:local"):
            await repo.create_leader(tx, leader, leader.split(":")[1], "da", iso(NOW))
        # Due five minutes ago: the dispatcher may simply be working through a Monday crowd.
        await repo.add_schedule(tx, "tg:1", "nudge", iso(NOW - timedelta(minutes=5)), iso(NOW))
        # The terminal's leader is not this process's to send, however late.
        await repo.add_schedule(tx, "console:local", "nudge", iso(NOW - timedelta(days=2)),
                                iso(NOW))
    assert check(db, clock.now()).healthy

    async with core.store.transaction() as tx:
        await repo.add_schedule(tx, "tg:1", "followup", iso(NOW - timedelta(minutes=40)),
                                iso(NOW), conversation="delegation_followup")
    late = check(db, clock.now())
    assert late.problems == [f"1 scheduled messages waiting since "
                             f"{iso(NOW - timedelta(minutes=40))}"]
    assert late.facts["pending"] == 3 and late.facts["overdue"] == 1

    async with core.store.transaction() as tx:
        await tx.execute("UPDATE schedules SET status = 'sent'")
        group = await team_repo.ensure_group(tx, "telegram", "-100555", "da", iso(NOW))
        group.status, group.next_pulse_at = "active", iso(NOW - timedelta(hours=1))
        await team_repo.save_group(tx, group, iso(NOW))
    behind = check(db, clock.now())
    assert behind.problems == ["team check-ins behind: 1 pulses not posted, 0 results not "
                               "published"]
    await stop()
    await core.close()


async def test_a_database_from_another_version_is_reported(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    core = await make_core(tmp_path, clock)
    stop = await start_heartbeat(tmp_path / "bot.db", clock, "telegram", "tg:")
    await core.close()
    conn = sqlite3.connect(tmp_path / "bot.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    found = check(tmp_path / "bot.db", clock.now())
    assert found.problems and found.problems[0].startswith("database schema 99, this version")
    await stop()


def test_the_command_exits_0_when_healthy_and_1_when_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "bot.db"
    settings = load_settings(database_path=db, env={})
    assert cli.health_command(settings, as_json=False, quiet=False) == 1
    assert "problem: no database at" in capsys.readouterr().out

    async def prepare() -> None:
        core = await make_core(tmp_path, ManualClock(NOW))
        await core.close()

    asyncio.run(prepare())
    clock = ManualClock(NOW)
    Heartbeat("telegram", "tg:", 4242, iso(NOW), iso(NOW)).save(heartbeat_path(db))
    clock.advance(timedelta(seconds=45))
    assert cli.health_command(settings, as_json=False, quiet=True, clock=clock) == 0
    assert capsys.readouterr().out == ""  # quiet and healthy: nothing to say
    assert cli.health_command(settings, as_json=True, quiet=False, clock=clock) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["healthy"] is True and figures["pid"] == 4242 and figures["schema"] >= 7
    clock.advance(timedelta(hours=1))
    assert cli.health_command(settings, as_json=False, quiet=True, clock=clock) == 1
    assert capsys.readouterr().out.strip().endswith("unhealthy")


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A local Bot API stand-in."""
    async with BotApiStandIn() as stand_in:
        yield stand_in


async def test_the_bot_on_telegram_beats_while_it_runs_and_says_when_it_stopped(
        api: BotApiStandIn, tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with InProcessBot(api, db):
        await until(heartbeat_path(db).exists, what="the first heartbeat")
        beat = Heartbeat.load(heartbeat_path(db))
        assert beat is not None and beat.channel == "telegram" and beat.stopped_at is None
    after = Heartbeat.load(heartbeat_path(db))
    assert after is not None and after.stopped_at is not None
