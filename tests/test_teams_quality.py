"""The quality bar in a Teams 1:1 chat, end to end (the real `tillidsbot run`, the connector
stand-in): in the middle of the pre-delegation check a leader sends an image, a file with a
caption, edits a message (messageUpdate), pastes 10,000 characters, types an unknown command
and asks for help. Each gets a clear reply, the question stays where it was and nothing is
stored from it; an ordinary message that Teams sends with its HTML rendering attached is an
answer as usual.
"""

from __future__ import annotations

from pathlib import Path

from bot.channels.compose import JOIN
from bot.dialogue import Dialogues
from tests.connector_standin import ConnectorStandIn
from tests.teamskit import Member, TeamsBot, query, shown_text
from tests.test_teams_e2e import step_of

LENE = "0f0e0d0c-1111-4000-8000-000000000001"
TASK = "Ugeplanen for stuen til KL (pædagog)"


def answers(db: Path) -> int:
    """How many answers are stored."""
    [(count,)] = query(db, "SELECT COUNT(*) FROM answers")
    return int(count)


async def test_images_files_edits_long_texts_and_commands_mid_conversation(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    ui = real_dialogues.strings
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=LENE).start()
        try:
            lene = Member(connector, bot, LENE, "Lene", "da-DK")
            await lene.say("/start")
            await lene.press()  # language
            await lene.press()  # time zone
            await lene.say("uddeleger")
            # The conversation's opening rides on its first question (one card); asked again,
            # the question comes alone.
            opened = shown_text(lene.last())
            question = opened.rsplit(JOIN, 1)[-1]
            assert opened.endswith(JOIN + question)
            step, stored = step_of(db, LENE), answers(db)

            async def unchanged(replies: list[dict[str, object]], expected: list[str]) -> None:
                """The replies say what is expected; the conversation did not move."""
                assert [shown_text(a) for a in replies] == expected
                assert step_of(db, LENE) == step and answers(db) == stored

            # An image pasted into the chat (Teams adds its HTML rendering).
            image = lene.activity(text="", attachments=[
                {"contentType": "image/png", "contentUrl": "https://smba.example/img/1"},
                {"contentType": "text/html", "content": "<div><img src=\"x\"></div>"}])
            mark = lene.mark()
            await lene.post(image)
            await connector.wait_for(lambda: lene.mark() > mark)
            await unchanged(connector.messages(lene.conversation_id)[mark:],
                            [ui("tg_unsupported", "da")])
            # A file with a caption: the caption is not taken without its file.
            document = lene.activity(text=TASK, attachments=[{
                "contentType": "application/vnd.microsoft.teams.file.download.info",
                "contentUrl": "https://contoso.sharepoint.example/plan.docx", "name": "plan.docx",
                "content": {"downloadUrl": "https://download.example/1", "uniqueId": "u1",
                            "fileType": "docx"}}])
            mark = lene.mark()
            await lene.post(document)
            await connector.wait_for(lambda: lene.mark() > mark)
            await unchanged(connector.messages(lene.conversation_id)[mark:],
                            [ui("tg_unsupported", "da")])
            # 10,000 characters: too long, said with the length and the limit.
            long = ("Ugeplan " * 1250)[:9_999] + "."
            assert len(long) == 10_000
            replies = await lene.say(long)
            [too_long] = [shown_text(a) for a in replies]
            assert "10000" in too_long.replace(".", "") and "1500" in too_long
            assert step_of(db, LENE) == step and answers(db) == stored
            # An unknown command, then help: the question is shown again after it.
            await unchanged(await lene.say("/foo"), [
                ui("unknown_command", "da", command="foo"), question])
            replies = await lene.say("/help")
            # Help on top of the question asked again, one card.
            assert shown_text(replies[-1]) == JOIN.join([ui("help", "da"), question])
            assert step_of(db, LENE) == step and answers(db) == stored

            # An ordinary answer, sent with its HTML rendering: taken as typed.
            typed = lene.activity(text=TASK, textFormat="plain", attachments=[
                {"contentType": "text/html", "content": f"<p>{TASK}</p>"}])
            mark = lene.mark()
            await lene.post(typed)
            await connector.wait_for(lambda: lene.mark() > mark)
            moved = step_of(db, LENE)
            assert moved != step and answers(db) == stored + 1
            # She edits it: the bot says edits are not read; the answer stays as first sent.
            edit = {**typed, "type": "messageUpdate", "text": "Noget helt andet",
                    "timestamp": "2026-12-02T05:01:00.000Z",
                    "channelData": {**typed["channelData"], "eventType": "editMessage"}}
            mark = lene.mark()
            await lene.post(edit)
            await connector.wait_for(lambda: lene.mark() > mark)
            assert [shown_text(a) for a in connector.messages(lene.conversation_id)[mark:]] == [
                ui("tg_edited", "da")]
            assert step_of(db, LENE) == moved and answers(db) == stored + 1
            assert query(db, "SELECT COUNT(*) FROM answers WHERE value LIKE '%helt andet%'") == [
                (0,)]
        finally:
            await bot.stop()
    assert "Ugeplan Ugeplan" not in bot.output and "helt andet" not in bot.output
