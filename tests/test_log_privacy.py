"""Logs at LOG_LEVEL=DEBUG: never the token, the webhook secret, a leader's words, or a team
member's id or example, across a whole conversation, team check-ins and webhook delivery."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import configure_logging
from bot.clock import ManualClock
from bot.config import load_settings
from bot.dialogue import Dialogues
from tests.botapi_standin import BotApiStandIn
from tests.test_team_e2e import Team, data_of
from tests.test_telegram import free_port
from tests.tgkit import InProcessBot, Phone, until, walk

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SECRET = "webhook-Secret_for-the-log-test-4711"
LEADER = 8800001
# The stand-in (aiohttp) and the test itself are not the bot: their records are not checked.
NOT_THE_BOT = ("aiohttp", "tests")
WORDS = ("Hemmelig formulering om medarbejderen Xenia",
         "{{ 7*7 }} Xenia-skabelon {% for x in y %}",
         "Ugentlig sparring om Xenias budget",
         "Budgetrammen og Xenias faglige standarder",
         "Status hver fjortende dag med Xenia")


@pytest.fixture
def restored_levels() -> Iterator[None]:
    """configure_logging changes library loggers' levels: put them back afterwards."""
    names = ("", "bot", "httpx", "httpcore", "telegram", "aiosqlite", "apscheduler", "tornado",
             "asyncio")
    before = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def bot_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every record the bot and its libraries wrote, with arguments and tracebacks."""
    lines = []
    for record in caplog.records:
        if record.name.startswith(NOT_THE_BOT):
            continue
        lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")
    return "\n".join(lines)


def configure_as_run_does(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
                          level: str) -> None:
    """configure_logging on a root logger without handlers (as `tillidsbot run` finds it),
    then capture whatever it lets through."""
    monkeypatch.setattr(logging.root, "handlers", [])
    configure_logging(load_settings(env={"LOG_LEVEL": level}))
    caplog.handler.setLevel(logging.DEBUG)
    logging.root.addHandler(caplog.handler)


async def test_debug_logs_keep_secrets_words_and_members_out(
        tmp_path: Path, real_dialogues: Dialogues, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, restored_levels: None) -> None:
    configure_as_run_does(caplog, monkeypatch, "DEBUG")
    assert logging.getLogger("bot.service").isEnabledFor(logging.DEBUG)
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        anna, bjorn, cecilie = team.members[:3]
        async with InProcessBot(api, db, clock=clock, WEBHOOK_URL=url, WEBHOOK_PORT=str(port),
                                WEBHOOK_SECRET=SECRET, ALLOWED_USER_IDS=str(LEADER),
                                TILLIDSBOT_TEAM_TICK_SECONDS="0.05", LOG_LEVEL="DEBUG"):
            # A leader: onboarding and a whole delegation check in their own words.
            phone = Phone(api, db, api.user(LEADER, "Lise"))
            await phone.say("/start")
            await phone.press()
            await phone.press()
            await phone.say("/delegate")
            typed = await walk(phone, real_dialogues)
            assert typed
            for words in WORDS:
                await phone.say("/reflect")
                await phone.say(words)
            # A stranger is refused; a forged post is rejected.
            stranger = api.user(8800002, "Fremmed")
            api.send_text(stranger, "Fremmedes hemmelige tekst")
            await api.wait_for(lambda: api.sent_texts(stranger.id), what="a refusal")
            forged = {"update_id": 999, "message": {
                "message_id": 1, "date": 0, "chat": api.chats[LEADER],
                "from": phone.user.to_dict(), "text": "Forfalsket tekst"}}
            assert await api.post_webhook(forged, "wrong") == 403
            # The team: a pulse answered by three, and a governance round with an example.
            await team.say(team.admin, "/checkin now")
            pulse = team.pulse()
            assert pulse is not None
            for member, trust in ((anna, "4"), (bjorn, "3"), (cecilie, "5")):
                await team.press(member, pulse, data_of(api, pulse, trust))
            await team.say(team.admin, "/checkin close")
            await team.say(team.admin, "/checkin governance 2")
            token = team.group_messages()[-1]["text"].split("start=")[1].split()[0]
            for member in (anna, bjorn, cecilie):
                await team.say(member, f"/start {token}", private=True)
                intro = api.last_bot_message(member.id)
                assert intro is not None
                await team.press(member, intro, api.buttons(intro)[0]["callback_data"])
                await team.say(member, f"Dobbeltregistrering hos Xenia nr. {member.id % 10}",
                               private=True)
            await team.say(team.admin, "/checkin governance end")
            vote = team.group_messages()[-1]
            assert api.buttons(vote), vote["text"]
            await team.press(bjorn, vote, api.buttons(vote)[0]["callback_data"])
            clock.advance(timedelta(hours=49))
            await until(lambda: any("Resultatet" in t for t in api.sent_texts(team.admin.id)),
                        what="the round's result")
    logged = bot_log(caplog)
    assert "update" in logged  # the bot did log at DEBUG
    for secret in (api.token, api.token.split(":")[1], SECRET):
        assert secret not in logged
    assert "Xenia" not in logged  # every leader answer and the member's example name her
    for words in ("Fremmedes hemmelige tekst", "Forfalsket tekst", *typed):
        assert words not in logged
    for member in (*team.members, team.admin, stranger):
        assert str(member.id) not in logged
        assert member.first_name not in logged
