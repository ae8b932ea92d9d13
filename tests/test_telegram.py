"""The Telegram adapter in-process: the real PTB Application against the Bot API stand-in."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

import bot.app as app_module
from bot.app import Core, configure_logging
from bot.channels.base import Outbox
from bot.channels.compose import JOIN
from bot.channels.telegram import (
    GroupEvent,
    PerChatUpdateProcessor,
    TelegramChannel,
    split_text,
)
from bot.clock import SystemClock, iso
from bot.config import load_settings
from bot.dialogue import Dialogues
from bot.dialogue.state import Attachment, Button, OutMessage
from bot.service import Request
from bot.store import inbound as inbound_repo
from bot.store import telegram as tgrepo
from bot.store.db import Store
from tests.botapi_standin import BotApiStandIn
from tests.tgkit import (
    InProcessBot,
    Phone,
    answer_values,
    query,
    said,
    until,
    update_status,
    walk,
)

NOW = "2026-11-23T08:00:00+00:00"


async def make_invite(db: Path, code: str, uses: int | None = None,
                      revoked: bool = False) -> None:
    """Store an invite code directly."""
    store = await Store.open(db)
    try:
        async with store.transaction() as tx:
            await tgrepo.create_invite(tx, code, uses, None, NOW)
            if revoked:
                await tgrepo.revoke_invite(tx, code, NOW)
    finally:
        await store.close()


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A fresh stand-in per test."""
    async with BotApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The bot's database file."""
    return tmp_path / "bot.db"


async def onboard(phone: Phone, code: str | None = None) -> None:
    """/start (with a code), then the first language and time zone buttons."""
    await phone.say(f"/start {code}" if code else "/start")
    await phone.press()
    await phone.press()


def leaders(db: Path) -> list[str]:
    """Every leader id stored."""
    return [str(r[0]) for r in query(db, "SELECT leader_id FROM leaders")]


# ---- access --------------------------------------------------------------------------------

async def test_uninvited_people_are_refused_politely_and_leave_no_trace(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    await make_invite(db, "GOODCODE")
    async with InProcessBot(api, db):
        for user_id, lang, action in ((501, "da", "/start"), (502, "en", "/start WRONGCODE"),
                                      (503, "nb", "hej"), (504, "de", "sticker")):
            stranger = api.user(user_id, "Fremmed", lang)
            if action == "sticker":
                api.send_sticker(stranger)
            else:
                api.send_text(stranger, action)
            expected = real_dialogues.strings("tg_refused", "da" if lang == "de" else lang)
            await api.wait_for(lambda s=stranger, e=expected: (  # type: ignore[misc]
                api.sent_texts(s.id) == [e]),
                               what=f"the refusal to {user_id}")
    assert leaders(db) == []
    assert query(db, "SELECT COUNT(*) FROM inbound_events") == [(0,)]
    assert query(db, "SELECT uses FROM invites") == [(0,)]


async def test_invite_codes_admit_until_used_up_or_revoked(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    await make_invite(db, "ONEUSE", uses=1)
    await make_invite(db, "REVOKED", revoked=True)
    refused = real_dialogues.strings("tg_refused", "da")
    async with InProcessBot(api, db):
        first = Phone(api, db, api.user(601, "Anne"))
        await first.say("/start ONEUSE")
        assert said(real_dialogues.strings("welcome", "da"), first.texts_since(0))
        second, third = api.user(602, "Bo"), api.user(603, "Carl")
        api.send_text(second, "/start ONEUSE")
        api.send_text(third, "/start REVOKED")
        await api.wait_for(lambda: api.sent_texts(602) == [refused]
                           and api.sent_texts(603) == [refused], what="two refusals")
        # An admitted leader stays admitted without the code.
        await first.say("/help")
        assert refused not in first.texts_since(0)
    assert leaders(db) == ["tg:601"]
    assert query(db, "SELECT code, uses FROM invites ORDER BY code") == [
        ("ONEUSE", 1), ("REVOKED", 0)]


async def test_allowed_ids_and_open_mode_let_people_in(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    welcome = real_dialogues.strings("welcome", "da")
    async with InProcessBot(api, db, ALLOWED_USER_IDS="701, 702"):
        listed = Phone(api, db, api.user(702, "Dorte"))
        await listed.say("/start")
        assert said(welcome, listed.texts_since(0))
        api.send_text(api.user(703, "Erik"), "/start")
        await api.wait_for(lambda: api.sent_texts(703), what="a refusal")
    assert leaders(db) == ["tg:702"]
    async with InProcessBot(api, db, ACCESS_MODE="open"):
        anyone = Phone(api, db, api.user(704, "Frida", "en"))
        await anyone.say("/start")
        assert said(real_dialogues.strings("welcome", "en"), anyone.texts_since(0))
    assert sorted(leaders(db)) == ["tg:702", "tg:704"]


async def test_forged_and_stale_buttons_change_nothing(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    closed = real_dialogues.strings("tg_closed", "da")
    async with InProcessBot(api, db, ALLOWED_USER_IDS="801,802"):
        alice, bob = Phone(api, db, api.user(801, "Alice")), Phone(api, db, api.user(802, "Bob"))
        for phone in (alice, bob):
            await onboard(phone)
            await phone.say("/delegate")
        await walk(alice, real_dialogues, steps=2)  # now at a question with buttons
        question = alice.last()
        assert api.buttons(question)
        alice_step, bob_step = alice.step(), bob.step()
        data = api.buttons(question)[0]["callback_data"]

        # Bob forges a press on Alice's message in Alice's chat ...
        on_alices = api.press(bob.user, question, data=data)
        await bob.handled(on_alices)
        # ... and Alice's callback data on a message in his own chat.
        on_his = api.press(bob.user, bob.last(), data=data)
        await bob.handled(on_his)
        answers = [c.params.get("text") for c in api.calls_of("answerCallbackQuery")]
        assert answers[-2:] == [closed, closed]
        assert (alice.step(), bob.step()) == (alice_step, bob_step)
        assert api.messages[(801, question["message_id"])] == question  # untouched

        # Alice answers, then presses the same (now closed) button again.
        await alice.press(question)
        after = alice.step()
        mark = alice.mark()
        stale = api.press(alice.user, question, data=data)
        await alice.handled(stale)
        assert alice.step() == after
        assert alice.texts_since(mark) == []
        assert api.calls_of("answerCallbackQuery")[-1].params.get("text") == closed
        assert all(api.answered(str(q)) for q in api.callback_queries)


# ---- ordering and duplicates ------------------------------------------------------------

async def test_a_burst_of_fifty_updates_from_one_chat_is_answered_in_order(
        api: BotApiStandIn, db: Path) -> None:
    jitter = random.Random(4)
    # A backlog room for all fifty: this is about order; shedding a flood is tests/test_flood.py.
    async with InProcessBot(api, db, ALLOWED_USER_IDS="901,902", TILLIDSBOT_CHAT_BACKLOG="64"):
        leader = Phone(api, db, api.user(901, "Gitte"))
        other = Phone(api, db, api.user(902, "Hans"))
        await leader.say("/start")
        old_button = leader.last()  # the language question: pressed again below
        await leader.press(old_button)
        # Network jitter, so that without per-chat ordering a later reply would overtake.
        api.latency = lambda method: jitter.uniform(0, 0.02)
        ids: list[int] = []
        expected: list[str] = []
        for n in range(25):
            ids.append(api.send_text(leader.user, f"/ukendt{n}"))
            expected.append(f"/ukendt{n}")
            ids.append(api.press(leader.user, old_button))
            expected.append(f"press {ids[-1]}")
        other_id = api.send_text(other.user, "/start")
        await other.handled(other_id)
        for update_id in ids:
            await leader.handled(update_id)
    update_of_query = {q: d["update_id"] for q, d in api.callback_queries.items()}
    seen: list[str] = []
    for call in api.calls:
        text = str(call.params.get("text"))
        if call.method == "sendMessage" and "/ukendt" in text:
            seen.append("/ukendt" + text.split("/ukendt")[1].split(")")[0])
        if call.method == "answerCallbackQuery":
            update_id = update_of_query[str(call.params["callback_query_id"])]
            if update_id in ids:
                seen.append(f"press {update_id}")
    assert seen == expected


async def test_per_chat_processor_orders_one_chat_and_runs_chats_concurrently() -> None:
    processor = PerChatUpdateProcessor(max_concurrent_chats=8)
    log: list[str] = []
    gate = asyncio.Event()

    def update(update_id: int, chat_id: int) -> Update:
        return Update.de_json({"update_id": update_id, "message": {
            "message_id": update_id, "date": 0, "text": "x",
            "chat": {"id": chat_id, "type": "private", "first_name": "A"}}}, None)

    async def work(name: str, wait: bool = False) -> None:
        log.append(f"start {name}")
        if wait:
            await gate.wait()
        await asyncio.sleep(0)
        log.append(f"end {name}")

    async with processor:
        await processor.process_update(update(1, 10), work("a1", wait=True))
        await processor.process_update(update(2, 10), work("a2"))
        await processor.process_update(update(3, 20), work("b1"))
        await until(lambda: "end b1" in log, what="chat 20 to finish while chat 10 waits")
        assert "start a2" not in log  # chat 10's second update waits for its first
        gate.set()
        await until(lambda: "end a2" in log, what="chat 10 to finish")
    assert log.index("end a1") < log.index("start a2")
    assert not processor.busy


async def test_a_repeated_update_id_is_processed_once(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1001"):
        phone = Phone(api, db, api.user(1001, "Ida"))
        await onboard(phone)
        await phone.say("/delegate")
        while api.buttons(phone.last()):  # on to the first free-text question
            await phone.press()
        step = phone.step()

        def from_ida(text: str) -> dict[str, Any]:
            message_id = 900 + len(api.messages)
            message = {"message_id": message_id, "date": 0, "chat": api.chats[1001],
                       "from": phone.user.to_dict(), "text": text}
            api.messages[(1001, message_id)] = message
            return {"message": message}

        answer = api.deliver_twice(from_ida("Et svar, der kun må tælle én gang"))
        command = api.deliver_twice(from_ida("/ukendt42"))
        await phone.handled(answer)
        await phone.handled(command)
        await until(lambda: not api.pending, what="every copy to be fetched")
        await phone.say("/help")  # same chat, so handled after both second copies
    assert phone.step() == (step or 0) + 1
    stored = [v for v in answer_values(db) if "kun må tælle" in v]  # sealed: opened first
    assert len(stored) == 1
    assert sum("/ukendt42" in t for t in api.sent_texts(1001)) == 1


# ---- webhook -------------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_rejects_posts_without_the_secret_and_answers_with_it(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with InProcessBot(api, db, WEBHOOK_URL=url, WEBHOOK_LISTEN="127.0.0.1",
                            WEBHOOK_PORT=str(port), WEBHOOK_SECRET="s3cret-Token_1",
                            ALLOWED_USER_IDS="1101"):
        assert api.webhook == {"url": url, "secret_token": "s3cret-Token_1"}
        user = api.user(1101, "Jens")
        forged = {"update_id": 5, "message": {
            "message_id": 1, "date": 0, "chat": api.chats[1101], "from": user.to_dict(),
            "text": "/start"}}
        assert await api.post_webhook(forged, None) == 403
        assert await api.post_webhook(forged, "wrong") == 403
        phone = Phone(api, db, user)
        update_id = api.send_text(user, "/start")  # Telegram's own delivery, with the secret
        await phone.handled(update_id)
        assert said(real_dialogues.strings("welcome", "da"), phone.texts_since(0))
        # The same update POSTed again (Telegram retries) is answered once.
        repeat = {"update_id": update_id, "message": api.messages[(1101, 1)]}
        assert await api.post_webhook(repeat, "s3cret-Token_1") == 200
        await phone.say("/help")
    assert update_status(db, 5) is None
    assert api.webhook_responses == [200, 200]  # /start and /help, Telegram-style
    welcome = real_dialogues.strings("welcome", "da")
    assert sum(said(welcome, [text]) for text in api.sent_texts(1101)) == 1


# ---- rate limits -------------------------------------------------------------------------

async def test_429_and_500_are_retried_and_every_message_arrives_once(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1201,1202"):
        calm = Phone(api, db, api.user(1201, "Karin"))
        await onboard(calm)
        await calm.say("/delegate")
        first = await walk(calm, real_dialogues, steps=3)
        await walk(calm, real_dialogues, typed_before=len(first))

        stormy = Phone(api, db, api.user(1202, "Lars"))
        await onboard(stormy)
        await stormy.say("/delegate")
        first = await walk(stormy, real_dialogues, steps=3)
        api.fail_next("sendMessage", 429, retry_after=1)
        api.fail_next("editMessageText", 500)
        api.fail_next("sendMessage", 500)
        await walk(stormy, real_dialogues, typed_before=len(first))
    failed = [(c.method, c.status) for c in api.calls if not c.ok]
    assert sorted(failed) == [("editMessageText", 500), ("sendMessage", 429),
                              ("sendMessage", 500)]
    assert api.sent_texts(1202) == api.sent_texts(1201)
    calm_view = [m.get("text") for m in api.bot_messages(1201)]
    stormy_view = [m.get("text") for m in api.bot_messages(1202)]
    assert stormy_view == calm_view


async def test_replies_go_through_the_paced_limiter_complete_and_in_order(
        api: BotApiStandIn, db: Path) -> None:
    # The pacing itself (bursts of three, then one a second; the global ceiling) is measured
    # in virtual time in tests/test_telegram_limits.py; here the real bot uses it end to end.
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1301,1302",
                            TELEGRAM_CHAT_INTERVAL="1.0"):
        first, second = Phone(api, db, api.user(1301, "Mette")), Phone(
            api, db, api.user(1302, "Niels"))
        a = api.send_text(first.user, "/start")
        b = api.send_text(second.user, "/start")
        await first.handled(a)
        await second.handled(b)
    sends = [c for c in api.calls_of("sendMessage")]
    for chat in (1301, 1302):
        texts = [c.params["text"] for c in sends if c.params["chat_id"] == chat]
        assert texts and texts == api.sent_texts(chat)
        assert all(c.ok for c in sends if c.params["chat_id"] == chat)


# ---- what the leader can send -------------------------------------------------------------

async def test_non_text_updates_get_a_short_reply_and_change_nothing(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    ui = real_dialogues.strings
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1401"):
        phone = Phone(api, db, api.user(1401, "Ole"))
        await onboard(phone)
        await phone.say("/delegate")
        await walk(phone, real_dialogues, steps=1)
        step, question = phone.step(), phone.last()["text"]
        answer = next(k for (c, k), m in api.messages.items()
                      if c == 1401 and m.get("from", {}).get("id") == 1401
                      and "AB" in str(m.get("text")))
        mark = phone.mark()
        for send in (api.send_sticker, api.send_photo, api.send_voice, api.send_document):
            await phone.handled(send(phone.user))
        await phone.handled(api.edit_text(phone.user, answer, "Noget helt andet"))
        post = api.channel_post(-100777, "Kanalnyt")
        await until(lambda: update_status(db, post) is None and not api.pending,
                    what="the channel post to be fetched")
        await phone.say("/help")
        assert phone.step() == step
        texts = phone.texts_since(mark)
        assert texts[:5] == [ui("tg_unsupported", "da")] * 4 + [ui("tg_edited", "da")]
        assert texts[-1] == JOIN.join([ui("help", "da"), question])  # help, then the question
    assert not [c for c in api.calls if c.params.get("chat_id") == -100777]
    values = answer_values(db)  # sealed at rest: opened with the bot's key store
    assert values and not [v for v in values if "helt andet" in v]


async def test_leader_text_is_sent_back_as_plain_text(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    markup = "<b>AB</b> *skal* _have_ [link](http://x) & `kode`"
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1501"):
        phone = Phone(api, db, api.user(1501, "Pia"))
        await onboard(phone)
        await phone.say("/delegate")
        await phone.say(markup)
        await walk(phone, real_dialogues)
    assert any(markup in text for text in api.sent_texts(1501))
    assert all("parse_mode" not in c.params for c in api.calls)


async def test_commands_are_registered_per_language(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    async with InProcessBot(api, db):
        pass
    for lang in ("da", "nb", "en"):
        commands = api.commands[("all_private_chats", lang)]
        names = [c["command"] for c in commands]
        assert names[:3] == ["start", "delegate", "repair"]
        for name in ("reflect", "resistance", "history", "settings", "language", "back", "cancel",
                     "help"):
            assert name in names
        descriptions = {c["command"]: c["description"] for c in commands}
        assert descriptions["help"] == real_dialogues.strings("command_help", lang)
    assert api.commands[("all_private_chats", "")] == api.commands[("all_private_chats", "da")]
    assert api.commands[("all_private_chats", "no")] == api.commands[("all_private_chats", "nb")]
    assert api.commands[("default", "")] == []  # groups see no leader commands



async def test_the_command_menus_go_out_together_at_start_up(api: BotApiStandIn,
                                                              db: Path) -> None:
    # Each menu call waits a while at the stand-in: one at a time, each would be answered
    # before the next was sent; together (one round trip at start-up) all are sent first.
    sent: list[float] = []

    def slow_menus(method: str) -> float:
        if method != "setMyCommands":
            return 0.0
        sent.append(time.monotonic())
        return 1.0

    api.latency = slow_menus
    async with InProcessBot(api, db):
        pass
    answered = [c.at for c in api.calls_of("setMyCommands")]
    assert len(sent) == len(answered) == len(api.commands) >= 5
    assert max(sent) < min(answered)


# ---- groups --------------------------------------------------------------------------------

async def test_leader_commands_in_a_group_get_a_private_link_and_group_hooks_run(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def checkin(event: GroupEvent) -> None:
        seen.append(event.args)
        chat = event.update.effective_chat
        assert chat is not None
        await event.channel.app.bot.send_message(chat.id, "pulse")

    def wire(channel: TelegramChannel, core: object) -> None:
        channel.register_group_command("checkin", checkin, "command_help")

    monkeypatch.setattr(app_module, "wire_telegram", wire)
    group = api.group(-100200, "Team Nord")
    member = api.user(1601, "Rasmus")
    async with InProcessBot(api, db):
        delegate = api.send_text(member, "/delegate", chat=group)
        other_bot = api.send_text(member, "/delegate@some_other_bot", chat=group)
        chatter = api.send_text(member, "Godmorgen alle", chat=group)
        pulse = api.send_text(member, f"/checkin@{api.bot['username']} now", chat=group)
        for update_id in (delegate, other_bot, chatter, pulse):
            await Phone(api, db, member).handled(update_id)
    sent = [c for c in api.calls_of("sendMessage") if c.params["chat_id"] == -100200]
    assert [c.params["text"] for c in sent] == [
        real_dialogues.strings("tg_private_only", "da"), "pulse"]
    button = sent[0].params["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"] == f"https://t.me/{api.bot['username']}?start=group"
    assert seen == ["now"]
    assert leaders(db) == []
    assert ("all_group_chats", "nb") in api.commands


# ---- errors, long messages, attachments ----------------------------------------------------

async def test_an_error_is_logged_by_update_id_and_the_leader_keeps_their_place(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues,
        caplog: pytest.LogCaptureFixture) -> None:
    secret_words = "Min meget private formulering om AB"
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1701"):
        phone = Phone(api, db, api.user(1701, "Signe"))
        await onboard(phone)
        await phone.say("/delegate")
        question = phone.last()["text"]
        api.fail_next("sendMessage", 400, "Bad Request: something unexpected")
        configure_logging(load_settings(env={}))  # what `tillidsbot run` does
        with caplog.at_level(logging.INFO):
            failed = await phone.say(secret_words)
        assert phone.step() == 1  # the answer was committed before the reply failed
        texts = api.sent_texts(1701)
        # One message: the apology, 'where we were', and the place: the next question (the
        # first one ended the /delegate message), not lost.
        told = JOIN.join([real_dialogues.strings("tg_error", "da"),
                          real_dialogues.strings("resume", "da")]) + JOIN
        assert texts[-1].startswith(told) and len(texts[-1]) > len(told)
        assert not question.endswith(texts[-1][len(told):])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"update {failed} failed with BadRequest" in r.getMessage() for r in errors)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret_words not in logged
    assert api.token.split(":")[1] not in logged


OutboxUse = Callable[[Outbox], Awaitable[None]]


async def run_with_outbox(api: BotApiStandIn, db: Path, use: OutboxUse,
                          monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Start the bot with a background service that gets the Outbox and uses it."""
    done = asyncio.Event()

    async def start(core: Core, outbox: Outbox) -> Callable[[], Awaitable[None]]:
        await use(outbox)
        done.set()

        async def stop() -> None:
            return None

        return stop

    monkeypatch.setattr(app_module, "BACKGROUND", [start])
    async with InProcessBot(api, db, None, **env):
        await asyncio.wait_for(done.wait(), 30)


async def test_outbox_splits_long_messages_at_paragraphs_and_sends_files(
        api: BotApiStandIn, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paragraphs = [f"Afsnit {n}: " + "ord " * 300 for n in range(6)]  # ~1,210 characters each
    long_caption = "Billedtekst " * 120  # 1,440 characters: too long for a caption
    user = api.user(1801, "Tove")

    async def use(outbox: Outbox) -> None:
        await outbox.deliver("1801", [
            OutMessage(text="\n\n".join(paragraphs), kind="summary",
                       buttons=[[Button(label="OK", data="x:1")]]),
            OutMessage(text="", attachments=[
                Attachment(kind="photo", filename="trend.png", data=b"\x89PNG" + b"0" * 100,
                           caption=long_caption),
                Attachment(kind="document", filename="export.md", data=b"# Eksport",
                           caption="Din eksport")]),
        ])

    await run_with_outbox(api, db, use, monkeypatch)
    texts = api.sent_texts(user.id)
    assert [len(t) <= 4096 for t in texts] == [True] * len(texts)
    chunks = texts[:-1]
    assert "\n\n".join(chunks) == "\n\n".join(paragraphs)
    assert all(c.startswith("Afsnit") for c in chunks)
    keyboards = [c.params.get("reply_markup") for c in api.calls_of("sendMessage")]
    assert [k is not None for k in keyboards] == [False] * (len(chunks) - 1) + [True, False]
    photo, = api.calls_of("sendPhoto")
    document, = api.calls_of("sendDocument")
    assert "caption" not in photo.params and photo.files["photo"][0] == "trend.png"
    assert texts[-1] == long_caption
    assert document.params["caption"] == "Din eksport"
    assert document.files["document"] == ("export.md", 9)


def test_split_text_prefers_paragraphs_then_lines_then_words() -> None:
    assert split_text("kort") == ["kort"]
    assert split_text("a\n\nb\n\nc", limit=4) == ["a\n\nb", "c"]
    assert split_text("aaa\nbbb\nccc", limit=8) == ["aaa\nbbb", "ccc"]
    assert split_text("ord ord ord", limit=7) == ["ord ord", "ord"]
    assert split_text("x" * 10, limit=4) == ["xxxx", "xxxx", "xx"]
    emoji = "🙂" * 3000  # 6,000 UTF-16 code units
    assert [len(c.encode("utf-16-le")) // 2 <= 4096 for c in split_text(emoji)] == [True, True]


async def test_buttons_that_replace_their_prompt_edit_it_in_place(
        api: BotApiStandIn, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def toggle(req: Request) -> list[OutMessage]:
        chosen = req.args.split(",") if req.args else []
        if "done" in chosen:
            return [OutMessage(text=f"Valgt: {', '.join(c for c in chosen if c != 'done')}")]

        def row(option: str) -> list[Button]:
            picked = option in chosen
            rest = [c for c in chosen if c != option] if picked else [*chosen, option]
            return [Button(label=("☑ " if picked else "☐ ") + option,
                           data="tt:" + ",".join(rest))]

        done = [Button(label="Færdig", data="tt:" + ",".join([*chosen, "done"]))]
        return [OutMessage(text="Vælg", kind="prompt", replace=bool(req.args),
                           buttons=[row("A"), row("B"), done])]

    async def start(core: Core, outbox: Outbox) -> Callable[[], Awaitable[None]]:
        core.service.register_command("toggle", toggle, reprompt=False)
        core.service.register_buttons("tt", toggle)

        async def stop() -> None:
            return None

        return stop

    monkeypatch.setattr(app_module, "BACKGROUND", [start])
    async with InProcessBot(api, db, ALLOWED_USER_IDS="1901"):
        phone = Phone(api, db, api.user(1901, "Ulla"))
        await phone.say("/toggle")
        prompt = phone.last()
        await phone.press(prompt, label="☐ A")
        await phone.press(phone.last(), label="☐ B")
        edited = phone.last()
        assert edited["message_id"] == prompt["message_id"]
        assert [b["text"] for b in api.buttons(edited)] == ["☑ A", "☑ B", "Færdig"]
        await phone.press(edited, label="Færdig")
    final = api.messages[(1901, prompt["message_id"])]
    assert api.buttons(final) == []
    assert final["text"] == "Vælg\n\n→ Færdig"
    assert api.sent_texts(1901)[-1] == "Valgt: A, B"
    assert len(api.calls_of("editMessageText")) == 3


async def test_an_update_interrupted_by_a_crash_resumes_instead_of_applying_twice(
        api: BotApiStandIn, db: Path, real_dialogues: Dialogues) -> None:
    async with InProcessBot(api, db, ALLOWED_USER_IDS="2001"):
        phone = Phone(api, db, api.user(2001, "Vibeke"))
        await onboard(phone)
        await phone.say("/delegate")
        question, step = phone.last()["text"], phone.step()
    # The bot died while handling update 777 just now: claimed but never finished. The bot
    # runs on the system clock here, so the claim must be recent by that clock, or start-up
    # would prune it as older than Telegram's redelivery window.
    store = await Store.open(db)
    async with store.transaction() as tx:
        await inbound_repo.claim(tx, "telegram", f"{api.bot['id']}:777",
                                 iso(SystemClock().now()))
    await store.close()
    async with InProcessBot(api, db, ALLOWED_USER_IDS="2001"):
        mark = phone.mark()
        message = {"message_id": 500, "date": 0, "chat": api.chats[2001],
                   "from": phone.user.to_dict(), "text": "Et svar sendt igen efter et nedbrud"}
        api.deliver({"message": message}, update_id=777)
        await phone.handled(777)
    assert phone.step() == step
    # The question is asked again under 'where we were', without the conversation's opening
    # text (at /delegate it came in one message with it).
    resumed = phone.texts_since(mark)
    told = real_dialogues.strings("resume", "da") + JOIN
    assert len(resumed) == 1 and resumed[0].startswith(told)
    assert question.endswith(f"{JOIN}{resumed[0][len(told):]}")


async def test_old_update_ids_are_pruned(db: Path) -> None:
    store = await Store.open(db)
    async with store.transaction() as tx:
        await inbound_repo.claim(tx, "telegram", "1:10", "2026-11-20T08:00:00+00:00")
        await inbound_repo.claim(tx, "telegram", "1:11", "2026-11-23T08:00:00+00:00")
        assert await inbound_repo.prune(tx, "2026-11-21T08:00:00+00:00") == 1
        assert await inbound_repo.status(tx, "telegram", "1:10") is None
        assert await inbound_repo.status(tx, "telegram", "1:11") == "processing"
        await inbound_repo.finish(tx, "telegram", "1:11")
        assert await inbound_repo.claim(tx, "telegram", "1:11", NOW) == "done"
    await store.close()


async def test_stopping_finishes_fetched_updates_and_a_restart_fetches_the_rest(
        api: BotApiStandIn, db: Path) -> None:
    leader = api.user(2101, "Yrsa")
    phone = Phone(api, db, leader)
    # A backlog room for the whole burst: none of it is shed (see tests/test_flood.py).
    async with InProcessBot(api, db, ALLOWED_USER_IDS="2101", TILLIDSBOT_CHAT_BACKLOG="64"):
        await phone.say("/start")
        api.latency = lambda method: 0.05 if method == "sendMessage" else 0.0
        ids = [api.send_text(leader, f"/ukendt{n}") for n in range(20)]
        await api.wait_for(lambda: any("/ukendt" in t for t in api.sent_texts(2101)),
                           what="the first reply")
    # Stopped mid-burst: whatever was fetched has been answered; the rest waits at Telegram.
    answered = sum("/ukendt" in t for t in api.sent_texts(2101))
    assert all(update_status(db, u) in (None, "done") for u in ids)
    assert answered == sum(update_status(db, u) == "done" for u in ids)
    api.latency = None
    async with InProcessBot(api, db, ALLOWED_USER_IDS="2101", TILLIDSBOT_CHAT_BACKLOG="64"):
        for update_id in ids:
            await phone.handled(update_id)
    replies = [t for t in api.sent_texts(2101) if "/ukendt" in t]
    assert [int(t.split("/ukendt")[1].split(")")[0]) for t in replies] == list(range(20))
