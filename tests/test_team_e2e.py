"""Team check-ins end to end: the real bot (run_telegram, PTB) against the Bot API stand-in.

A group with an admin and five members. The pulse opens and closes by an injected clock that
the test moves (the bot's team job only reads it); nothing here sleeps.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.dialogue import Dialogues
from tests.botapi_standin import BotApiStandIn, User
from tests.tgkit import InProcessBot, query, until, update_status

GROUP_ID = -1001234567890
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Copenhagen
NAMES = ("Anna", "Bjørn", "Cecilie", "Dorte", "Emil")
RESULT_PATH = Path("/tmp/tillidsbot-team-result.txt")


class Team:
    """The simulated group: who is in it and how to act as them."""

    def __init__(self, api: BotApiStandIn, db: Path) -> None:
        """An admin and five members in one supergroup."""
        self.api = api
        self.db = db
        self.chat = api.group(GROUP_ID, "Hjemmeplejen Nord")
        self.admin = api.user(7000000001, "Lene", "da", username="lene_leder")
        api.set_member(GROUP_ID, self.admin, "administrator")
        self.members = [api.user(5200000001 + i, name, "da", username=f"{name.lower()}_hp")
                        for i, name in enumerate(NAMES)]

    async def done(self, update_id: int) -> None:
        """Wait until the bot has finished an update."""
        await until(lambda: update_status(self.db, update_id) == "done",
                    what=f"update {update_id}")

    async def say(self, user: User, text: str, private: bool = False) -> None:
        """Write in the group (or privately to the bot) and wait for the bot."""
        await self.done(self.api.send_text(user, text, None if private else self.chat))

    async def press(self, user: User, message: dict[str, Any], data: str) -> str | None:
        """Press a button and wait; returns the private confirmation (toast) it got."""
        update_id = self.api.press(user, message, data=data)
        await self.done(update_id)
        answers = [c for c in self.api.calls_of("answerCallbackQuery")]
        return answers[-1].params.get("text") if answers else None

    def group_messages(self) -> list[dict[str, Any]]:
        """The bot's messages in the group as they look now."""
        return self.api.bot_messages(GROUP_ID)

    def pulse(self) -> dict[str, Any] | None:
        """The newest pulse message with its buttons."""
        found = [m for m in self.group_messages()
                 if any(str(b.get("callback_data", "")).startswith("tp:")
                        for b in self.api.buttons(m))]
        return found[-1] if found else None

    def group_texts(self) -> list[str]:
        """Every text, edit and caption the bot put in the group, as calls."""
        return [str(c.params.get("text") or c.params.get("caption") or "")
                for c in self.api.calls if c.params.get("chat_id") == GROUP_ID
                and c.method in ("sendMessage", "editMessageText", "sendPhoto")]


def data_of(api: BotApiStandIn, message: dict[str, Any], label: str) -> str:
    """The callback data of the button labelled exactly label."""
    for button in api.buttons(message):
        if button["text"] == label:
            return str(button["callback_data"])
    raise AssertionError(f"no button {label!r}")


def group_output(api: BotApiStandIn) -> list[str]:
    """Every message, edit and photo the bot made in the group."""
    return [c.method for c in api.calls if c.params.get("chat_id") == GROUP_ID
            and c.method in ("sendMessage", "editMessageText", "sendPhoto")]


def everything_said(api: BotApiStandIn) -> str:
    """Every text the bot sent anywhere: messages, edits, captions, toasts."""
    parts = []
    for call in api.calls:
        if call.method in ("sendMessage", "editMessageText", "sendPhoto",
                           "answerCallbackQuery"):
            parts.append(str(call.params.get("text") or call.params.get("caption") or ""))
    return "\n".join(parts)


def assert_nobody_named(team: Team, text: str) -> None:
    """No member's id, name or username in a text."""
    for member in team.members:
        assert str(member.id) not in text
        assert member.first_name not in text
        assert str(member.username) not in text


async def test_team_pulse_on_telegram(
        tmp_path: Path, real_dialogues: Dialogues, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="bot")
    ui = real_dialogues.strings
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        anna, bjorn, cecilie, dorte, emil = team.members
        async with InProcessBot(api, db, clock=clock, TILLIDSBOT_TEAM_TICK_SECONDS="0.05"):
            # A member may not set the team up; the admin (checked with getChatMember) may.
            await team.say(anna, "/checkin setup ugentlig mandag 09:00 Europe/Copenhagen da")
            assert team.group_messages()[-1]["text"] == ui("team_admin_only", "da")
            assert api.calls_of("getChatMember")[-1].params["user_id"] == anna.id
            await team.say(team.admin, "/checkin setup ugentlig mandag 09:00 "
                                       "Europe/Copenhagen da")
            assert "mandag 30. november kl. 09:00" in team.group_messages()[-1]["text"]

            # An administrator writing anonymously (as the group) is an admin too.
            anonymous = api.deliver({"message": {
                "message_id": 900, "date": 0, "chat": team.chat, "text": "/checkin status",
                "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
                "from": {"id": 1087968824, "is_bot": True, "first_name": "Group",
                         "username": "GroupAnonymousBot"},
                "sender_chat": team.chat}})
            await team.done(anonymous)
            assert "Næste puls: mandag 30. november" in team.group_messages()[-1]["text"]

            # An extra pulse now, answered by two: only "too few answers" at close.
            await team.say(team.admin, "/checkin now")
            pulse = team.pulse()
            assert pulse is not None and "Svar indtil nu: 0" in pulse["text"]
            await team.press(anna, pulse, data_of(api, pulse, "4"))
            await team.press(bjorn, pulse, data_of(api, pulse, "2"))
            await team.say(team.admin, "/checkin close")
            assert "for få svar (2)" in team.group_messages()[-1]["text"]
            assert not api.calls_of("sendPhoto")

            # The scheduled pulse: the clock reaches Monday 09:00 and the bot's job posts it.
            clock.set(datetime(2026, 11, 30, 8, 0, 30, tzinfo=UTC))
            second = await until(lambda: (p := team.pulse()) and "#2" in p["text"] and p,
                                 what="the scheduled pulse")
            answers = {anna: ("5", "Ja"), bjorn: ("4", "Ja"), cecilie: ("4", "Delvist"),
                       dorte: ("3", "Nej"), emil: ("2", "Ja")}
            toasts = set()
            for member, (trust, meaning) in answers.items():
                toasts.add(await team.press(member, second, data_of(api, second, trust)))
                toasts.add(await team.press(member, second, data_of(api, second, meaning)))
            shown = team.pulse()
            assert shown is not None and "Svar indtil nu: 5" in shown["text"]
            # Changing an answer changes nothing anyone else can see.
            edits_before = len(api.calls_of("editMessageText"))
            toasts.add(await team.press(emil, shown, data_of(api, shown, "3")))
            toasts.add(await team.press(dorte, shown, data_of(api, shown, "Delvist")))
            assert len(api.calls_of("editMessageText")) == edits_before
            assert team.pulse() == shown
            assert toasts == {ui("team_toast_saved", "da")}  # the same words for everyone

            # Close by the clock: the pulse is edited (no buttons), the result comes as a photo.
            clock.advance(timedelta(hours=48))
            photo = await until(lambda: api.calls_of("sendPhoto"), what="the result photo")
            closed = [m for m in team.group_messages() if "#2" in m.get("text", "")][0]
            assert not api.buttons(closed) and "5 svarede" in closed["text"]
            caption = str(photo[-1].params["caption"])
            assert caption.startswith("Tillidspuls #2 – resultat (5 svar)")
            assert "Gennemsnit 3,8" in caption  # 5, 4, 4, 3 and Emil's changed 3
            assert "Ja 3 · Delvist 2 · Nej 0" in caption  # Dorte's change counted
            assert "Til samtale i teamet:" in caption
            assert photo[-1].files["photo"][1] > 10_000  # a real PNG went up
            RESULT_PATH.write_text(caption, encoding="utf-8")  # noqa: ASYNC240 - for the note

    # Anonymity across everything the bot produced: messages, edits, captions, toasts, logs,
    # and the database it leaves behind.
    assert_nobody_named(team, everything_said(api))
    assert_nobody_named(team, caplog.text)
    for table in ("team_pulse_answers", "team_gov_votes", "team_gov_examples",
                  "team_gov_contributors", "team_gov_drafts"):
        rows = query(db, f"SELECT * FROM {table}")
        assert_nobody_named(team, repr(rows))
    # Nobody outside the group's admin was told anything privately except their own flow.
    for member in team.members:
        for text in api.sent_texts(member.id):
            assert "Tillidspuls" not in text and "Resultatet" not in text
    # Group etiquette: the bot posted only the pulses, their results and replies to admin
    # commands (the refusal included); everything else was an edit of those messages.
    posts = [c.method for c in api.calls if c.params.get("chat_id") == GROUP_ID
             and c.method in ("sendMessage", "sendPhoto")]
    texts = [str(c.params.get("text", ""))[:40] for c in api.calls
             if c.params.get("chat_id") == GROUP_ID and c.method == "sendMessage"]
    assert posts == ["sendMessage"] * 6 + ["sendPhoto"], texts
    # Telegram allows 20 messages a minute in a group; this whole run stayed under it.
    assert len(group_output(api)) < 20


async def test_governance_round_on_telegram(
        tmp_path: Path, real_dialogues: Dialogues, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="bot")
    ui = real_dialogues.strings
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        anna, bjorn, cecilie, dorte, emil = team.members
        async with InProcessBot(api, db, clock=clock, TILLIDSBOT_TEAM_TICK_SECONDS="0.05"):
            # Red and green governance: examples privately, a vote in the group.
            await team.say(team.admin, "/checkin governance 2")
            invitation = team.group_messages()[-1]["text"]
            link = f"https://t.me/{api.bot['username']}?start=gov_"
            assert link in invitation
            token = invitation.split("start=")[1].split()[0]
            assert api.sent_texts(team.admin.id)[-1] == ui("team_gov_leader_hello", "da")
            sent = {anna: [("red", "Dobbeltregistrering af besøg i omsorgssystemet"),
                           ("green", "Fælles faglig sparring om fredagen")],
                    bjorn: [("red", "dobbeltregistrering af besøg i omsorgssystemet!")],
                    cecilie: [("red", "Tidsstyring i kvarterer, spørg @anna_hp")],
                    dorte: [("green", "Fælles faglig sparring om fredagen")]}
            for member, examples in sent.items():
                for colour, text in examples:
                    await team.say(member, f"/start {token}", private=True)
                    intro = api.last_bot_message(member.id)
                    assert intro is not None
                    await team.press(member, intro, api.buttons(intro)[
                        0 if colour == "red" else 1]["callback_data"])
                    await team.say(member, text, private=True)
                    assert api.sent_texts(member.id)[-1] == ui("team_gov_thanks", "da")
            assert "Eksempler indtil nu: 5" in team.group_messages()[-1]["text"]
            await team.say(team.admin, "/checkin governance end")
            vote = team.group_messages()[-1]
            text = vote["text"]
            assert text.lower().count("dobbeltregistrering") == 1 and "(×2)" in text
            assert "Fælles faglig sparring om fredagen (×2)" in text
            assert "anna_hp" not in text
            first_red = [b for b in api.buttons(vote) if b["text"].startswith("1:")]
            assert [b["text"] for b in first_red] == ["1: Fjerne", "1: Forandre", "1: Leve med"]
            votes = {anna: 0, bjorn: 0, cecilie: 1, dorte: 0, emil: 2}
            for member, column in votes.items():
                assert await team.press(member, vote, first_red[column]["callback_data"]) == ui(
                    "team_toast_voted", "da")
            await team.press(emil, vote, first_red[1]["callback_data"])  # changes the vote
            clock.advance(timedelta(hours=48, minutes=1))
            result = await until(lambda: [t for t in api.sent_texts(team.admin.id)
                                          if "Resultatet af runden" in t],
                                 what="the leader's private result")
            final = team.group_messages()[-1]
            assert "Fjerne 3 · Forandre 2 · Leve med 0 → Fjerne" in final["text"]
            assert not api.buttons(final)
            assert "Fjerne 3 · Forandre 2 · Leve med 0" in result[-1]

    # Anonymity across everything the bot produced: messages, edits, captions, toasts, logs,
    # and the database it leaves behind.
    assert_nobody_named(team, everything_said(api))
    assert_nobody_named(team, caplog.text)
    for table in ("team_pulse_answers", "team_gov_votes", "team_gov_examples",
                  "team_gov_contributors", "team_gov_drafts"):
        rows = query(db, f"SELECT * FROM {table}")
        assert_nobody_named(team, repr(rows))
    # Nobody outside the group's admin was told anything privately except their own flow.
    for member in team.members:
        for text in api.sent_texts(member.id):
            assert "Tillidspuls" not in text and "Resultatet" not in text
    # Group etiquette: the bot posted only the pulses, their results and replies to admin
    # commands (the refusal included); everything else was an edit of those messages.
    posts = [c.method for c in api.calls if c.params.get("chat_id") == GROUP_ID
             and c.method in ("sendMessage", "sendPhoto")]
    assert posts == ["sendMessage"] * 2
    assert len(group_output(api)) < 20


async def test_an_anonymous_admin_opens_a_governance_round(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        async with InProcessBot(api, db, clock=clock):
            # Written as the group itself: Telegram hides who it is, so nobody can be told
            # anything privately, and nobody should be asked to open a private chat.
            anonymous = api.deliver({"message": {
                "message_id": 901, "date": 0, "chat": team.chat,
                "text": "/checkin governance 2",
                "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
                "from": {"id": 1087968824, "is_bot": True, "first_name": "Group",
                         "username": "GroupAnonymousBot"},
                "sender_chat": team.chat}})
            await team.done(anonymous)
            assert not [c for c in api.calls_of("sendMessage")
                        if c.params.get("chat_id") == 1087968824]
            texts = [m["text"] for m in team.group_messages()]
            assert "start=gov_" in texts[0]
            assert texts[1:] == [ui("team_gov_leader_anonymous", "da")]
            # No private result is owed to anyone, so the round stores no leader.
            assert query(db, "SELECT COUNT(*) FROM team_gov_leaders") == [(0,)]


async def test_an_unknown_round_link_is_answered_in_the_members_telegram_language(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        kari = api.user(5300000001, "Kari", "nb")
        james = api.user(5300000002, "James", "en")
        async with InProcessBot(api, db, clock=ManualClock(START)):
            for member, lang in ((kari, "nb"), (james, "en"), (team.members[0], "da")):
                await team.say(member, "/start gov_nosuchround", private=True)
                assert api.sent_texts(member.id)[-1] == ui("team_gov_unknown_link", lang)
