"""/export on Teams end to end: the real `tillidsbot run` in TEAMS_TEST_MODE, the connector
stand-in as serviceUrl and as the OneDrive upload session behind the file-consent cards.

A leader types /export in her 1:1 chat and gets the intro and two file-consent cards (the
Markdown and the JSON export); she accepts both: each invoke is answered 200, the file is PUT to
the uploadUrl with a Content-Range over all of it, and a file-info card shows it; the files hold
her data and none of another leader's. The invoke is answered before the upload finishes. A
decline hears a short message and uploads nothing; an upload OneDrive refuses is said so. A
replayed accept, a token from another leader's card, an unknown or junk token, an accept whose
uploadUrl is not allowed, and a card from before a restart upload nothing and hear "closed".
In a group chat /export points to the 1:1 chat. No export file is written to disk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.dialogue import Dialogues
from tests.conftest import ROOT
from tests.connector_standin import ConnectorStandIn
from tests.teamskit import TENANT, Member, TeamsBot, query, shown_text
from tests.test_teams_e2e import walk
from tests.tgkit import SAMPLE_ANSWERS

LENE = "0f0e0d0c-1111-4000-8000-000000000001"
OLE = "0f0e0d0c-3333-4000-8000-000000000003"
CONSENT = "application/vnd.microsoft.teams.card.file.consent"
INFO = "application/vnd.microsoft.teams.card.file.info"


def consent_cards(activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The file-consent attachments among activities, in order."""
    return [a for activity in activities for a in activity.get("attachments") or []
            if a.get("contentType") == CONSENT]


def info_cards(activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The file-info attachments among activities, in order."""
    return [a for activity in activities for a in activity.get("attachments") or []
            if a.get("contentType") == INFO]


@pytest.fixture
async def track() -> AsyncIterator[Callable[[TeamsBot], TeamsBot]]:
    """Bots a test started; any still running when it ends (a failed assertion) is killed."""
    bots: list[TeamsBot] = []

    def keep(bot: TeamsBot) -> TeamsBot:
        """Remember a started bot."""
        bots.append(bot)
        return bot

    yield keep
    for bot in bots:
        await bot.kill()


async def answer_consent(member: Member, consent: dict[str, Any], action: str,
                         context: Any = None, upload: dict[str, Any] | None = None,
                         ) -> tuple[int, Any]:
    """Play Teams after a press on a consent card: the fileConsent/invoke (accept with the
    stand-in's uploadInfo, or decline)."""
    value: dict[str, Any] = {
        "type": "fileUpload", "action": action,
        "context": consent["content"]["acceptContext" if action == "accept"
                                      else "declineContext"] if context is None else context}
    if action == "accept":
        value["uploadInfo"] = upload or member.connector.upload_info(member.conversation_id,
                                                                     consent["name"])
    return await member.post(member.activity(type="invoke", name="fileConsent/invoke",
                                             text=None, value=value))


async def more_than(member: Member, mark: int) -> None:
    """Wait until the bot has more than `mark` activities in the member's chat."""
    await member.connector.wait_for(lambda: member.mark() > mark)


async def onboard(member: Member) -> None:
    """/start, then the language and time-zone questions."""
    await member.say("/start")
    await member.press()
    await member.press()


async def test_export_files_arrive_by_consent_card_with_only_the_leaders_data(
        tmp_path: Path, real_dialogues: Dialogues,
        track: Callable[[TeamsBot], TeamsBot]) -> None:
    db = tmp_path / "bot.db"
    ui = real_dialogues.strings
    closed = ui("tg_closed", "da")
    async with ConnectorStandIn() as connector:
        bot = track(await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=f"{LENE},{OLE}").start())
        lene = Member(connector, bot, LENE, "Lene", "da-DK")
        ole = Member(connector, bot, OLE, "Ole", "da-DK")
        await onboard(lene)
        await lene.say("/delegate")
        lene_typed = [t for t in await walk(lene, db, real_dialogues, steps=3)
                      if t in SAMPLE_ANSWERS]
        await onboard(ole)
        await ole.say("/delegate")
        ole_typed = [t for t in await walk(ole, db, real_dialogues, steps=3, typed_before=3)
                     if t in SAMPLE_ANSWERS]
        assert lene_typed and ole_typed and not set(lene_typed) & set(ole_typed)

        mark = lene.mark()
        await lene.say("/export")  # in the middle of her delegation check
        await connector.wait_for(lambda: len(consent_cards(
            connector.messages(lene.conversation_id))) >= 2)
        replies = connector.messages(lene.conversation_id)[mark:]
        assert shown_text(replies[0]) == ui("export_intro", "da")
        md, js = consent_cards(replies)
        assert md["name"].endswith(".md") and js["name"].endswith(".json")
        assert md["content"]["description"] == ui("export_md_caption", "da")
        assert md["content"]["sizeInBytes"] > 0
        assert md["content"]["acceptContext"] == md["content"]["declineContext"]
        assert md["content"]["acceptContext"] != js["content"]["acceptContext"]

        for number, consent in enumerate((md, js), start=1):
            mark = lene.mark()
            # Teams waits for the invoke's answer: it comes before the upload is done.
            connector.hold_uploads()
            status, body = await answer_consent(lene, consent, "accept")
            assert status == 200, body
            await connector.wait_for(lambda: connector.uploads_waiting() == 1)
            assert info_cards(connector.messages(lene.conversation_id)) == [
                *info_cards(connector.messages(lene.conversation_id)[:mark])]
            connector.release_uploads()
            await more_than(lene, mark)
            [info] = info_cards(connector.messages(lene.conversation_id)[mark:])
            assert info["name"] == consent["name"]
            assert info["contentUrl"].endswith(consent["name"])
            assert info["content"]["uniqueId"].startswith(f"standin-{number}-")
            assert info["content"]["fileType"] == consent["name"].rsplit(".", 1)[1]

        files = connector.uploaded(lene.conversation_id)
        assert set(files) == {md["name"], js["name"]}
        assert all(u.content_range == f"bytes 0-{len(u.data) - 1}/{len(u.data)}"
                   for u in connector.uploads)
        assert [len(files[md["name"]]), len(files[js["name"]])] == [
            md["content"]["sizeInBytes"], js["content"]["sizeInBytes"]]
        document = json.loads(files[js["name"]])
        assert document["leader"]["leader_id"] == f"teams:{LENE}"
        exported = files[md["name"]].decode("utf-8") + json.dumps(document, ensure_ascii=False)
        for text in lene_typed:
            assert text in exported
        for text in (*ole_typed, OLE):
            assert text not in exported, "another leader's data was exported"

        # Teams redelivers the accept (or someone replays it): nothing more is uploaded.
        mark, uploads = lene.mark(), len(connector.uploads)
        status, _ = await answer_consent(lene, md, "accept")
        assert status == 200
        await connector.wait_for(lambda: lene.mark() > mark)
        assert [shown_text(a) for a in connector.messages(lene.conversation_id)[mark:]] == [
            closed]
        assert len(connector.uploads) == uploads
        await bot.stop()
    assert bot.proc is not None and bot.proc.returncode == 0
    leftovers = [p for folder in (ROOT, tmp_path) for p in folder.glob("tillidsbot-export*")]
    assert leftovers == [], "an export was written to disk"
    assert lene_typed[0] not in bot.output, "a leader's words reached the log"


async def test_a_declined_or_failed_export_uploads_nothing(
        tmp_path: Path, real_dialogues: Dialogues,
        track: Callable[[TeamsBot], TeamsBot]) -> None:
    db = tmp_path / "bot.db"
    ui = real_dialogues.strings
    async with ConnectorStandIn() as connector:
        bot = track(await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=LENE).start())
        lene = Member(connector, bot, LENE, "Lene", "da-DK")
        await onboard(lene)
        await lene.say("/export")
        await connector.wait_for(lambda: len(consent_cards(
            connector.messages(lene.conversation_id))) >= 2)
        md, js = consent_cards(connector.messages(lene.conversation_id))
        mark = lene.mark()
        status, _ = await answer_consent(lene, md, "decline")
        assert status == 200
        await connector.wait_for(lambda: lene.mark() > mark)
        assert [shown_text(a) for a in connector.messages(lene.conversation_id)[mark:]] == [
            ui("teams_export_declined", "da")]
        # Declined is final: an accept on the same card afterwards is closed.
        mark = lene.mark()
        await answer_consent(lene, md, "accept")
        await more_than(lene, mark)
        assert shown_text(lene.last()) == ui("tg_closed", "da")
        assert connector.uploads == []
        # OneDrive refuses the other file: she hears so, and /export offers it afresh.
        connector.fail_next("UPLOAD", 500)
        mark = lene.mark()
        await answer_consent(lene, js, "accept")
        await more_than(lene, mark)
        assert shown_text(lene.last()) == ui("teams_export_failed", "da")
        assert info_cards(connector.messages(lene.conversation_id)) == []
        mark = lene.mark()
        await answer_consent(lene, js, "accept")  # that offer is spent
        await more_than(lene, mark)
        assert shown_text(lene.last()) == ui("tg_closed", "da")
        await bot.stop()
    assert [u.status for u in connector.uploads] == [500]
    assert connector.uploaded(lene.conversation_id) == {}


async def test_forged_and_stale_consents_upload_nothing(
        tmp_path: Path, real_dialogues: Dialogues,
        track: Callable[[TeamsBot], TeamsBot]) -> None:
    db = tmp_path / "bot.db"
    ui = real_dialogues.strings
    closed = ui("tg_closed", "da")
    async with ConnectorStandIn() as connector:
        bot = track(await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=f"{LENE},{OLE}").start())
        lene = Member(connector, bot, LENE, "Lene", "da-DK")
        ole = Member(connector, bot, OLE, "Ole", "da-DK")
        await onboard(lene)
        await onboard(ole)
        await lene.say("/export")
        await connector.wait_for(lambda: len(consent_cards(
            connector.messages(lene.conversation_id))) >= 2)
        md, js = consent_cards(connector.messages(lene.conversation_id))

        async def closed_for(member: Member, *args: Any, **kwargs: Any) -> None:
            """The invoke is answered 200 and the member hears "closed"."""
            mark = member.mark()
            status, _ = await answer_consent(member, *args, **kwargs)
            assert status == 200
            await member.connector.wait_for(lambda: member.mark() > mark)
            assert [shown_text(a) for a in
                    member.connector.messages(member.conversation_id)[mark:]] == [closed]

        # Ole replays Lene's card context in his own chat: her file stays with her.
        await closed_for(ole, md, "accept",
                         upload=connector.upload_info(ole.conversation_id, md["name"]))
        # The token was spent by that forgery: Lene's own accept of it is closed too.
        await closed_for(lene, md, "accept")
        for context in ({"tbFile": "A" * 32}, {"tbFile": "../../etc"}, {}, "tbFile", None):
            await closed_for(lene, js, "accept", context=context or {"junk": 1})
        # An uploadUrl the bot must not send a leader's file to (not HTTPS, not loopback).
        await closed_for(lene, js, "accept", upload={
            **connector.upload_info(lene.conversation_id, js["name"]),
            "uploadUrl": "http://files.example.net/upload"})
        assert connector.uploads == []

        # A card from before a restart: the offer lived in memory only.
        await lene.say("/export")
        await connector.wait_for(lambda: len(consent_cards(
            connector.messages(lene.conversation_id))) >= 4)
        old = consent_cards(connector.messages(lene.conversation_id))[-1]
        await bot.stop()
        bot = track(await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=f"{LENE},{OLE}").start())
        lene.bot = ole.bot = bot
        await closed_for(lene, old, "accept")

        # In a group chat /export points to the 1:1 chat.
        group = lene.activity(text="<at>Tillidsbot</at> /export", entities=[{
            "type": "mention", "text": "<at>Tillidsbot</at>",
            "mentioned": {"id": "28:bot", "name": "Tillidsbot"}}])
        group["conversation"] = {"id": "19:export@thread.v2", "conversationType": "groupChat",
                                 "tenantId": TENANT}
        assert (await lene.post(group))[0] == 202
        await connector.wait_for(lambda: connector.messages("19:export@thread.v2"))
        [pointer] = connector.messages("19:export@thread.v2")
        assert shown_text(pointer) == ui("tg_private_only", "da")
        assert consent_cards([pointer]) == []
        await bot.stop()
    assert connector.uploads == []
    assert query(db, "SELECT COUNT(*) FROM leaders") == [(2,)]
