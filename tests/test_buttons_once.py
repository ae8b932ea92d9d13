"""Every button press counts once (issue 17): the real PTB app against the Bot API stand-in.

For every kind of button the bot sends, after one real press: a second press of the same button
(a double tap: its callback still shows the buttons the first press removed), a press of another
button on the now-closed message (stale), and the same data pressed by another leader (foreign,
from their own chat and from this one's message) are each answered exactly once, make no edit
(Telegram would answer 400 "message is not modified"), send nothing and leave the real SQLite
file as it was. A forged press from an inline message (no message, only its id) is answered.
The team buttons (the setup wizard, a pulse answer, a governance colour) too. On Teams, a
second Action.Submit of an onboarding or menu card changes nothing and updates no
card (no PUT).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.dialogue import Dialogues
from tests.botapi_standin import BotApiStandIn, User
from tests.connector_standin import ConnectorStandIn
from tests.schedule_support import seed_due_nudge
from tests.teamskit import Member, TeamsBot, buttons, card_of, shown_text
from tests.test_history_telegram import seed as seed_history
from tests.test_team_e2e import START, Team, data_of
from tests.tgkit import InProcessBot, Phone, query, until, update_status

EDITS = ("editMessageText", "editMessageReplyMarkup", "editMessageCaption")
SENDS = ("sendMessage", "sendPhoto", "sendDocument")
ALICE, BOB = 6101, 6202
TEAMS_LEADER = "0f0e0d0c-3333-4000-8000-000000000003"


@dataclass
class Target:
    """The button to press: the message as it showed when pressed, its data, another of its
    buttons (for the stale press)."""

    message: dict[str, Any]
    data: str
    other: str


def newest_with(phone: Phone, prefix: str) -> dict[str, Any]:
    """The newest message of the bot that shows a button whose data starts with prefix."""
    for message in reversed(phone.api.bot_messages(phone.user.id)):
        if any(str(b.get("callback_data", "")).startswith(prefix)
               for b in phone.api.buttons(message)):
            return message
    raise AssertionError(f"no message with a {prefix!r} button")


def target(phone: Phone, prefix: str, pick: str | None = None) -> Target:
    """The newest message with `prefix` buttons: press the one whose data starts with pick
    (default the first); 'other' is another button on it."""
    message = newest_with(phone, prefix)
    datas = [str(b["callback_data"]) for b in phone.api.buttons(message)
             if b.get("callback_data")]
    chosen = next(d for d in datas if d.startswith(pick or prefix))
    other = next((d for d in datas if d != chosen), chosen)
    return Target(json.loads(json.dumps(message)), chosen, other)


async def onboard(phone: Phone) -> None:
    """/start, a language and a time zone: a leader at the menu."""
    await phone.say("/start")
    await phone.press(newest_with(phone, "ob:l:"))
    await phone.press(newest_with(phone, "ob:t:"))


Setup = Callable[[Phone, Path], Awaitable[Target]]


async def language_step(phone: Phone, db: Path) -> Target:
    await phone.say("/start")
    return target(phone, "ob:l:")


async def timezone_step(phone: Phone, db: Path) -> Target:
    await phone.say("/start")
    await phone.press(newest_with(phone, "ob:l:"))
    return target(phone, "ob:t:")


async def schedule_intro(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    return target(phone, "st:", "st:keep")


async def menu(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    return target(phone, "m:start:")


async def language_menu(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    await phone.say("/language")
    return target(phone, "m:lang:", "m:lang:da")


async def settings_overview(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    await phone.say("/settings")
    return target(phone, "st:", "st:day")


async def settings_value(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    await phone.say("/settings")
    await phone.press(newest_with(phone, "st:"), data=target(phone, "st:", "st:day").data)
    return target(phone, "st:day:", "st:day:2")


async def history_entry(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    seed_history(db, phone.leader_id)
    await phone.say("/history")
    return target(phone, "hi:t:")


async def history_page(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    seed_history(db, phone.leader_id)
    await phone.say("/history")
    return target(phone, "hi:", "hi:p:")


async def forget_cancel(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    await phone.say("/forget")
    return target(phone, "fg:", "fg:no")


async def forget_confirm(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    await phone.say("/forget")
    return target(phone, "fg:", "fg:yes")


async def conversation(phone: Phone, db: Path) -> Target:
    await onboard(phone)
    await phone.press(newest_with(phone, "m:start:"), data=target(
        phone, "m:start:", "m:start:reflection").data)
    for _ in range(10):  # answer typed questions until one with buttons comes
        last = phone.last()
        datas = [str(b["callback_data"]) for b in phone.api.buttons(last)]
        if datas and not datas[0].startswith(("m:", "st:", "ob:", "sz:")):
            return Target(json.loads(json.dumps(last)), datas[0], datas[-1])
        await phone.say("Budgetopfølgningen for dagtilbud")
    raise AssertionError("no question with buttons")


async def snooze(phone: Phone, db: Path) -> Target:
    # The weekly nudge was due a minute before the bot started: it comes with snooze buttons.
    await until(lambda: ("sent",) in query(db, "SELECT status FROM schedules "
                                               "WHERE kind = 'nudge'"), what="the nudge")
    return target(phone, "sz:", "sz:")


KINDS: dict[str, Setup] = {
    "onboarding language": language_step,
    "onboarding time zone": timezone_step,
    "schedule intro (keep / day / time / zone)": schedule_intro,
    "menu": menu,
    "language menu": language_menu,
    "settings overview": settings_overview,
    "settings value (weekday)": settings_value,
    "history entry": history_entry,
    "history page": history_page,
    "forget cancel": forget_cancel,
    "forget confirm": forget_confirm,
    "snooze": snooze,
    "conversation question": conversation,
}


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the event ids (sealed cells as their stored bytes: any
    rewrite seals anew with a fresh nonce, so equal bytes mean untouched)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'inbound_events' "
            "AND name NOT LIKE 'sqlite_%'")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in tables}
    finally:
        conn.close()


@dataclass
class Effect:
    """What one press caused."""

    answers: int
    toasts: list[str | None]
    edits: int
    sends: int
    changed: list[str]


async def press(api: BotApiStandIn, db: Path, user: User, message: dict[str, Any], data: str,
                as_shown: bool = True) -> Effect:
    """Press once and wait until the bot is done with it; what it caused."""
    before_calls, before_db = len(api.calls), snapshot(db)
    update_id = api.press(user, message, data=data, as_shown=as_shown)
    await until(lambda: update_status(db, update_id) == "done", what=f"update {update_id}")
    query = next(q for q, v in api.callback_queries.items() if v.get("update_id") == update_id)
    calls = api.calls[before_calls:]
    answers = [c for c in calls if c.method == "answerCallbackQuery"
               and str(c.params.get("callback_query_id")) == query]
    after = snapshot(db)
    return Effect(answers=len(answers), toasts=[c.params.get("text") for c in answers],
                  edits=sum(c.method in EDITS for c in calls),
                  sends=sum(c.method in SENDS for c in calls),
                  changed=[t for t in after if after[t] != before_db.get(t)])


def closed(effect: Effect, toast: str) -> None:
    """Answered once with the closed notice; no edit, nothing sent, nothing stored."""
    assert (effect.answers, effect.toasts, effect.edits, effect.sends, effect.changed) == (
        1, [toast], 0, 0, [])


@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_button_counts_once(kind: str, tmp_path: Path,
                                    real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    if kind == "snooze":
        await seed_due_nudge(db, f"tg:{ALICE}", str(ALICE))
    toast = real_dialogues.strings("tg_closed", "da")
    async with BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open"):
        alice = Phone(api, db, api.user(ALICE, "Alice", "da"))
        bob = Phone(api, db, api.user(BOB, "Bob", "da"))
        await onboard(bob)
        goal = await KINDS[kind](alice, db)
        first = await press(api, db, alice.user, goal.message, goal.data)
        assert first.answers == 1  # the real press, for contrast: it did something
        assert first.sends or first.edits

        # A double tap: the second callback still shows the buttons the first one removed.
        closed(await press(api, db, alice.user, goal.message, goal.data), toast)
        # Stale: another button of that message, as it shows now.
        closed(await press(api, db, alice.user, goal.message, goal.other, as_shown=False), toast)
        # Foreign: Alice's data pressed by Bob on his own newest message, and on hers.
        closed(await press(api, db, bob.user, bob.last(), goal.data), toast)
        closed(await press(api, db, bob.user, goal.message, goal.data), toast)
        assert not [c for c in api.calls if c.method in EDITS and not c.ok]


async def test_a_press_from_an_inline_message_is_answered_and_does_nothing(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open"):
        alice = Phone(api, db, api.user(ALICE, "Alice", "da"))
        await onboard(alice)
        before, stored = len(api.calls), snapshot(db)
        data = target(alice, "m:start:").data
        update_id = api.press_inline(alice.user, data)
        query = next(q for q, v in api.callback_queries.items()
                     if v.get("update_id") == update_id)
        await until(lambda: api.answered(query), what="the answer")
        alice_after = await alice.say("/help")  # the chat goes on, in order
        assert alice_after
        calls = [c.method for c in api.calls[before:]]
        assert calls.count("answerCallbackQuery") == 1
        assert api.callback_queries[query]["text"] == real_dialogues.strings("tg_closed", "da")
        assert not [m for m in calls if m in EDITS]
        answered_at = calls.index("answerCallbackQuery")
        assert not [m for m in calls[:answered_at] if m in SENDS]  # nothing but the answer
    after = snapshot(db)
    assert after["sessions"] == stored["sessions"] and after["threads"] == stored["threads"]


async def test_a_double_submit_on_teams_changes_nothing_and_updates_no_card(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    closed_text = real_dialogues.strings("tg_closed", "da")
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=TEAMS_LEADER).start()
        lene = Member(connector, bot, TEAMS_LEADER, "Lene", "da-DK")
        await lene.say("/start")
        for card in ("language", "time zone", "menu"):
            card_id = [i for i in connector.ids(lene.conversation_id)
                       if card_of(connector.sent[i].activity)][-1]
            value = buttons(card_of(connector.sent[card_id].activity))[0]["data"]
            await lene.press()
            puts, stored = len(_puts(connector)), snapshot(db)
            mark = lene.mark()
            status, _ = await lene.post(lene.activity(value=value, replyToId=card_id, text=None))
            assert status in (200, 201, 202)
            await connector.wait_for(functools.partial(_more_than, lene, mark))
            again = connector.messages(lene.conversation_id)[mark:]
            assert [shown_text(a) for a in again] == [closed_text], card
            assert len(_puts(connector)) == puts, card  # the pressed card is not updated again
            assert snapshot(db) == stored, card
        await bot.stop()


def _more_than(member: Member, mark: int) -> bool:
    """Whether the bot has written more than mark activities to the member."""
    return member.mark() > mark


def _puts(connector: ConnectorStandIn) -> list[Any]:
    """The card updates the bot made."""
    return [c for c in connector.calls if c.method == "PUT"]


TEAM_KINDS = ("setup wizard", "pulse answer", "governance colour")


@pytest.mark.parametrize("kind", TEAM_KINDS)
async def test_a_team_button_counts_once(kind: str, tmp_path: Path,
                                         real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    db = tmp_path / "bot.db"
    async with BotApiStandIn() as api:
        team = Team(api, db)
        anna = team.members[0]
        async with InProcessBot(api, db, clock=ManualClock(START),
                                TILLIDSBOT_TEAM_TICK_SECONDS="0.05"):
            if kind == "setup wizard":
                await team.say(team.admin, "/checkin setup")
                presser, message = team.admin, team.group_messages()[-1]
                data = str(api.buttons(message)[0]["callback_data"])
                repeated = ui("team_toast_wizard_moved", "da")
            elif kind == "pulse answer":
                await team.say(team.admin, "/checkin setup ugentlig mandag 09:00 "
                                           "Europe/Copenhagen da")
                await team.say(team.admin, "/checkin now")
                found = team.pulse()
                assert found is not None
                presser, message, data = anna, found, data_of(api, found, "4")
                # A pulse answer can be changed until the pulse closes: the same answer again
                # is saved as it was (nothing changes, nothing is edited), and the toast says so.
                repeated = ui("team_toast_saved", "da")
            else:
                await team.say(team.admin, "/checkin governance 2")
                token = team.group_messages()[-1]["text"].split("start=")[1].split()[0]
                await team.say(anna, f"/start {token}", private=True)
                found = api.last_bot_message(anna.id)
                assert found is not None
                presser, message = anna, found
                data = str(api.buttons(message)[0]["callback_data"])
                repeated = ui("team_toast_stale", "da")
            message = json.loads(json.dumps(message))
            first = await press(api, db, presser, message, data)
            assert first.answers == 1 and (first.sends or first.edits or first.changed)
            closed(await press(api, db, presser, message, data), repeated)
        assert not [c for c in api.calls if c.method in EDITS and not c.ok]
