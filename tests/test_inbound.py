"""The inbound pipeline once, channel-free: a recording channel, a real core on a real file.

Events come from a channel named 'teams' (no adapter exists yet: the pipeline must not care),
leaders are let in by invite code. Covered: a repeated event id, a refused person, onboarding,
a crash between the commit and the send (the repeat resumes and applies nothing twice), a
failing feature (the leader is told and keeps their place), and the rendering hints.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot import buttons, identity
from bot.app import Core
from bot.channels.compose import JOIN
from bot.dialogue.state import Button, OutMessage
from bot.inbound import Inbound, InEvent, Reply
from bot.service import Request
from bot.store import crypto
from bot.store import telegram as admission
from tests.history_helpers import make_core

CHANNEL = identity.TEAMS
USER = "29:1a2b-leader"
REFERENCE = '{"conversation": {"id": "a:1"}, "serviceUrl": "http://127.0.0.1/"}'
CODE = "teamsinvite01"


class Recorder:
    """A channel that keeps every reply it is asked to draw."""

    def __init__(self, can_edit: bool = True) -> None:
        """Record replies; can_edit as a platform with toasts and edits (or not)."""
        self.can_edit = can_edit
        self.replies: list[Reply] = []
        self.crash: BaseException | None = None

    async def render(self, event: InEvent, reply: Reply) -> None:
        """Keep the reply, or die as the process would (the reply never leaves)."""
        if self.crash is not None:
            crash, self.crash = self.crash, None
            raise crash
        self.replies.append(reply)

    def texts(self) -> list[str]:
        """Every message text drawn so far."""
        return [m.text for r in self.replies for m in r.messages]


class Crash(BaseException):
    """The process dying between the commit and the send (not an error the bot handles)."""


class Ids:
    """Fresh event ids."""

    def __init__(self) -> None:
        """Start at 1."""
        self.n = 0

    def __call__(self) -> str:
        """The next id."""
        self.n += 1
        return f"activity-{self.n}"


def event(event_id: str, kind: str = "text", **fields: Any) -> InEvent:
    """An event of the leader (or of `user_id=` someone else)."""
    base = InEvent(channel=CHANNEL, event_id=event_id, user_id=USER, reference=REFERENCE,
                   kind="other", language="da-DK")
    return replace(base, kind=kind, **fields)  # type: ignore[arg-type]


def rows(core: Core, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the database from outside the bot."""
    with sqlite3.connect(core.store.path) as conn:
        return conn.execute(sql, params).fetchall()


async def invited(tmp_path: Path) -> tuple[Core, Inbound, Recorder, Ids]:
    """A core with one invite code; the leader has redeemed it and finished onboarding."""
    core = await make_core(tmp_path)
    async with core.store.transaction() as tx:
        await admission.create_invite(tx, CODE, 1, None, "2026-11-23T08:00:00+00:00")
    channel, ids = Recorder(), Ids()
    await core.inbound.handle(event(ids(), "command", command="start", text=CODE), channel)
    for _ in range(2):  # language, then time zone: the first button of each
        prompt = channel.replies[-1].messages[-1]
        await core.inbound.handle(event(ids(), "button", data=prompt.buttons[0][0].data),
                                  channel)
    # One message: the time zone, the weekly time offered and the menu (its buttons first).
    [done] = channel.replies[-1].messages
    ui, menu = core.service.ui, core.service.menu("da")
    parts = done.text.split(JOIN)
    assert [parts[0], parts[-1], len(parts)] == [
        ui("ob_timezone_set", "da", timezone="Europe/Copenhagen"), ui("menu", "da"), 3]
    assert [[b.label for b in row] for row in done.buttons[:len(menu.buttons)]] == [
        [b.label for b in row] for row in menu.buttons]
    assert done.buttons[len(menu.buttons)][0].data.startswith("st:keep")
    return core, core.inbound, channel, ids


def step(core: Core) -> int | None:
    """The leader's stored dialogue step."""
    import json

    leader_id = identity.leader_id(CHANNEL, USER)
    found = rows(core, "SELECT state FROM sessions WHERE leader_id = ?", (leader_id,))
    if not found or found[0][0] is None:
        return None
    # Sealed at rest: opened with the core's own keyring, as the store does.
    state = crypto.open_stored(core.store.keys, "sessions", "state", {"leader_id": leader_id},
                               found[0][0])
    return None if state is None else int(json.loads(state)["step"])


async def test_a_new_leader_is_onboarded_once_and_keeps_their_reference(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    async with core.store.transaction() as tx:
        await admission.create_invite(tx, CODE, 1, None, "2026-11-23T08:00:00+00:00")
    channel = Recorder()
    reply = await core.inbound.handle(event("e1", "command", command="start", text=CODE),
                                      channel)
    assert reply is not None
    ui = core.service.ui
    # One message: the welcome on top of the language question.
    assert [m.text for m in reply.messages] == [
        JOIN.join([ui("welcome", "da"), ui("choose_language", "da")])]
    leader_id = identity.leader_id(CHANNEL, USER)
    assert rows(core, "SELECT leader_id, chat_id, admitted_via FROM leaders") == [
        (leader_id, REFERENCE, "invite")]
    # The next contact is no longer a first one: /start shows the welcome and the menu.
    again = await core.inbound.handle(event("e2", "command", command="start"), channel)
    assert again is not None
    # One message: the welcome, the weekly time (never offered yet) and the menu.
    [start] = again.messages
    parts = start.text.split(JOIN)
    assert [parts[0], parts[-1], len(parts)] == [ui("welcome", "da"), ui("menu", "da"), 3]
    assert ui("choose_language", "da") not in [m.text for m in again.messages]
    await core.close()


async def test_a_repeated_event_id_is_applied_once(tmp_path: Path) -> None:
    core, inbound, channel, ids = await invited(tmp_path)
    await inbound.handle(event(ids(), "command", command="delegate"), channel)
    before = step(core)
    answer = event(ids(), "text", text="Ugeplanen til KL (pædagog)")
    first = await inbound.handle(answer, channel)
    assert first is not None and step(core) == (before or 0) + 1
    drawn = len(channel.replies)
    assert await inbound.handle(answer, channel) is None  # the platform delivered it again
    assert len(channel.replies) == drawn and step(core) == (before or 0) + 1
    assert rows(core, "SELECT count(*) FROM answers") == [(1,)]
    assert rows(core, "SELECT status FROM inbound_events WHERE event_id = ?",
                (answer.event_id,)) == [("done",)]
    await core.close()


async def test_a_person_the_gate_refuses_is_told_once_and_nothing_is_stored(
        tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    channel = Recorder()
    stranger = {"user_id": "29:stranger", "language": "nb-NO"}
    reply = await core.inbound.handle(event("s1", "text", text="Hei", **stranger), channel)
    assert reply is not None
    assert [m.text for m in reply.messages] == [core.service.ui("tg_refused", "nb")]
    pressed = await core.inbound.handle(event("s2", "button", data="x:1", **stranger), channel)
    assert pressed is not None
    assert pressed.toast == core.service.ui("tg_closed", "nb")
    assert pressed.messages == []  # at most one refusal a minute
    wrong_code = event("s3", "command", command="start", text="notacode", **stranger)
    await core.inbound.handle(wrong_code, channel)
    for table in ("leaders", "sessions", "inbound_events", "answers"):
        assert rows(core, f"SELECT count(*) FROM {table}") == [(0,)], table
    await core.close()


async def test_a_crash_between_commit_and_send_resumes_and_applies_nothing_twice(
        tmp_path: Path) -> None:
    core, inbound, channel, ids = await invited(tmp_path)
    await inbound.handle(event(ids(), "command", command="delegate"), channel)
    question = channel.replies[-1].messages[-1]
    before = step(core)
    answer = event(ids(), "text", text="Vagtplanen til teamet")
    channel.crash = Crash()
    with pytest.raises(Crash):
        await inbound.handle(answer, channel)
    # Committed before the send: the answer is stored, the event is still 'processing'.
    assert step(core) == (before or 0) + 1
    assert rows(core, "SELECT status FROM inbound_events WHERE event_id = ?",
                (answer.event_id,)) == [("processing",)]
    await core.close()

    # The restarted bot gets the same event again: it shows where things stand instead.
    core = await make_core(tmp_path)
    channel = Recorder()
    reply = await core.inbound.handle(answer, channel)
    assert reply is not None
    assert reply.messages[0].text.startswith(core.service.ui("resume", "da") + JOIN)
    # The next question, not the same again.
    assert not reply.messages[-1].text.endswith(question.text)
    assert step(core) == (before or 0) + 1
    assert rows(core, "SELECT count(*) FROM answers") == [(1,)]
    assert rows(core, "SELECT status FROM inbound_events WHERE event_id = ?",
                (answer.event_id,)) == [("done",)]
    await core.close()


async def test_a_failing_feature_tells_the_leader_who_keeps_their_place(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    core, inbound, channel, ids = await invited(tmp_path)

    secret = " ".join(("a", "private", "detail"))  # built at run time: not in the source

    async def broken(request: Request) -> list[OutMessage]:
        raise RuntimeError(secret)

    core.service.register_command("broken", broken)
    await inbound.handle(event(ids(), "command", command="delegate"), channel)
    await inbound.handle(event(ids(), "text", text="Ugeplanen til KL"), channel)
    question, before = channel.replies[-1].messages[-1].text, step(core)
    failing = event(ids(), "command", command="broken")
    assert await inbound.handle(failing, channel) is None
    ui = core.service.ui
    told = [m.text for m in channel.replies[-1].messages]
    # One message: the apology, 'where we were' and the open question.
    assert told == [JOIN.join([ui("tg_error", "da"), ui("resume", "da"), question])]
    assert step(core) == before  # their place is kept
    assert rows(core, "SELECT status FROM inbound_events WHERE event_id = ?",
                (failing.event_id,)) == [("done",)]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed with RuntimeError" in logged and secret not in logged
    await core.close()


async def test_button_presses_come_with_hints_for_the_pressed_prompt(tmp_path: Path) -> None:
    core, inbound, channel, ids = await invited(tmp_path)
    menu = channel.replies[-1].messages[-1]
    pressed = await inbound.handle(event(ids(), "button", data=menu.buttons[0][0].data),
                                   channel)
    assert pressed is not None
    assert pressed.toast == "" and pressed.pressed == "mark_chosen"  # answered silently
    old = await inbound.handle(event(ids(), "button", data=menu.buttons[0][0].data), channel)
    assert old is not None  # the same menu button again (a double tap): closed, no effect
    assert old.toast == core.service.ui("tg_closed", "da")
    assert old.pressed == "clear_buttons" and old.messages == []
    # A menu drawn since (after /cancel) and still current when a command started a
    # conversation: busy, and the question.
    await inbound.handle(event(ids(), "command", command="cancel"), channel)
    fresh = channel.replies[-1].messages[-1]
    await inbound.handle(event(ids(), "command", command="delegate"), channel)
    busy = await inbound.handle(event(ids(), "button", data=fresh.buttons[0][0].data), channel)
    assert busy is not None
    assert busy.pressed == "mark_chosen" and busy.messages[0].kind == "error"

    async def refuse(request: Request) -> list[OutMessage]:
        return [OutMessage(text="no", kind="error")]

    core.service.register_buttons("zz", refuse, guarded=False)
    rejected = await inbound.handle(event(ids(), "button", data="zz:1"), channel)
    assert rejected is not None  # only errors: the pressed question stays open as it was
    assert rejected.toast == "" and rejected.pressed == "keep"
    forged = await inbound.handle(event(ids(), "button", data=""), channel)
    assert forged is not None
    assert forged.toast == core.service.ui("tg_closed", "da") and forged.messages == []
    stale = await inbound.handle(event(ids(), "button", data="ob:zz"), channel)
    assert stale is not None
    assert stale.toast == core.service.ui("tg_closed", "da")
    assert stale.pressed == "clear_buttons" and stale.messages == []
    # A channel that edits nothing (the terminal) is shown the current question instead.
    terminal = Recorder(can_edit=False)
    shown = await inbound.handle(event(ids(), "button", data="ob:zz"), terminal)
    assert shown is not None and shown.toast is None
    assert shown.messages[0].key == "stale_button"
    assert shown.messages[-1].node is not None  # the question the conversation is at
    await core.close()


async def test_a_confirmation_rides_on_the_next_question_in_one_message(
        tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    async with core.store.transaction() as tx:
        await admission.create_invite(tx, CODE, 1, None, "2026-11-23T08:00:00+00:00")
    channel, ids, ui = Recorder(), Ids(), core.service.ui
    await core.inbound.handle(event(ids(), "command", command="start", text=CODE), channel)
    language = channel.replies[-1].messages[-1]
    chosen = await core.inbound.handle(
        event(ids(), "button", data=language.buttons[0][0].data), channel)
    assert chosen is not None and chosen.pressed == "mark_chosen"  # the answer is marked
    [zones] = chosen.messages  # 'language set' on top of the time-zone question, its buttons
    assert zones.text == JOIN.join([ui("language_set", "da"), ui("ob_timezone_question", "da")])
    assert zones.kind == "prompt" and zones.buttons[0][0].data.startswith("ob:t:")
    # The same on /language from the menu: the confirmation and the menu in one message.
    await core.inbound.handle(event(ids(), "button", data=zones.buttons[0][0].data), channel)
    asked = await core.inbound.handle(event(ids(), "command", command="language"), channel)
    assert asked is not None
    nb = next(b for row in asked.messages[-1].buttons for b in row if ":lang:nb" in b.data)
    switched = await core.inbound.handle(event(ids(), "button", data=nb.data), channel)
    assert switched is not None
    assert [m.text for m in switched.messages] == [
        JOIN.join([ui("language_set", "nb"), ui("menu", "nb")])]
    assert [[b.label for b in row] for row in switched.messages[0].buttons] == [
        [b.label for b in row] for row in core.service.menu("nb").buttons]
    await core.close()


def test_events_name_their_leader_through_the_identity_helper() -> None:
    assert event("x").leader_id == "teams:29:1a2b-leader"
    telegram = replace(event("y"), channel=identity.TELEGRAM, user_id="42")
    assert telegram.leader_id == "tg:42" and telegram.who.chat_id == REFERENCE
    assert identity.split("tg:42") == ("telegram", "42")
    assert identity.split("teams:29:1a2b") == ("teams", "29:1a2b")
    assert identity.split("console:local") == ("console", "local")
    assert identity.resolve("123") == "tg:123" and identity.resolve("teams:1") == "teams:1"
    with pytest.raises(ValueError):
        identity.split("no-channel")


async def test_a_press_that_fails_is_answered_and_its_buttons_stay_valid(
        tmp_path: Path) -> None:
    core, inbound, channel, ids = await invited(tmp_path)
    menu = channel.replies[-1].messages[-1]

    async def broken(request: Request) -> list[OutMessage]:
        raise RuntimeError("a bug")

    core.service.register_buttons("zz", broken)
    # A guarded button of a broken feature, drawn with the leader's current token.
    async with core.store.transaction() as tx:
        [drawn] = await buttons.stamp(tx, core.service, event("x").leader_id, [OutMessage(
            text="?", kind="prompt", buttons=[[Button(label="go", data="zz:go")]])])
    failed = await inbound.handle(event(ids(), "button", data=drawn.buttons[0][0].data),
                                  channel)
    assert failed is None
    sorry = channel.replies[-1]
    assert sorry.toast == ""  # the press is answered (silently): its spinner stops
    # The apology on top of where the leader is (the menu), one message.
    ui = core.service.ui
    assert [m.text for m in sorry.messages] == [JOIN.join([ui("tg_error", "da"), ui("menu", "da")])]
    # The step was rolled back, its token with it: the menu drawn before still works.
    started = await inbound.handle(event(ids(), "button", data=menu.buttons[0][0].data),
                                   channel)
    assert started is not None and started.pressed == "mark_chosen"
    assert step(core) is not None
    await core.close()
