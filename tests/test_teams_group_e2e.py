"""End to end: team check-ins in a Teams group chat, on the real `tillidsbot run` in
TEAMS_TEST_MODE with the connector stand-in as serviceUrl.

Five members in a groupChat conversation (AAD object ids, the tenant, mention entities,
Action.Execute invokes for group presses, Action.Submit in the 1:1 chats, conversationUpdate
for the install). The installer is the first admin; a member who is not one changes nothing and
is told privately, once; an admin names a co-admin by @mention (looked up in the roster). The
pulse card's count is updated in place (PUT); 2 answers give only "too few", 3 the result and
the chart inline. A governance round collects examples in 1:1 chats the bot opens with POST
/v3/conversations from the invitation's button, and its result goes privately to the admin.
After each run no member's AAD id or name is in the SQLite files, the logs or any request the
bot made (beyond the `members` of POST /v3/conversations, which must name whom to open a chat
with).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.dialogue import Dialogues
from tests.connector_standin import Call, ConnectorStandIn
from tests.teamskit import BOT_ID, TENANT, TeamsBot, buttons, card_of, query, shown_text

GROUP = "19:7f3c2a10b9e84d6fa0c1d2e3f4a5b6c7@thread.v2"
APP_ID = "9a1b2c3d-0000-4000-8000-0000000000b0"
_ids = itertools.count(1)


@dataclass
class Person:
    """A member of the group chat."""

    connector: ConnectorStandIn
    bot: TeamsBot
    aad: str
    name: str
    teams_id: str  # the Teams user id (29:…) mentions and the roster use
    locale: str = "da-DK"

    def _activity(self, conversation: dict[str, Any], **content: Any) -> dict[str, Any]:
        """A Teams-shaped activity from this member."""
        return {
            "type": "message", "id": f"1710000{next(_ids):06d}",
            "timestamp": "2026-12-02T07:00:00.000Z", "locale": self.locale,
            "from": {"id": self.teams_id, "name": self.name, "aadObjectId": self.aad},
            "recipient": {"id": BOT_ID, "name": "Tillidsbot"},
            "conversation": conversation, "channelData": {"tenant": {"id": TENANT}}, **content}

    def in_group(self, **content: Any) -> dict[str, Any]:
        """An activity in the group chat."""
        return self._activity({"id": GROUP, "conversationType": "groupChat",
                               "tenantId": TENANT, "isGroup": True,
                               "name": "Team Nord"}, **content)

    @property
    def chat(self) -> str:
        """Their 1:1 conversation, as the stand-in opened it for the bot."""
        return self.connector.chats[self.aad]

    async def install(self) -> None:
        """They add the app to the group chat."""
        await self.post(self.in_group(type="conversationUpdate", text=None,
                                      membersAdded=[{"id": BOT_ID}]))

    async def mention(self, text: str, *named: Person) -> int:
        """'@Tillidsbot <text> @named…' in the group; the HTTP status."""
        entities = [{"type": "mention", "text": "<at>Tillidsbot</at>",
                     "mentioned": {"id": BOT_ID, "name": "Tillidsbot"}}]
        body = f"<at>Tillidsbot</at> {text}"
        for other in named:
            body += f" <at>{other.name}</at>"
            entities.append({"type": "mention", "text": f"<at>{other.name}</at>",
                             "mentioned": {"id": other.teams_id, "name": other.name}})
        status, _ = await self.post(self.in_group(text=body, textFormat="plain",
                                                  entities=entities))
        return status

    async def press(self, card_id: str, data: dict[str, Any]) -> tuple[int, Any]:
        """An Action.Execute press on a group card: an adaptiveCard/action invoke."""
        return await self.post(self.in_group(
            type="invoke", name="adaptiveCard/action", text=None, replyToId=card_id,
            value={"action": {"type": "Action.Execute", "verb": "tb", "data": data},
                   "trigger": "manual"}))

    async def submit_in_group(self, card_id: str, data: dict[str, Any]) -> int:
        """An Action.Submit press on a group card (a message with value, as older clients
        send): it counts, and nothing is posted in its answer."""
        status, _ = await self.post(self.in_group(value=data, replyToId=card_id, text=None))
        return status

    def _personal(self, **content: Any) -> dict[str, Any]:
        """An activity in their 1:1 chat with the bot."""
        return self._activity({"id": self.chat, "conversationType": "personal",
                               "tenantId": TENANT}, **content)

    async def submit(self, data: dict[str, Any], card_id: str) -> int:
        """An Action.Submit press in their 1:1 chat (a message with value)."""
        status, _ = await self.post(self._personal(value=data, replyToId=card_id, text=None))
        return status

    async def write(self, text: str) -> int:
        """A message in their 1:1 chat."""
        status, _ = await self.post(self._personal(text=text, textFormat="plain"))
        return status

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        """POST to the bot's /api/messages."""
        status, body = await self.connector.post_activity(self.bot.url, activity)
        assert status in (200, 201, 202), (status, body)
        return status, body


def people(connector: ConnectorStandIn, bot: TeamsBot) -> list[Person]:
    """Five members; the roster answers for each, as Teams' GET members would."""
    names = ["Annelise Aasgaard", "Bodil Birkholm", "Caspian Carlsen", "Dorthea Dybdahl",
             "Elias Eskesen"]
    members = [Person(connector, bot, f"5e1d0c0b-{n:04d}-4000-8000-00000000c00{n}", name,
                      f"29:1QxR{n}vZk-teamsid-{n:02d}")
               for n, name in enumerate(names, start=1)]
    for member in members:
        connector.roster[member.teams_id] = {
            "id": member.teams_id, "name": member.name, "aadObjectId": member.aad,
            "tenantId": TENANT, "userRole": "user"}
    return members


def group_texts(connector: ConnectorStandIn) -> list[str]:
    """What the group sees now, in order."""
    return [shown_text(a) for a in connector.messages(GROUP)]


def count_line(ui: Any, count: int) -> str:
    """The pulse card's last line: how many have answered."""
    return str(ui("team_pulse_footer", "da", count=count, minimum=3, closes="-")).splitlines()[-1]


async def messages_in(connector: ConnectorStandIn, chat: str, count: int) -> None:
    """Wait until a conversation holds count activities of the bot."""
    await connector.wait_for(lambda: len(connector.messages(chat)) == count)


def creates(connector: ConnectorStandIn) -> list[Call]:
    """The bot's POST /v3/conversations calls."""
    return [c for c in connector.calls if c.method == "POST" and c.path == "/v3/conversations"]


def assert_nobody_named(tmp_path: Path, bot_output: str, connector: ConnectorStandIn,
                        members: list[Person]) -> None:
    """No AAD id or name in the database files, the logs or the bot's requests."""
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir()
                      if p.name.startswith("bot.db") and p.is_file())
    requests = []
    for call in connector.calls:
        body = dict(call.body or {})
        if call.path == "/v3/conversations":
            # The one place a member must be named: whom to open the 1:1 with.
            assert [m.get("id") for m in body.pop("members")] != []
        requests.append(f"{call.method} {call.path} {json.dumps(body, ensure_ascii=False)}")
    sent = "\n".join(requests)
    for member in members:
        for secret in (member.aad, member.aad.upper(), member.name, *member.name.split()):
            assert secret.encode() not in stored, f"{secret!r} is in the database"
            assert secret not in bot_output, f"{secret!r} is in the log"
            assert secret not in sent, f"{secret!r} went to the connector"


def write_record(tmp_path: Path, connector: ConnectorStandIn) -> None:
    """Keep the group's transcript and every connector call beside the test's files."""
    (tmp_path / "transcript.txt").write_text("\n".join(connector.transcript(GROUP)))
    (tmp_path / "calls.txt").write_text("\n".join(
        f"{c.method} {c.path} -> {c.status}" for c in connector.calls))


async def started(connector: ConnectorStandIn, db: Path) -> tuple[TeamsBot, list[Person]]:
    """The bot running, the five members, and the app installed by the first of them."""
    connector.opaque_chats = True
    bot = await TeamsBot(connector, db, TEAMS_APP_ID=APP_ID, LOG_LEVEL="DEBUG").start()
    members = people(connector, bot)
    await members[0].install()
    await connector.wait_for(lambda: connector.messages(GROUP))
    return bot, members


async def test_a_teams_group_pulse_counts_in_place_and_shows_results_from_three(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    db = tmp_path / "bot.db"
    async with ConnectorStandIn() as connector:
        bot, members = await started(connector, db)
        anne, bo, cai, dorte, eli = members
        assert group_texts(connector) == [ui("teams_team_hello", "da")]

        # Bo is not an admin: nothing changes, and he alone is told, privately, once.
        await bo.mention("checkin setup ugentlig fredag 13:30 Europe/Copenhagen da")
        await connector.wait_for(lambda: len(creates(connector)) == 1)
        assert connector.messages(bo.chat)[-1]["text"] is not None
        assert shown_text(connector.messages(bo.chat)[-1]) == ui("team_admin_only", "da")
        await bo.mention("checkin puls")
        assert query(db, "SELECT COUNT(*) FROM team_groups") == [(0,)]
        assert query(db, "SELECT COUNT(*) FROM team_pulses") == [(0,)]
        assert len(group_texts(connector)) == 1 and len(connector.messages(bo.chat)) == 1

        # Anne installed the app: she sets the pulse up, in Danish words.
        await anne.mention("tillidspuls opsæt ugentlig fredag 13:30 Europe/Copenhagen da")
        await connector.wait_for(lambda: len(group_texts(connector)) == 2)
        assert query(db, "SELECT channel, chat_id, status FROM team_groups") == [
            ("teams", GROUP, "active")]

        # She names Cai co-admin by @mention (his AAD id comes from the roster).
        await anne.mention("checkin admin", cai)
        await connector.wait_for(lambda: len(group_texts(connector)) == 3)
        assert group_texts(connector)[-1] == ui("teams_team_admin_added", "da")
        assert query(db, "SELECT COUNT(*) FROM team_admins") == [(2,)]

        # Cai, now an admin, opens a pulse: one card, its buttons Action.Execute.
        await cai.mention("checkin puls")
        await connector.wait_for(lambda: len(group_texts(connector)) == 4)
        card_id = connector.ids(GROUP)[-1]
        card = card_of(connector.sent[card_id].activity)
        assert card is not None and card["version"] == "1.5"
        actions = buttons(card)
        assert {a["type"] for a in actions} == {"Action.Execute"}
        assert [a["title"] for a in actions[:5]] == ["1", "2", "3", "4", "5"]
        (tmp_path / "pulse_card.json").write_text(
            json.dumps(connector.sent[card_id].activity, ensure_ascii=False, indent=2))
        assert shown_text(connector.sent[card_id].activity).endswith(count_line(ui, 0))

        puts = len([c for c in connector.calls if c.method == "PUT"])
        for presser, value in ((bo, "4"), (dorte, "2")):
            data = next(a["data"] for a in actions if a["title"] == value)
            status, answer = await presser.press(card_id, data)
            # The confirmation goes back in the invoke's answer, to the presser only.
            assert status == 200 and answer["value"] == ui("team_toast_saved", "da")
        await connector.wait_for(
            lambda: len([c for c in connector.calls if c.method == "PUT"]) == puts + 2)
        record = connector.sent_record(card_id)
        assert len(record.versions) == 2, "the count was not updated in place"
        assert len(group_texts(connector)) == 4, "a press posted something in the group"
        assert shown_text(record.versions[1]).endswith(count_line(ui, 1))
        assert shown_text(record.activity).endswith(count_line(ui, 2))

        await anne.mention("checkin luk")
        await connector.wait_for(lambda: len(group_texts(connector)) == 5)
        assert group_texts(connector)[-1] == ui("team_too_few", "da", seq=1, count=2,
                                                minimum=3)
        assert buttons(card_of(connector.sent[card_id].activity)) == []  # closed in place
        assert not any(a.get("contentType", "").startswith("image/")
                       for m in connector.messages(GROUP) for a in m.get("attachments") or [])

        await anne.mention("checkin puls")
        await connector.wait_for(lambda: len(group_texts(connector)) == 6)
        second = connector.ids(GROUP)[-1]
        second_actions = buttons(card_of(connector.sent[second].activity))
        for presser, value in ((bo, "5"), (dorte, "4")):
            data = next(a["data"] for a in second_actions if a["title"] == value)
            await presser.press(second, data)
        shown = len(group_texts(connector))
        await eli.submit_in_group(second, next(a["data"] for a in second_actions
                                               if a["title"] == "4"))
        assert len(group_texts(connector)) == shown
        meaning = second_actions[5]["data"]
        await bo.press(second, meaning)  # a second answer from Bo is not a fourth respondent
        await connector.wait_for(lambda: shown_text(connector.sent[second].activity).endswith(
            count_line(ui, 3)))
        await anne.mention("checkin luk")
        await connector.wait_for(lambda: any(
            a.get("contentType") == "image/png" for m in connector.messages(GROUP)
            for a in m.get("attachments") or []))
        result = connector.messages(GROUP)[-1]
        [image] = result["attachments"]
        assert image["contentUrl"].startswith("data:image/png;base64,")
        assert len(image["contentUrl"]) < 1.4 * 1024 * 1024
        assert "#2" in shown_text(result) and "3" in shown_text(result)
        assert query(db, "SELECT COUNT(*) FROM team_pulse_answers") == [(0,)]  # forgotten

        # Anne hands the task over to Dorthea: Anne changes nothing any more, Dorthea can.
        await anne.mention("checkin overdrag", dorte)
        await connector.wait_for(
            lambda: group_texts(connector)[-1] == ui("teams_team_admin_handed", "da"))
        shown = len(group_texts(connector))
        await anne.mention("checkin pause")
        assert len(group_texts(connector)) == shown
        assert query(db, "SELECT status FROM team_groups") == [("active",)]
        await dorte.mention("checkin pause")
        await connector.wait_for(lambda: len(group_texts(connector)) == shown + 1)
        assert query(db, "SELECT status FROM team_groups") == [("paused",)]
        assert query(db, "SELECT COUNT(*) FROM team_admins") == [(2,)]  # Cai and Dorthea

        # The setup wizard: only an admin's presses count (the bot's own list, not Graph).
        await dorte.mention("checkin setup")
        await connector.wait_for(lambda: len(group_texts(connector)) == shown + 2)
        wizard = connector.ids(GROUP)[-1]
        step = buttons(card_of(connector.sent[wizard].activity))[0]["data"]
        _, answer = await bo.press(wizard, step)
        assert answer["value"] == ui("team_toast_wizard_admins", "da")
        assert connector.sent_record(wizard).versions == []
        await dorte.press(wizard, step)
        assert len(connector.sent_record(wizard).versions) == 1  # the wizard's next step
        await bot.stop()
    assert_nobody_named(tmp_path, bot.output, connector, members)
    write_record(tmp_path, connector)


async def test_a_teams_governance_round_collects_examples_in_one_to_one_chats(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    db = tmp_path / "bot.db"
    async with ConnectorStandIn() as connector:
        bot, members = await started(connector, db)
        anne, bo, cai, dorte, eli = members
        await anne.mention("checkin setup ugentlig fredag 13:30 Europe/Copenhagen da")
        await connector.wait_for(lambda: len(group_texts(connector)) == 2)

        await anne.mention("checkin styring")
        # The invitation in the group, and a 1:1 the bot opened with Anne for the result.
        await connector.wait_for(lambda: anne.aad in connector.chats and connector.messages(
            anne.chat))
        assert shown_text(connector.messages(anne.chat)[-1]) == ui("team_gov_leader_hello", "da")
        invitation = connector.ids(GROUP)[-1]
        [send] = buttons(card_of(connector.sent[invitation].activity))
        assert send["title"] == ui("team_gov_send_button", "da")
        assert send["type"] == "Action.Execute"

        examples = [(bo, "Dobbeltregistrering af kørsel i to systemer"),
                    (cai, "Ugentlige statusmøder uden dagsorden"),
                    (dorte, "Tre underskrifter på hver indkøbsordre")]
        for member, example in examples:
            status, answer = await member.press(invitation, send["data"])
            assert status == 200 and answer["value"] == ui("teams_team_private_opened", "da")
            chat = member.chat
            intro = connector.ids(chat)[-1]
            assert shown_text(connector.sent[intro].activity) == ui("team_gov_intro", "da")
            colours = buttons(card_of(connector.sent[intro].activity))
            assert {c["type"] for c in colours} == {"Action.Submit"}
            await member.submit(colours[0]["data"], intro)  # red
            await messages_in(connector, chat, 2)
            await member.write(example)
            await messages_in(connector, chat, 3)
            assert shown_text(connector.messages(member.chat)[-1]).startswith(
                ui("team_gov_thanks", "da")[:20])
        # Bo presses again: his 1:1 is reused, not opened anew.
        before = len(creates(connector))
        await bo.press(invitation, send["data"])
        assert len(creates(connector)) == before
        assert len(connector.messages(bo.chat)) == 4
        assert query(db, "SELECT COUNT(*) FROM team_gov_examples") == [(3,)]
        opened = [c.body["members"][0]["id"] for c in creates(connector) if c.body]
        assert sorted(opened) == sorted([anne.aad, bo.aad, cai.aad, dorte.aad])
        assert all(c.body and c.body["tenantId"] == TENANT for c in creates(connector))

        # Eli is no admin: he cannot end the collection.
        await eli.mention("checkin styring slut")
        assert query(db, "SELECT status FROM team_gov_rounds") == [("collecting",)]

        await anne.mention("checkin styring slut")
        await connector.wait_for(lambda: query(db, "SELECT status FROM team_gov_rounds") == [
            ("voting",)] and len(buttons(card_of(connector.messages(GROUP)[-1]) or {})) > 0)
        vote_id = connector.ids(GROUP)[-1]
        votes = buttons(card_of(connector.sent[vote_id].activity))
        assert all(text in shown_text(connector.sent[vote_id].activity)
                   for _, text in examples)
        for member in (bo, cai, eli):
            status, answer = await member.press(vote_id, votes[0]["data"])
            assert answer["value"] == ui("team_toast_voted", "da")
        await anne.mention("checkin styring slut")
        await connector.wait_for(lambda: len(connector.messages(anne.chat)) == 2)
        result = shown_text(connector.messages(anne.chat)[-1])
        assert all(text in result for _, text in examples)
        assert query(db, "SELECT status, notified FROM team_gov_rounds") == [("closed", 1)]
        assert query(db, "SELECT COUNT(*) FROM team_gov_leaders") == [(0,)]
        assert buttons(card_of(connector.sent[vote_id].activity)) == []

        # The app is removed and Eli adds it again: the check-ins stopped, and he is the admin.
        await anne.post(anne.in_group(type="conversationUpdate", text=None,
                                      membersRemoved=[{"id": BOT_ID}]))
        assert query(db, "SELECT status FROM team_groups") == [("off",)]
        assert query(db, "SELECT COUNT(*) FROM team_admins") == [(0,)]
        shown = len(group_texts(connector))
        await eli.install()
        await eli.mention("checkin setup ugentlig mandag 09:00 Europe/Copenhagen da")
        await connector.wait_for(lambda: len(group_texts(connector)) == shown + 2)
        assert query(db, "SELECT status, weekday FROM team_groups") == [("active", 0)]
        await bot.stop()
    assert_nobody_named(tmp_path, bot.output, connector, members)
    write_record(tmp_path, connector)
