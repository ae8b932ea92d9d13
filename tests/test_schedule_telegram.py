"""On Telegram: the real `tillidsbot run` sends a due nudge at start-up and its snooze works."""

from __future__ import annotations

from pathlib import Path

from bot.dialogue import Dialogues
from tests.botapi_standin import BotApiStandIn
from tests.schedule_support import seed_due_nudge
from tests.tgkit import BotProcess, query

USER = 4242


async def test_a_due_nudge_reaches_telegram_and_can_be_snoozed(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    await seed_due_nudge(db, f"tg:{USER}", str(USER))
    ui = real_dialogues.strings
    header = ui("sched_nudge_header", "da")
    async with BotApiStandIn() as api:
        bot = await BotProcess(api, db, ACCESS_MODE="open").start()
        user = api.user(USER, "Lene", "da")
        nudge = await api.wait_for(
            lambda: next((m for m in api.bot_messages(USER)
                          if str(m.get("text")).startswith(header)), None),
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
