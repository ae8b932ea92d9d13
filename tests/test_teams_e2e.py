"""End to end on Teams: the real `tillidsbot run` in TEAMS_TEST_MODE, the connector stand-in
as serviceUrl, Teams-shaped activities posted to /api/messages.

A listed leader installs the app (conversationUpdate), answers the first-contact questions by
card presses, types the Danish command word for the pre-delegation check, answers with presses
and text; the bot is killed with SIGKILL mid-conversation, restarted, and the conversation
continues from the same question to the summary. Another tenant is refused with nothing
stored; a person of the tenant who is not let in hears the refusal; forged presses (submits
and Action.Execute invokes) change nothing and hear that the question is closed; 429 and 503
from the connector are retried so every message arrives exactly once; a group @mention gets a
pointer to the 1:1 chat; the Teams locale sets a new leader's language; a nudge due while the
bot was down arrives once after the restart.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bot.channels.compose import JOIN
from bot.dialogue import Dialogues
from tests.connector_standin import ConnectorStandIn
from tests.teamskit import (
    OTHER_TENANT,
    TENANT,
    Member,
    TeamsBot,
    buttons,
    card_of,
    query,
    shown_text,
)
from tests.tgkit import FALLBACK_ANSWERS, SAMPLE_ANSWERS, said, session_state

LEADER = "0f0e0d0c-1111-4000-8000-000000000001"
STRANGER = "0f0e0d0c-2222-4000-8000-000000000002"
APP_ID = "9a1b2c3d-0000-4000-8000-0000000000b0"


def step_of(db: Path, aad: str) -> int | None:
    """The stored dialogue step of a Teams leader (None outside a conversation)."""
    state = session_state(db, f"teams:{aad}")
    return None if state is None else int(state["step"])


async def walk(member: Member, db: Path, dialogues: Dialogues, steps: int | None = None,
               typed_before: int = 0) -> list[str]:
    """Answer generically until the menu shows (or `steps` answers): press the first button
    of a card ('Done', the last, on a multiple choice already toggled), type text otherwise."""
    menu = dialogues.strings("menu", "da")
    typed: list[str] = []
    pressed: str | None = None
    for answers in range(100):
        if steps is not None and answers >= steps:
            return typed
        last_id = member.connector.ids(member.conversation_id)[-1]
        last = member.connector.sent[last_id].activity
        if shown_text(last).endswith(menu) and answers:  # maybe with closing words on top
            return typed
        actions = buttons(card_of(last))
        if actions:
            label = actions[-1]["title"] if last_id == pressed else None
            pressed = last_id
            await member.press(label)
        else:
            before = step_of(db, member.aad)
            sample = SAMPLE_ANSWERS[(typed_before + len(typed)) % len(SAMPLE_ANSWERS)]
            for text in (sample, *FALLBACK_ANSWERS):
                await member.say(text)
                if step_of(db, member.aad) != before:
                    typed.append(text)
                    break
            else:
                raise AssertionError(f"no answer accepted for {shown_text(last)!r}")
    raise AssertionError("the conversation did not end within 100 answers")


async def test_a_teams_leader_finishes_the_delegation_check_across_a_crash(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    ui = real_dialogues.strings
    env = {"TEAMS_ALLOWED_IDS": LEADER, "TEAMS_APP_ID": APP_ID}
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, **env).start()
        lene = Member(connector, bot, LEADER, "Lene", "da-DK")

        # The app is installed for her: the welcome on top of the first question, one card.
        await lene.install()
        await connector.wait_for(lambda: lene.mark() >= 1)
        assert [shown_text(a) for a in connector.messages(lene.conversation_id)] == [
            JOIN.join([ui("welcome", "da"), ui("choose_language", "da")])]
        assert query(db, "SELECT leader_id, language FROM leaders") == [(f"teams:{LEADER}",
                                                                          "da")]
        assert query(db, "SELECT json_extract(chat_id, '$.conversation.id') FROM leaders") == [
            (lene.conversation_id,)]
        [(reference,)] = query(db, "SELECT chat_id FROM leaders")
        assert "Lene" not in reference, "the display name was kept with the reference"
        language_card = lene.connector.ids(lene.conversation_id)[-1]
        await lene.press()  # language
        # The pressed card now shows the choice and has no live buttons.
        pressed = connector.sent[language_card].activity
        assert card_of(pressed) is not None and buttons(card_of(pressed)) == []
        assert "→" in shown_text(pressed)
        await lene.press()  # time zone
        # One card: the time zone, the weekly time offered and the menu.
        parts = shown_text(lene.last()).split(JOIN)
        assert [parts[0], parts[-1], len(parts)] == [
            ui("ob_timezone_set", "da", timezone="Europe/Copenhagen"), ui("menu", "da"), 3]

        connector.fail_next("POST", 429, retry_after=1)  # Teams throttles the first reply
        connector.fail_next("POST", 503)  # and then is briefly unavailable
        mark = lene.mark()
        await lene.say("uddeleger")  # the Danish command word, without a slash
        typed = await walk(lene, db, real_dialogues, steps=4)
        assert [c.status for c in connector.calls if c.method == "POST"].count(429) == 1
        first_question = connector.messages(lene.conversation_id)[mark]
        assert sum(1 for a in connector.messages(lene.conversation_id)
                   if a == first_question) == 1, "a retried message arrived twice"
        question = shown_text(lene.last())
        step = step_of(db, LEADER)
        assert step is not None

        await bot.kill()
        first_log = bot.output
        bot = await TeamsBot(connector, db, **env).start()
        lene.bot = bot
        mark = lene.mark()
        await lene.say("/start")
        await connector.wait_for(lambda: lene.mark() >= mark + 1)
        after = [shown_text(a) for a in connector.messages(lene.conversation_id)[mark:]]
        # One message: the welcome, 'where we were' and the open question.
        assert after == [JOIN.join([ui("welcome", "da"), ui("resume", "da"), question])]
        assert step_of(db, LEADER) == step

        typed += await walk(lene, db, real_dialogues, typed_before=len(typed))
        texts = [shown_text(a) for a in connector.messages(lene.conversation_id)]
        assert any(typed[0] in t and typed[1] in t for t in texts), "no summary"
        assert query(db, "SELECT status, summary IS NOT NULL FROM threads "
                         "WHERE conversation = 'delegation'") == [("finished", 1)]
        await bot.stop()
        assert bot.proc is not None and bot.proc.returncode == 0

    transcript = "\n".join(connector.transcript(lene.conversation_id))
    (tmp_path / "transcript.txt").write_text(transcript, encoding="utf-8")
    card = next(card_of(a) for a in connector.messages(lene.conversation_id)
                if buttons(card_of(a)))
    (tmp_path / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=2))
    print(transcript)
    logs = first_log + bot.output
    assert typed[0] not in logs, "a leader's words reached the log"
    assert LEADER not in logs and lene.conversation_id not in logs, "an id reached the log"
    methods = {(c.method, c.path.count("/")) for c in connector.calls}
    assert ("PUT", 5) in methods, "no pressed card was updated"


async def test_another_tenant_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, ACCESS_MODE="open").start()
        outsider = Member(connector, bot, LEADER, "Ola", "nb-NO", tenant=OTHER_TENANT)
        status, _ = await outsider.post(outsider.activity(text="/start"))
        assert status == 403
        status, _ = await outsider.post(outsider.activity(
            type="conversationUpdate", membersAdded=[{"id": "28:bot"}]))
        assert status == 403
        # Only channelData names the tenant: still refused.
        sneaky = outsider.activity(text="/start")
        sneaky["conversation"].pop("tenantId")
        assert (await outsider.post(sneaky))[0] == 403
        await bot.stop()
    assert connector.calls == []
    for table in ("leaders", "sessions", "inbound_events"):
        assert query(db, f"SELECT COUNT(*) FROM {table}") == [(0,)], table


async def test_forged_presses_and_strangers_change_nothing(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    ui = real_dialogues.strings
    closed = ui("tg_closed", "da")
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=LEADER).start()
        lene = Member(connector, bot, LEADER, "Lene", "da-DK")
        await lene.say("/start")
        await lene.press()  # language
        await lene.press()  # time zone
        await lene.say("/delegate")
        await walk(lene, db, real_dialogues, steps=2)
        step = step_of(db, LEADER)
        answers = query(db, "SELECT COUNT(*) FROM answers")
        forged: list[Any] = [
            {"tb": "x:1:2"},  # junk data
            {"tb": "a" * 200},  # too long
            {"tb": "m:start:delegation", "extra": 1},  # a shape the bot never sends
            ["tb"], "tb", 42,  # not an object at all
        ]
        for value in forged:
            replies = await lene.press(value=value)
            assert [shown_text(a) for a in replies] == [closed], value
        # Another leader's (or an old card's) press: well-formed data of a thread not hers.
        replies = await lene.press(value={"tb": "a:deadbeef:3:0"})
        assert shown_text(replies[0]) == closed
        assert step_of(db, LEADER) == step
        assert query(db, "SELECT COUNT(*) FROM answers") == answers

        # Teams redelivers an activity it got no answer for: the repeat is a no-op.
        repeated = lene.activity(text="/help")
        mark = lene.mark()
        assert (await lene.post(repeated))[0] == 202
        assert (await lene.post(repeated))[0] == 202
        await lene.say("/language")  # answered after both: the repeat was handled by now
        helps = [a for a in connector.messages(lene.conversation_id)[mark:]
                 if said(ui("help", "da"), [shown_text(a)])]
        assert len(helps) == 1

        # An Action.Execute invoke with junk is answered (Teams waits for it) and closed.
        mark = lene.mark()
        status, body = await lene.post(lene.activity(
            type="invoke", name="adaptiveCard/action", text=None,
            value={"action": {"type": "Action.Execute", "verb": "press", "data": {"x": 1}}}))
        assert status == 200 and body["statusCode"] == 200
        await connector.wait_for(lambda: lene.mark() > mark)
        assert shown_text(lene.last()) == closed

        stranger = Member(connector, bot, STRANGER, "Per", "nb-NO")
        refusal = await stranger.say("hei")
        assert [shown_text(a) for a in refusal] == [ui("tg_refused", "nb")]

        # In a group chat the bot hears an @mention and points to the 1:1 chat; nothing kept.
        group = lene.activity(text="<at>Tillidsbot</at> uddeleger", entities=[{
            "type": "mention", "text": "<at>Tillidsbot</at>",
            "mentioned": {"id": "28:bot", "name": "Tillidsbot"}}])
        group["conversation"] = {"id": "19:group@thread.v2", "conversationType": "groupChat",
                                 "tenantId": TENANT}
        assert (await lene.post(group))[0] == 202
        await connector.wait_for(lambda: connector.messages("19:group@thread.v2"))
        [pointer] = connector.messages("19:group@thread.v2")
        assert shown_text(pointer) == ui("tg_private_only", "da")
        await bot.stop()
    assert query(db, "SELECT leader_id FROM leaders") == [(f"teams:{LEADER}",)]
    assert query(db, "SELECT COUNT(*) FROM leaders WHERE "
                 "json_extract(chat_id, '$.conversation.id') IS NOT NULL") == [(1,)]


async def test_the_teams_locale_sets_a_new_leaders_language(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    people = {f"0f0e0d0c-4444-4000-8000-00000000000{n}": locale
              for n, locale in enumerate(("nb-NO", "nn-NO", "en-GB", "da-DK", "de-DE"))}
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, ACCESS_MODE="open").start()
        for aad, locale in people.items():
            await Member(connector, bot, aad, "Leder", locale).say("/start")
        await bot.stop()
    languages = dict(query(db, "SELECT leader_id, language FROM leaders"))
    assert [languages[f"teams:{aad}"] for aad in people] == ["nb", "nb", "en", "da", "da"]


async def seed_nudge(db: Path, leader_id: str) -> None:
    """The leader's weekly nudge fell due a minute ago, while the bot was down."""
    from datetime import date, timedelta

    from bot.clock import SystemClock, iso
    from bot.schedule import plan
    from bot.schedule.times import Prefs
    from bot.store import repo, schedules
    from bot.store.db import Store

    store = await Store.open(db)
    now = SystemClock().now()
    async with store.transaction() as tx:
        leader = await repo.get_leader(tx, leader_id)
        assert leader is not None
        leader.settings = {**leader.settings, "quiet": "off", "schedule_seen": True}
        await repo.update_leader(tx, leader, iso(now))
        key = plan.plan_key(leader, Prefs.from_settings(leader.settings))
        # Onboarding planned the next weekly nudge: this one replaces it, due a minute ago.
        await tx.execute("DELETE FROM schedules WHERE leader_id = ? AND kind = 'nudge'",
                         (leader_id,))
        await schedules.add(tx, leader.leader_id, "nudge", iso(now - timedelta(minutes=1)),
                            iso(now), conversation="reflection",
                            payload={"slot": date.today().isoformat(), "key": key})
    await store.close()


async def test_a_nudge_due_during_downtime_reaches_teams_once_after_restart(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    ui = real_dialogues.strings
    header = ui("sched_nudge_header", "da")
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=LEADER).start()
        lene = Member(connector, bot, LEADER, "Lene", "da-DK")
        await lene.say("/start")  # her conversation reference is kept from here on
        await lene.press()  # language
        await lene.press()  # time zone
        await bot.stop()
        await seed_nudge(db, f"teams:{LEADER}")
        mark = lene.mark()

        def nudges() -> list[dict[str, Any]]:
            """The nudge headers sent since the restart."""
            return [a for a in connector.messages(lene.conversation_id)[mark:]
                    if shown_text(a).startswith(header)]

        bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=LEADER).start()
        lene.bot = bot
        try:
            await connector.wait_for(nudges)
        except TimeoutError:
            await bot.stop()
            raise AssertionError(f"no nudge; the bot said:\n{bot.output}") from None
        await connector.wait_for(lambda: any("Ugens refleksion ·" in shown_text(a) for a in
                                             connector.messages(lene.conversation_id)))
        for _ in range(200):  # the channel accepted it: 'sent' is recorded just after
            if query(db, "SELECT status FROM schedules ORDER BY id LIMIT 1") == [("sent",)]:
                break
            await asyncio.sleep(0.05)
        await bot.kill()
        bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=LEADER).start()
        lene.bot = bot
        await lene.say("/help")  # the bot is up and answering: anything due went out by now
        code, figures = await bot.health()  # Teams alone beats too, and nothing is overdue
        assert code == 0 and figures["healthy"] is True and figures["channel"] == "teams", \
            figures
        await bot.stop()
    assert len(nudges()) == 1
    assert query(db, "SELECT kind, status FROM schedules ORDER BY id")[0] == ("nudge", "sent")


async def test_telegram_and_teams_run_in_one_process(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    from tests.botapi_standin import BotApiStandIn
    from tests.tgkit import env_for

    db = tmp_path / "bot.db"
    welcome = real_dialogues.strings("welcome", "da")
    async with BotApiStandIn() as api, ConnectorStandIn() as connector:
        telegram_env = env_for(api, db, ACCESS_MODE="open")
        bot = await TeamsBot(connector, db, **telegram_env).start()
        user = api.user(4242, "Lene", "da")
        api.send_text(user, "/start")
        await api.wait_for(lambda: said(welcome, api.sent_texts(user.id)),
                           what="Telegram's welcome")
        lene = Member(connector, bot, LEADER, "Lene", "da-DK")
        replies = await lene.say("/start")
        assert shown_text(replies[0]).startswith(welcome + JOIN)
        # `tillidsbot health` sees one process beating for both channels.
        code, figures = await bot.health()
        assert code == 0 and figures["healthy"] is True, figures
        assert figures["channel"] == "telegram+teams"
        await bot.stop()
        assert bot.proc is not None and bot.proc.returncode == 0
    assert sorted(query(db, "SELECT leader_id FROM leaders")) == [
        ("teams:" + LEADER,), ("tg:4242",)]


async def test_the_trend_chart_arrives_inline_as_an_image_on_teams(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    import base64

    from tests.test_history_telegram import seed

    db = tmp_path / "bot.db"
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=LEADER).start()
        lene = Member(connector, bot, LEADER, "Lene", "da-DK")
        await lene.say("/start")
        await lene.press()  # language
        await lene.press()  # time zone
        seed(db, f"teams:{LEADER}")  # seven finished weekly reflections with ratings

        def images() -> list[dict[str, Any]]:
            """The image attachments the bot sent Lene."""
            return [attachment for a in connector.messages(lene.conversation_id)
                    for attachment in a.get("attachments") or []
                    if str(attachment.get("contentType", "")).startswith("image/")]

        await lene.say("/trend")
        await connector.wait_for(images)
        await bot.stop()
    [image] = images()
    assert image["contentType"] == "image/png" and image["name"].endswith(".png")
    prefix = "data:image/png;base64,"
    assert image["contentUrl"].startswith(prefix)
    png = base64.b64decode(image["contentUrl"][len(prefix):], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    captioned = [a for a in connector.messages(lene.conversation_id)
                 if image in (a.get("attachments") or [])]
    assert "slags spørgsmål" in shown_text(captioned[0])  # as on Telegram (per kind)
