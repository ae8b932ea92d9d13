"""On Telegram: the real `tillidsbot run` sends a due nudge at start-up and its snooze works."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from bot.clock import SystemClock, iso
from bot.dialogue import Dialogues
from bot.schedule import plan
from bot.schedule.times import Prefs
from bot.store import repo, schedules
from bot.store.db import Store
from tests.botapi_standin import BotApiStandIn
from tests.tgkit import BotProcess, query

USER = 4242


async def seed(db: Path) -> None:
    """A Telegram leader whose weekly nudge fell due a minute ago (quiet hours off)."""
    store = await Store.open(db)
    now = SystemClock().now()
    async with store.transaction() as tx:
        leader = await repo.create_leader(tx, f"tg:{USER}", str(USER), "da", iso(now))
        leader.settings = {"quiet": "off", "schedule_seen": True}
        await repo.update_leader(tx, leader, iso(now))
        key = plan.plan_key(leader, Prefs.from_settings(leader.settings))
        await schedules.add(tx, leader.leader_id, "nudge", iso(now - timedelta(minutes=1)),
                            iso(now), conversation="reflection",
                            payload={"slot": date.today().isoformat(), "key": key})
    await store.close()


async def test_a_due_nudge_reaches_telegram_and_can_be_snoozed(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    await seed(db)
    ui = real_dialogues.strings
    header = ui("sched_nudge_header", "da")
    async with BotApiStandIn() as api:
        bot = await BotProcess(api, db, ACCESS_MODE="open").start()
        user = api.user(USER, "Lene", "da")
        nudge = await api.wait_for(
            lambda: next((m for m in api.bot_messages(USER) if m.get("text") == header), None),
            what="the weekly nudge")
        await api.wait_for(lambda: any("Ugens refleksion ·" in str(m.get("text"))
                                       for m in api.bot_messages(USER)), what="its question")
        assert nudge is not None
        api.press(user, nudge, label=ui("sched_snooze_tomorrow", "da"))
        reply = await api.wait_for(
            lambda: next((m for m in api.bot_messages(USER)
                          if "i morgen kl. 08:30" in str(m.get("text"))), None),
            what="the snooze reply")
        assert reply is not None
        assert reply["text"].startswith("Fint")
        await bot.kill()
    statuses = query(db, "SELECT kind, status FROM schedules ORDER BY id")
    assert statuses[0] == ("nudge", "sent")
    assert ("snooze", "pending") in statuses
    # Sent once (the channel may have marked the pressed choice on it since).
    assert sum(str(m.get("text")).startswith(header) for m in api.bot_messages(USER)) == 1
