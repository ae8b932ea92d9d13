"""The /checkin setup button wizard end to end: the real bot (PTB) against the Bot API stand-in.

One group message is edited through cadence, weekday, time, time zone and language to a summary;
only administrators (checked with getChatMember, remembered for a minute) move it on; its state
is in SQLite, so it survives a restart, and old, altered or concurrent presses change nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.dialogue import Dialogues
from tests.botapi_standin import BotApiStandIn
from tests.test_team_e2e import GROUP_ID, START, Team, data_of
from tests.tgkit import InProcessBot, query, until

OTHER_GROUP = -1009876543210
SETTINGS = "SELECT cadence, weekday, at_time, timezone, language, status, next_pulse_at " \
           "FROM team_groups WHERE chat_id = ?"


def settings(db: Path, chat_id: int = GROUP_ID) -> tuple[Any, ...] | None:
    """A group's stored check-in settings."""
    rows = query(db, SETTINGS, (str(chat_id),))
    return rows[0] if rows else None


def wizard_row(db: Path) -> tuple[Any, ...]:
    """The newest wizard's stored state (status, step, version and choices)."""
    return query(db, "SELECT status, step, version, cadence, weekday, at_time, timezone, "
                     "pulse_language FROM team_setup_wizards ORDER BY id DESC LIMIT 1")[0]


def posts_in(api: BotApiStandIn, chat_id: int = GROUP_ID) -> list[str]:
    """The texts the bot posted (not edited) in a group."""
    return [str(c.params.get("text") or "") for c in api.calls_of("sendMessage")
            if c.params.get("chat_id") == chat_id]


def all_callback_data(api: BotApiStandIn) -> list[str]:
    """Every callback_data the bot put on a button, in posts and edits alike."""
    found = []
    for call in api.calls:
        markup = call.params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
            found += [str(b["callback_data"]) for b in row if "callback_data" in b]
    return found


def ticked(api: BotApiStandIn, message: dict[str, Any]) -> list[str]:
    """The labels marked as the current choice."""
    return [b["text"] for b in api.buttons(message) if b["text"].startswith("✓ ")]


async def pick(team: Team, label: str) -> dict[str, Any]:
    """An admin presses a button on the wizard; returns the wizard message as it is now."""
    wizard = team.group_messages()[-1]
    await team.press(team.admin, wizard, data_of(team.api, wizard, label))
    return team.group_messages()[-1]


async def test_admin_sets_the_pulse_up_with_buttons(tmp_path: Path,
                                                    real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        async with InProcessBot(api, db, clock=clock, TILLIDSBOT_TEAM_TICK_SECONDS="0.05"):
            await team.say(team.admin, "/checkin setup")
            first = team.group_messages()[-1]
            assert "trin 1 af 5" in first["text"]
            assert [b["text"] for b in api.buttons(first)] == [
                "Hver uge", "Hver anden uge", "Annullér"]
            assert not ticked(api, first)  # a new group: nothing chosen yet

            assert "Hvilken dag?" in (await pick(team, "Hver anden uge"))["text"]
            shown = await pick(team, "Torsdag")
            assert "/checkin setup 13:45" in shown["text"]  # typing a time still works
            assert [b["text"] for b in api.buttons(shown)][:6] == [
                "08:00", "09:00", "10:00", "12:00", "13:30", "14:30"]
            shown = await pick(team, "13:30")
            assert "Europe/Copenhagen" in [b["text"] for b in api.buttons(shown)]
            # Back: the time step again, with the choice made ticked.
            shown = await pick(team, "‹ Tilbage")
            assert ticked(api, shown) == ["✓ 13:30"]
            await pick(team, "✓ 13:30")
            shown = await pick(team, "Europe/Oslo")
            assert [b["text"] for b in api.buttons(shown)][:3] == [
                "Dansk", "Norsk (bokmål)", "English"]
            summary = await pick(team, "Norsk (bokmål)")
            # The summary speaks the chosen language.
            assert "Annenhver uke på torsdager kl. 13:30 (Europe/Oslo)" in summary["text"]
            assert "Språk: Norsk (bokmål)" in summary["text"]
            toast = await team.press(team.admin, summary, data_of(api, summary, "Lagre og start"))
            assert toast == ui("team_toast_wizard_saved", "nb")
            confirmation = team.group_messages()[-1]
            assert not api.buttons(confirmation)

            # Stored as chosen; the first pulse is Thursday 26 November, 13:30 in Oslo.
            assert settings(db) == ("biweekly", 3, "13:30", "Europe/Oslo", "nb", "active",
                                    "2026-11-26T12:30:00+00:00")
            # The confirmation is the very text the typed setup gives.
            api.group(OTHER_GROUP, "Hjemmeplejen Syd")
            api.set_member(OTHER_GROUP, team.admin, "administrator")
            await team.done(api.send_text(
                team.admin, "/checkin setup annenhver-uke torsdag 13:30 Europe/Oslo nb",
                api.chats[OTHER_GROUP]))
            assert confirmation["text"] == posts_in(api, OTHER_GROUP)[-1]
            assert "torsdag 26. november kl. 13:30" in confirmation["text"]

            # Group etiquette: the wizard was ONE message; every step after it was an edit.
            assert len(posts_in(api)) == 1
            wizard_id = first["message_id"]
            edits = [c for c in api.calls_of("editMessageText")
                     if c.params.get("chat_id") == GROUP_ID]
            assert edits and all(c.params["message_id"] == wizard_id for c in edits)
            assert confirmation["message_id"] == wizard_id
            assert len(posts_in(api)) + len(edits) < 20  # under Telegram's 20 a minute

            # Every button fits Telegram's 64 bytes of callback data.
            data = all_callback_data(api)
            assert data and all(len(d.encode()) <= 64 for d in data)
            assert all(d.startswith("tw:") for d in data)

            # The pulse comes at the chosen local time, in the chosen language.
            clock.set(datetime(2026, 11, 26, 12, 30, 30, tzinfo=UTC))
            pulse = await until(lambda: team.pulse(), what="the scheduled pulse")
            assert pulse["text"].startswith("Tillitspuls #1")


async def test_refusals_forgeries_and_old_wizards(tmp_path: Path,
                                                  real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        anna = team.members[0]
        async with InProcessBot(api, db, clock=clock):
            # Set up before (typed, with a time and a zone the wizard does not list): the
            # wizard starts from those settings, ticked.
            await team.say(team.admin, "/checkin setup ugentlig fredag 13:45 Europe/Helsinki da")
            before = settings(db)
            await team.say(team.admin, "/checkin setup")
            wizard = team.group_messages()[-1]
            assert ticked(api, wizard) == ["✓ Hver uge"]

            # A member's press is refused, after asking Telegram, and changes nothing.
            state = wizard_row(db)
            toast = await team.press(anna, wizard, data_of(api, wizard, "Hver anden uge"))
            assert toast == ui("team_toast_wizard_admins", "da")
            assert api.calls_of("getChatMember")[-1].params["user_id"] == anna.id
            assert team.group_messages()[-1] == wizard and wizard_row(db) == state

            shown = await pick(team, "✓ Hver uge")
            assert ticked(api, shown) == ["✓ Fredag"]
            shown = await pick(team, "✓ Fredag")
            assert ticked(api, shown) == ["✓ 13:45"]  # the group's own time is offered too
            time_data = data_of(api, shown, "10:00")
            shown = await pick(team, "✓ 13:45")
            assert ticked(api, shown) == ["✓ Europe/Helsinki"]

            # Forged presses: altered choice, version, wizard id, shape; a replay of an earlier
            # screen. Each gets a toast, and neither the wizard nor the message changes.
            state = wizard_row(db)
            prefix, wizard_number, version, _ = data_of(api, shown, "Europe/Oslo").split(":")
            forged = {
                f"tw:{wizard_number}:{version}:zMars/Olympus": "team_toast_wizard_closed",
                f"tw:{wizard_number}:{version}:t0345": "team_toast_wizard_closed",
                f"tw:{wizard_number}:{version}:s": "team_toast_wizard_closed",
                f"tw:{wizard_number}:{int(version) + 1}:zEurope/Oslo": "team_toast_wizard_moved",
                f"tw:{int(wizard_number) + 7}:{version}:zEurope/Oslo":
                    "team_toast_wizard_closed",
                "tw:x:1:cw": "team_toast_wizard_closed",
                time_data: "team_toast_wizard_moved",
            }
            for data, key in forged.items():
                assert await team.press(team.admin, shown, data) == ui(key, "da"), data
            assert team.group_messages()[-1] == shown and wizard_row(db) == state
            assert settings(db) == before

            # Finish it, then press buttons of the finished wizard: closed, nothing changes.
            await pick(team, "✓ Europe/Helsinki")
            summary = await pick(team, "✓ Dansk")
            assert "Hver uge om fredagen kl. 13:45 (Europe/Helsinki)" in summary["text"]
            save = data_of(api, summary, "Gem og start")
            await team.press(team.admin, summary, save)
            assert settings(db) == before  # the same settings, so the same next pulse
            done = team.group_messages()[-1]
            edits = len(api.calls_of("editMessageText"))
            for data in (save, time_data, data_of(api, wizard, "Hver anden uge")):
                assert await team.press(team.admin, done, data) == ui(
                    "team_toast_wizard_closed", "da")
            assert len(api.calls_of("editMessageText")) == edits
            assert settings(db) == before


async def test_replaced_cancelled_and_abandoned_wizards(tmp_path: Path,
                                                        real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        async with InProcessBot(api, db, clock=clock):
            # A second /checkin setup closes the wizard still open before it.
            await team.say(team.admin, "/checkin setup")
            older = team.group_messages()[-1]
            await team.say(team.admin, "/checkin setup")
            assert team.group_messages()[-2]["text"] == ui("team_wizard_replaced", "da")
            assert await team.press(team.admin, older, data_of(api, older, "Hver anden uge")) \
                == ui("team_toast_wizard_closed", "da")
            # Cancel: the message says so and the settings stay as they were.
            newest = team.group_messages()[-1]
            await team.press(team.admin, newest, data_of(api, newest, "Hver anden uge"))
            await pick(team, "Annullér")
            assert team.group_messages()[-1]["text"] == ui("team_wizard_cancelled", "da")
            assert settings(db) is None  # never set up, and still not
            # A wizard left a day untouched is closed.
            await team.say(team.admin, "/checkin setup")
            stale = team.group_messages()[-1]
            clock.advance(timedelta(days=1, minutes=1))
            assert await team.press(team.admin, stale, data_of(api, stale, "Hver uge")) == ui(
                "team_toast_wizard_closed", "da")
            assert settings(db) is None and len(posts_in(api)) == 3


async def test_wizard_survives_a_restart(tmp_path: Path, real_dialogues: Dialogues) -> None:
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        async with InProcessBot(api, db, clock=clock):
            await team.say(team.admin, "/checkin setup")
            await pick(team, "Hver uge")
            await pick(team, "Onsdag")
        # The bot stops half-way and starts again: the wizard goes on where it was.
        async with InProcessBot(api, db, clock=clock):
            shown = team.group_messages()[-1]
            assert "trin 3 af 5" in shown["text"]
            await pick(team, "08:00")
            await pick(team, "Europe/Copenhagen")
            summary = await pick(team, "Dansk")
            await team.press(team.admin, summary, data_of(api, summary, "Gem og start"))
        assert settings(db) == ("weekly", 2, "08:00", "Europe/Copenhagen", "da", "active",
                                "2026-11-25T07:00:00+00:00")
        assert len(posts_in(api)) == 1


async def test_two_admins_press_at_once(tmp_path: Path, real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        other = api.user(7000000002, "Morten", "da")
        api.set_member(GROUP_ID, other, "administrator")
        api.latency = lambda method: 0.02 if method == "getChatMember" else 0.0
        async with InProcessBot(api, db, clock=clock):
            await team.say(team.admin, "/checkin setup")
            wizard = team.group_messages()[-1]
            # Both press on the same screen before either is answered: one moves it on.
            first = api.press(team.admin, wizard, data=data_of(api, wizard, "Hver uge"))
            second = api.press(other, wizard, data=data_of(api, wizard, "Hver anden uge"))
            await asyncio.gather(team.done(first), team.done(second))
            toasts = [c.params.get("text") for c in api.calls_of("answerCallbackQuery")][-2:]
            assert sorted(toasts, key=str) == sorted(
                [None, ui("team_toast_wizard_moved", "da")], key=str)
            status, step, version, cadence, *_ = wizard_row(db)
            assert (status, step, version) == ("open", 1, 1)
            assert cadence in ("weekly", "biweekly")
            edits = [c for c in api.calls_of("editMessageText")
                     if c.params.get("chat_id") == GROUP_ID]
            assert len(edits) == 1


async def test_typed_setup_mid_wizard_completes_it_and_closes_it(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    clock = ManualClock(START)
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        async with InProcessBot(api, db, clock=clock):
            await team.say(team.admin, "/checkin setup")
            await pick(team, "Hver anden uge")
            at_time = await pick(team, "Torsdag")
            wizard = team.group_messages()[-1]
            # The time step says: none of these? Type your own, e.g. /checkin setup 13:45.
            assert "/checkin setup 13:45" in at_time["text"]
            await team.say(team.admin, "/checkin setup 13:45")
            # The typed time joins the choices made with the buttons so far.
            assert settings(db) == ("biweekly", 3, "13:45", "Europe/Copenhagen", "da",
                                    "active", "2026-11-26T12:45:00+00:00")
            assert "hver anden uge om torsdagen kl. 13:45" in posts_in(api)[-1]
            # The wizard is closed: its buttons are gone and a late press changes nothing.
            old = next(m for m in team.group_messages()
                       if m["message_id"] == wizard["message_id"])
            assert not api.buttons(old)
            toast = await team.press(team.admin, old, data_of(api, wizard, "09:00"))
            assert toast == ui("team_toast_wizard_closed", "da")
            assert (settings(db) or ())[2:3] == ("13:45",)

            # A wizard opened and then left for a full typed setup cannot undo it later.
            await team.say(team.admin, "/checkin setup")
            stale = team.group_messages()[-1]
            await team.say(team.admin,
                           "/checkin setup ugentlig mandag 08:00 Europe/Oslo nb")
            typed = settings(db)
            assert typed is not None and typed[:5] == ("weekly", 0, "08:00", "Europe/Oslo", "nb")
            toast = await team.press(team.admin, stale, data_of(api, stale, "✓ Hver anden uge"))
            assert toast == ui("team_toast_wizard_closed", "da")
            assert settings(db) == typed
