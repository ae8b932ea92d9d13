"""/history, /trend, /export and /forget on Telegram: the real PTB app against the stand-in."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from bot.clock import iso
from bot.dialogue import Dialogues
from tests.botapi_standin import BotApiStandIn
from tests.history_helpers import NOW
from tests.tgkit import InProcessBot, Phone, query


def seed(db: Path, leader_id: str) -> None:
    """Seven finished weekly reflections with ratings, written while the bot runs (WAL)."""
    conn = sqlite3.connect(db, timeout=10)
    with conn:
        for week, rating in enumerate([2, 3, 2, 3, 4, 5, 4]):
            at = iso(NOW - timedelta(weeks=7 - week))
            thread = f"t{week:031d}"
            conn.execute("INSERT INTO threads (thread, leader_id, conversation, status, "
                         "language, headline, summary, started_at, finished_at) VALUES "
                         "(?, ?, 'reflection', 'finished', 'da', ?, ?, ?, ?)",
                         (thread, leader_id, f"Uge {week}: mere plads", f"Resumé for uge {week}",
                          at, at))
            conn.execute("INSERT INTO answers (leader_id, thread, conversation, node, name, "
                         "value, created_at) VALUES (?, ?, 'reflection', 'rate', 'rating', ?, ?)",
                         (leader_id, thread, json.dumps(rating), at))
    conn.close()


async def test_history_trend_export_and_forget_on_telegram(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    ui = real_dialogues.strings
    async with BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open"):
        user = api.user(5151, "Hanne", "da")
        phone = Phone(api, db, user)
        await phone.say("/start")
        await phone.press()  # language
        await phone.press()  # time zone
        seed(db, phone.leader_id)

        await phone.say("/history")
        listing = phone.last()
        assert "7 i alt" in listing["text"] and "Uge 6: mere plads" in listing["text"]
        await phone.press(listing, label="1. Uge 6: mere plads")
        assert phone.last()["text"].endswith("Resumé for uge 6")

        await phone.say("/trend")
        photo = api.calls_of("sendPhoto")[-1]
        assert photo.params["chat_id"] == user.id
        name, size = photo.files["photo"]
        assert name.endswith(".png") and size > 5_000
        assert "slags spørgsmål" in photo.params["caption"]  # per kind, no average (issue 15)

        await phone.say("/export")
        documents = [c for c in api.calls_of("sendDocument") if c.params["chat_id"] == user.id]
        assert sorted(c.files["document"][0].rsplit(".", 1)[1] for c in documents) == [
            "json", "md"]

        await phone.say("/forget")
        await phone.press(label=ui("forget_yes", "da"))
        assert phone.last()["text"] == ui("forget_done", "da")
    assert query(db, "SELECT count(*) FROM leaders WHERE leader_id = 'tg:5151'") == [(0,)]
    assert query(db, "SELECT count(*) FROM answers") == [(0,)]
