"""Every channel sends a reply a crash held back at start-up, once (issue 17).

The crash: the pipeline of a core over the bot's own database file takes the leader's answer,
commits (the next question is stored as a pending reply) and dies before anything is sent.
Then the real bot starts on that file: Telegram (the real PTB Application against the Bot API
stand-in), Teams (`tillidsbot run` in test mode against the connector stand-in) and the
terminal chat each show the held-back question once, and the conversation goes on.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import build_core
from bot.channels.compose import JOIN
from bot.channels.console import ConsoleChannel
from bot.config import Settings, load_settings
from bot.dialogue import Dialogues
from bot.dialogue.model import TextNode
from bot.inbound import InEvent
from bot.store import outbox
from tests.botapi_standin import BotApiStandIn
from tests.conftest import ROOT
from tests.connector_standin import ConnectorStandIn
from tests.crash_kit import Crash, Phone, Screen
from tests.teamskit import Member, TeamsBot, query, shown_text
from tests.tgkit import InProcessBot, env_for
from tests.tgkit import Phone as TelegramPhone

AAD = "0f0e0d0c-3333-4000-8000-000000000003"


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A fresh Bot API stand-in per test."""
    async with BotApiStandIn() as stand_in:
        yield stand_in


async def crash_after_commit(settings: Settings, event: InEvent) -> None:
    """The pipeline takes the event, commits and dies before sending anything."""
    core = await build_core(settings)
    screen = Screen(Phone())
    screen.armed = "after_commit"
    with pytest.raises(Crash):
        await core.inbound.handle(event, screen)
    await core.close()


def statuses(db: Path) -> list[tuple[str, str | None]]:
    """Status and platform ids of the outbox rows of the crashed event."""
    return [(str(r[0]), r[1]) for r in query(
        db, "SELECT status, platform_ids FROM reply_outbox WHERE event_id = 'crashed' "
            "ORDER BY seq")]


def purpose(dialogues: Dialogues) -> str:
    """The question after the task, as the leader reads it."""
    node = dialogues.registry.get("delegation").nodes["purpose"]
    assert isinstance(node, TextNode)
    return node.prompt["da"].strip()


async def test_telegram_sends_the_held_back_question_at_start_up_once(
        api: BotApiStandIn, tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    user = api.user(1701, "Signe")
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1701"):
        phone = TelegramPhone(api, db, user)
        await phone.say("/start")
        await phone.press()
        await phone.press()
        await phone.say("/delegate")
    settings = load_settings(env=env_for(api, db, ALLOWED_USER_IDS="1701"))
    await crash_after_commit(settings, InEvent(
        channel="telegram", event_id="crashed", user_id="1701", reference="1701",
        kind="text", text="Vagtplanen"))
    assert statuses(db) == [("pending", None)]
    before = len(api.sent_texts(1701))
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1701"):
        sent = api.sent_texts(1701)[before:]
        assert len(sent) == 1 and sent[0].strip().endswith(purpose(real_dialogues))
        [(status, ids)] = statuses(db)
        message_id = api.calls_of("sendMessage")[-1].result["message_id"]
        assert status == "redelivered" and ids == f'["{message_id}"]'
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1701"):  # once: not again
        assert len(api.sent_texts(1701)) == before + 1
        phone = TelegramPhone(api, db, user)
        await phone.say("Formålet")  # typed after it was shown: its answer
    assert [r[0] for r in query(db, "SELECT node FROM answers ORDER BY id")] == [
        "task", "purpose"]


async def test_teams_sends_the_held_back_question_at_start_up_once(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    env = {"TEAMS_ALLOWED_IDS": AAD}
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, **env).start()
        lene = Member(connector, bot, AAD, "Lene", "da-DK")
        await lene.install()
        await connector.wait_for(lambda: lene.mark() >= 1)
        await lene.press()
        await lene.press()
        await lene.say("/delegate")
        await bot.stop()
        [(reference,)] = query(db, "SELECT chat_id FROM leaders")
        settings = load_settings(env={"TILLIDSBOT_DB": str(db),
                                      "TILLIDSBOT_DIALOGUES": str(ROOT / "dialogues")})
        await crash_after_commit(settings, InEvent(
            channel="teams", event_id="crashed", user_id=AAD, reference=reference,
            kind="text", text="Vagtplanen"))
        assert statuses(db) == [("pending", None)]
        mark = lene.mark()
        bot = await TeamsBot(connector, db, **env).start()
        lene.bot = bot
        await connector.wait_for(lambda: lene.mark() >= mark + 1)
        shown = [shown_text(a) for a in connector.messages(lene.conversation_id)[mark:]]
        assert len(shown) == 1 and shown[0].endswith(purpose(real_dialogues))
        [(status, ids)] = statuses(db)
        assert status == "redelivered" and ids == f'["{connector.ids(lene.conversation_id)[-1]}"]'
        await bot.stop()
        bot = await TeamsBot(connector, db, **env).start()  # once: not again
        lene.bot = bot
        assert lene.mark() == mark + 1
        await lene.say("Formålet")
        await bot.stop()
    assert [r[0] for r in query(db, "SELECT node FROM answers ORDER BY id")] == [
        "task", "purpose"]


async def test_the_terminal_shows_the_held_back_question_when_it_opens_once(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    settings = load_settings(env={"TILLIDSBOT_DB": str(tmp_path / "bot.db"),
                                  "TILLIDSBOT_DIALOGUES": str(ROOT / "dialogues")})
    core = await build_core(settings)
    terminal = ConsoleChannel(core.service, inbound=core.inbound,
                              stdin=io.StringIO("1\n1\n/delegate\n/quit\n"), stdout=io.StringIO(),
                              files_dir=tmp_path)
    await terminal.run()
    await core.close()
    await crash_after_commit(settings, InEvent(
        channel="console", event_id="crashed", user_id="local", reference="console",
        kind="text", text="Vagtplanen"))
    assert statuses(tmp_path / "bot.db") == [("pending", None)]
    core = await build_core(settings)
    out = io.StringIO()
    terminal = ConsoleChannel(core.service, inbound=core.inbound,
                              stdin=io.StringIO("Formålet\n/quit\n"), stdout=out,
                              files_dir=tmp_path)
    await terminal.run()
    await core.close()
    text = out.getvalue()
    question = purpose(real_dialogues)
    assert text.count(question) == 1  # shown once, as where the conversation was
    assert JOIN.join([real_dialogues.strings("resume", "da"), question]) in text
    assert [s for s, _ in statuses(tmp_path / "bot.db")] == [outbox.REDELIVERED]
    assert [r[0] for r in query(tmp_path / "bot.db",
                                "SELECT node FROM answers ORDER BY id")] == ["task", "purpose"]
