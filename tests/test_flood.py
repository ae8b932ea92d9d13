"""A flooding leader harms only themself (bot/backlog.py).

The policy alone on an injected clock; then the real PTB Application against the Bot API
stand-in: one admitted leader sends 500 messages within a minute of the injected clock while
two others converse; the flooding chat's backlog stays within TILLIDSBOT_CHAT_BACKLOG, the
others are answered while it still has a backlog, nothing the flooder wrote is stored twice,
the flood notice comes at most once a minute, and the flooder's conversation goes on
afterwards. The Teams variant floods the real `tillidsbot run` in Teams test mode.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import metrics
from bot.backlog import Backlog, ChatQueues
from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.inbound import EventKind, InEvent
from tests.botapi_standin import BotApiStandIn
from tests.connector_standin import ConnectorStandIn
from tests.teamskit import Member, TeamsBot, free_port, shown_text
from tests.teamskit import query as teams_query
from tests.tgkit import InProcessBot, Phone, answer_values, until, update_status

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
LIMIT = 16


# ---- the policy ------------------------------------------------------------------------------

@dataclass(eq=False)
class Item:
    """A queued event for the policy alone."""

    event: InEvent | None
    dropped: list[Item] = field(default_factory=list)

    async def run(self) -> None:
        """Nothing to process."""

    def drop(self) -> None:
        """Remember that it was shed."""
        self.dropped.append(self)


def item(kind: EventKind = "text", text: str = "", n: int = 0) -> Item:
    """A private event of one leader."""
    return Item(InEvent(channel="telegram", event_id=f"1:{n}", user_id="7", reference="7",
                        kind=kind, text=text, command="cancel" if kind == "command" else ""))


def texts(backlog: Backlog[Item], key: str) -> list[str]:
    """What waits, oldest first."""
    out: list[str] = []
    while (next_item := backlog.pop(key)) is not None:
        assert next_item.event is not None
        out.append(next_item.event.text or next_item.event.kind)
    return out


def test_past_the_bound_the_newest_are_shed_and_the_oldest_kept() -> None:
    backlog: Backlog[Item] = Backlog("telegram", 3, ManualClock(START))
    shed = [s for n in range(6) for s in backlog.push("a", item(text=f"t{n}", n=n))]
    assert [s.event.text for s in shed if s.event] == ["t3", "t4", "t5"]
    assert backlog.waiting("a") == 3
    dropped, notify = backlog.take_shed("a")
    assert [e.text for e in dropped] == ["t3", "t4", "t5"] and notify
    assert texts(backlog, "a") == ["t0", "t1", "t2"]


def test_a_command_or_press_takes_the_place_of_the_newest_waiting_text() -> None:
    backlog: Backlog[Item] = Backlog("telegram", 3, ManualClock(START))
    for n in range(3):
        backlog.push("a", item(text=f"t{n}", n=n))
    shed = backlog.push("a", item("command", n=3))
    assert [s.event.text for s in shed if s.event] == ["t2"]
    backlog.push("a", item("button", n=4))
    backlog.push("a", item("button", n=5))
    # Only commands and presses wait now: a further one is shed itself.
    last = item("command", n=6)
    assert backlog.push("a", last) == [last]
    assert texts(backlog, "a") == ["command", "button", "button"]


def test_the_same_text_again_before_an_answer_is_coalesced() -> None:
    backlog: Backlog[Item] = Backlog("telegram", 16, ManualClock(START))
    backlog.push("a", item(text="ja", n=1))
    again = item(text="ja", n=2)
    assert backlog.push("a", again) == [again]
    backlog.push("a", item(text="nej", n=3))
    backlog.push("a", item(text="ja", n=4))  # not right after the first: kept
    assert texts(backlog, "a") == ["ja", "nej", "ja"]


def test_the_leader_is_told_at_most_once_a_minute_of_the_clock() -> None:
    clock = ManualClock(START)
    backlog: Backlog[Item] = Backlog("telegram", 1, clock)
    notices = 0
    for second in range(0, 150, 5):  # a text every 5 s for two and a half minutes
        clock.set(START + timedelta(seconds=second))
        backlog.push("a", item(text=f"t{second}", n=second))
        backlog.push("a", item(text=f"u{second}", n=second + 1))  # one over: shed
        notices += backlog.take_shed("a")[1]
        backlog.pop("a")
    assert notices == 3  # at 0 s, 60 s and 120 s


def test_events_without_an_event_are_never_shed_and_peak_is_measured() -> None:
    backlog: Backlog[Item] = Backlog("telegram", 2, ManualClock(START))
    assert all(backlog.push("group", Item(None)) == [] for _ in range(10))
    assert backlog.waiting("group") == 10
    for n in range(5):
        backlog.push("a", item(text=f"t{n}", n=n))
    assert backlog.peak == 2
    assert metrics.CHAT_BACKLOG_PEAK.labels("telegram")._value.get() == 2


async def test_shed_events_are_settled_in_their_own_conversation_between_steps() -> None:
    clock = ManualClock(START)
    log: list[str] = []
    gate = asyncio.Event()

    @dataclass(eq=False)
    class Step:
        event: InEvent | None
        name: str

        async def run(self) -> None:
            log.append(f"run {self.name}")
            if self.name == "a0":
                await gate.wait()

        def drop(self) -> None:
            log.append(f"drop {self.name}")

    async def settle(dropped: list[InEvent], notify: bool) -> None:
        log.append(f"settle {[e.text for e in dropped]} {notify}")

    # Two may wait: the first counts until its worker takes it up.
    queues: ChatQueues[Step] = ChatQueues(Backlog("telegram", 2, clock), settle)
    assert queues.submit("a", Step(item(text="a0").event, "a0"))
    assert queues.submit("a", Step(item(text="a1").event, "a1"))
    assert not queues.submit("a", Step(item(text="a2").event, "a2"))
    assert queues.submit("b", Step(item(text="b0").event, "b0"))
    await until(lambda: "run b0" in log, what="another conversation to run meanwhile")
    assert log == ["drop a2", "run a0", "run b0"]
    gate.set()
    await queues.drain()
    assert log[3:] == ["settle ['a2'] True", "run a1"]
    assert not queues.busy


# ---- Telegram, end to end ------------------------------------------------------------------

@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A fresh stand-in per test."""
    async with BotApiStandIn() as stand_in:
        yield stand_in


async def onboard(phone: Phone) -> None:
    """/start, then the first language and time zone buttons: a leader at the menu."""
    await phone.say("/start")
    await phone.press()
    await phone.press()


async def to_free_text(phone: Phone) -> None:
    """/delegate, pressing on to its first free-text question."""
    await phone.say("/delegate")
    while phone.api.buttons(phone.last()):
        await phone.press()


def sent_to(api: BotApiStandIn, chat_id: int) -> list[int]:
    """Indexes in the stand-in's call log of the messages sent to one chat."""
    return [i for i, call in enumerate(api.calls) if call.method == "sendMessage"
            and call.ok and call.params.get("chat_id") in (chat_id, str(chat_id))]


def shed_total(channel: str) -> float:
    """The shed counter of a channel now (the bot runs in this process)."""
    return float(metrics.SHED.labels(channel)._value.get())


async def test_a_flooding_leader_delays_only_themself_on_telegram(
        api: BotApiStandIn, tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    clock = ManualClock(START)
    notice = real_dialogues.strings("flood_notice", "da")
    async with InProcessBot(api, db, clock=clock, ALLOWED_USER_IDS="3001,3002,3003",
                            TILLIDSBOT_CHAT_BACKLOG=str(LIMIT)):
        flooder = Phone(api, db, api.user(3001, "Frida"))
        others = [Phone(api, db, api.user(3002, "Otto")), Phone(api, db, api.user(3003, "Olga"))]
        for phone in (flooder, *others):
            await onboard(phone)
        await to_free_text(flooder)
        shed_before = shed_total("telegram")
        # Every reply takes a moment, so the flood's kept updates take a while to work off.
        api.latency = lambda method: 0.01 if method == "sendMessage" else 0.0
        flood = [api.send_text(flooder.user, f"Oversvømmelse nr. {n}") for n in range(250)]
        await until(lambda: not api.pending, what="the first half to be fetched")
        clock.advance(timedelta(seconds=30))  # still within the same minute of the flood
        before = [len(sent_to(api, phone.user.id)) for phone in others]
        asks = [api.send_text(phone.user, "/delegate") for phone in others]
        flood += [api.send_text(flooder.user, f"Oversvømmelse nr. {n}") for n in range(250, 500)]
        for phone, update_id in zip(others, asks, strict=True):
            await phone.handled(update_id)
        # The others were answered while the flooding chat was still working off its backlog.
        last_flood_reply = await until(lambda: all(
            update_status(db, u) == "done" for u in flood) and sent_to(api, 3001)[-1],
            what="the flood to be worked off")
        for phone, sent_before in zip(others, before, strict=True):
            assert phone.step() is not None  # their /delegate conversation started
            assert len(sent_to(api, phone.user.id)) > sent_before
            assert sent_to(api, phone.user.id)[-1] < last_flood_reply
        shed = shed_total("telegram") - shed_before
        assert LIMIT <= 500 - shed < 500  # the oldest were kept, the surplus shed
        assert metrics.CHAT_BACKLOG_PEAK.labels("telegram")._value.get() == LIMIT
        flood_notices = sum(t == notice for t in api.sent_texts(3001))
        assert flood_notices == 1  # one minute of the injected clock: one notice

        # Nothing the flooder wrote is stored twice, and what is stored is in their order.
        stored = [int(v.split("nr. ")[1].split('"')[0]) for v in answer_values(db)
                  if "Oversvømmelse nr." in v]
        assert stored and stored == sorted(set(stored))

        # A minute later another flood: one more notice.
        api.latency = None
        clock.advance(timedelta(seconds=61))
        again = [api.send_text(flooder.user, f"Igen nr. {n}") for n in range(100)]
        await until(lambda: all(update_status(db, u) == "done" for u in again),
                    what="the second flood to be worked off")
        assert sum(t == notice for t in api.sent_texts(3001)) == 2

        # The flooder's conversation goes on; a shed update delivered again changes nothing.
        await to_free_text(flooder)
        step = flooder.step()
        repeat = flood[-1]  # done already (shed, most likely): applied now, it would answer
        api.deliver({"message": {"message_id": 99_999, "date": 0, "chat": api.chats[3001],
                                 "from": flooder.user.to_dict(),
                                 "text": f"Oversvømmelse nr. {flood.index(repeat)}"}},
                    update_id=repeat)
        await flooder.say("Et roligt svar bagefter")
        assert flooder.step() == (step or 0) + 1
    values = answer_values(db)
    assert sum("Et roligt svar bagefter" in v for v in values) == 1
    assert sum(f"Oversvømmelse nr. {flood.index(repeat)}\"" in v for v in values) <= 1
    assert len([v for v in values if "Oversvømmelse nr." in v]) == len(stored)


# ---- Teams, end to end ---------------------------------------------------------------------

@pytest.fixture
async def connector() -> AsyncIterator[ConnectorStandIn]:
    """The connector stand-in on 127.0.0.1."""
    async with ConnectorStandIn() as standin:
        yield standin


def scrape(port: int) -> dict[str, float]:
    """The bot's /metrics over loopback: series -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in lines if line and not line.startswith("#")}


def teams_answers(db: Path) -> int:
    """How many answers are stored."""
    return int(teams_query(db, "SELECT count(*) FROM answers")[0][0])


async def test_a_flooding_leader_delays_only_themself_on_teams(
        connector: ConnectorStandIn, tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    notice = real_dialogues.strings("flood_notice", "da")
    flooder_aad, other_aad = "00000000-0000-4000-8000-00000000f100", \
        "00000000-0000-4000-8000-00000000f200"
    metrics_port = free_port()
    bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=f"{flooder_aad},{other_aad}",
                         TILLIDSBOT_CHAT_BACKLOG=str(LIMIT),
                         METRICS_PORT=str(metrics_port)).start()
    try:
        flooder = Member(connector, bot, flooder_aad, "Frida")
        other = Member(connector, bot, other_aad, "Otto")
        for member in (flooder, other):
            await member.say("/start")
            await member.press()
            await member.press()
        await flooder.say("/delegate")
        while any(a.get("attachments") for a in connector.messages(flooder.conversation_id)[-1:]):
            await flooder.press()
        answers_before = teams_answers(db)
        activities = [flooder.activity(text=f"Oversvømmelse nr. {n}", textFormat="plain")
                      for n in range(200)]
        posts = [asyncio.create_task(flooder.post(a)) for a in activities]
        mark = other.mark()
        replied = await other.say("/delegate")  # answered while the flood is being worked off
        assert replied and other.mark() > mark
        unfinished = sum(not p.done() for p in posts)
        results = await asyncio.gather(*posts)
        assert all(status in (200, 201, 202) for status, _ in results)
        assert unfinished > 0  # the other leader did not wait for the flood to end
        ids = [a["id"] for a in activities]

        def done() -> int:
            """Flood activities recorded as done: kept ones handled, shed ones settled."""
            return int(teams_query(
                db, "SELECT count(*) FROM inbound_events WHERE channel = 'teams' AND status = "
                    f"'done' AND event_id IN ({','.join('?' * len(ids))})", *ids)[0][0])

        await until(lambda: done() == len(ids), what="every flood activity to be recorded")
        stored = teams_answers(db) - answers_before
        figures = await asyncio.to_thread(scrape, metrics_port)
        shed = figures['tillidsbot_updates_shed_total{channel="teams"}']
        assert LIMIT <= len(ids) - shed < len(ids)  # the oldest were kept, the surplus shed
        assert figures['tillidsbot_conversation_backlog_peak{channel="teams"}'] == LIMIT
        flood_answers = [v for v in answer_values(db) if "Oversvømmelse nr." in v]
        assert len(flood_answers) == len(set(flood_answers)) == stored

        def notices() -> int:
            """Flood notices the flooder got."""
            return sum(shown_text(a) == notice
                       for a in connector.messages(flooder.conversation_id))

        await until(notices, what="the flood notice")
        # Delivered again, a flood activity changes nothing; the conversation goes on.
        await flooder.post(activities[-1])
        await flooder.say("/delegate")
        assert teams_answers(db) - answers_before == stored
        assert notices() == 1  # the whole flood within a minute: one notice
    finally:
        await bot.stop()
    assert "Traceback" not in bot.output
