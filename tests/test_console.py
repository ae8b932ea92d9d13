"""The terminal chat goes through the inbound pipeline: a new leader is onboarded once, a
repeated event id is a no-op, and the process's one scheduler runs its background jobs."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

from bot import health
from bot.app import serve
from bot.channels.console import CONSOLE_LEADER, ConsoleChannel
from bot.features import retention
from bot.schedule.dispatcher import DISPATCH_JOB_ID
from tests.history_helpers import make_core


async def test_the_terminal_onboards_a_new_leader_once(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    ui = core.service.ui
    out = io.StringIO()
    console = ConsoleChannel(core.service, stdin=io.StringIO("1\n1\n/quit\n"), stdout=out,
                             inbound=core.inbound)
    assert await console.run() == 0
    printed = out.getvalue()
    assert printed.index(ui("welcome", "da")) < printed.index(ui("choose_language", "da"))
    assert ui("ob_timezone_question", "da") in printed
    assert ui("menu", "da") in printed
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        assert conn.execute("SELECT leader_id, chat_id FROM leaders").fetchall() == [
            (CONSOLE_LEADER.leader_id, CONSOLE_LEADER.chat_id)]
        # Every typed line (and the start) was an event, recorded as done.
        assert conn.execute("SELECT channel, status, count(*) FROM inbound_events "
                            "GROUP BY 1, 2").fetchall() == [("console", "done", 3)]

    # Started again: no second onboarding, the menu where it left off.
    again = io.StringIO()
    await ConsoleChannel(core.service, stdin=io.StringIO(""), stdout=again,
                         inbound=core.inbound).run()
    assert ui("choose_language", "da") not in again.getvalue()
    assert ui("menu", "da") in again.getvalue()
    await core.close()


async def test_the_terminal_applies_a_repeated_event_once(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    ids = iter(["open", "delegate", "answer", "answer"])  # the last event arrives twice
    out = io.StringIO()
    console = ConsoleChannel(core.service, stdin=io.StringIO(""), stdout=out,
                             inbound=core.inbound, new_event_id=lambda: next(ids))
    async with console.running():
        pass
    await console.handle("/delegate")  # an existing leader's command: no onboarding
    first = await console.handle("Ugeplanen til KL (pædagog)")
    assert first and "Hvad er formålet" in "\n".join(m.text for m in first)
    assert await console.handle("Ugeplanen til KL (pædagog)") == []
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        assert conn.execute("SELECT count(*) FROM answers").fetchall() == [(1,)]
    await core.close()


async def test_one_process_one_scheduler_for_every_background_job(tmp_path: Path) -> None:
    core = await make_core(tmp_path, retention_days=30)
    seen: list[set[str]] = []

    class Watched(ConsoleChannel):
        """The person at the terminal looks at the running jobs, then types /quit."""

        async def _readline(self, loop: asyncio.AbstractEventLoop) -> str:
            seen.append({job.id for job in core.scheduler.get_jobs()})
            return "/quit\n"

    console = Watched(core.service, stdin=io.StringIO(), stdout=io.StringIO(),
                      inbound=core.inbound)
    assert await serve(core, [console], asyncio.Event()) == 0
    # Retention, the schedule dispatcher and the heartbeat: jobs of the core's one scheduler.
    assert seen == [{retention.JOB_ID, DISPATCH_JOB_ID, health.JOB_ID}]
    assert {job.id for job in core.scheduler.get_jobs()} == {retention.JOB_ID}  # stopped
    await core.close()
    assert not core.scheduler.running
