"""Crash injection for the reply outbox (issue 17): a whole /delegate conversation, one crash.

A scenario runs /delegate from its first command to its end through the real pipeline on a real
SQLite file, as a leader would: they look at the last message on their screen and answer the
question it asks (typed words for text questions, a press for buttons), each answer unique to
its question. At one step the process dies at one point:

- before_commit: in the step's transaction, after the engine step (nothing is kept);
- after_commit:  committed, nothing sent;
- after_send:    every message of the reply sent, none of it recorded as delivered after the
                 reply's first messages (the last one is marked with the event's finish);
- between:       the reply's first message sent (and recorded), the process dies before the
                 second (only for replies of two or more messages).

Then a fresh core opens the same file, sends what was held back (`Inbound.redeliver`, as a
channel does before it receives) and the conversation goes on. The leader is either patient
(waits for the bot, then answers what they see) or impatient (while the bot is down they
answer again what their screen shows, which the platform delivers after the restart, sent
before the redelivery). The platform may or may not deliver the interrupted event again.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

from bot import identity
from bot.app import Core
from bot.clock import ManualClock
from bot.dialogue.state import OutMessage
from bot.inbound import InEvent, Reply
from bot.store import outbox, repo
from tests.history_helpers import NOW, make_core

POINTS = ("before_commit", "after_commit", "after_send", "between")
TIMINGS = ("patient", "impatient")
CHANNEL = identity.CONSOLE  # an open channel: the pipeline does not care which
USER = "crash-leader"
LEADER = identity.leader_id(CHANNEL, USER)
MAX_ACTIONS = 60


class Crash(BaseException):
    """The process dying (not an error the bot handles)."""


@dataclass
class Phone:
    """The leader's screen: every message that reached it, in order."""

    shown: list[OutMessage] = field(default_factory=list)
    ids: count[int] = field(default_factory=lambda: count(1))

    def receive(self, message: OutMessage) -> str:
        """A message arrives; its platform id."""
        self.shown.append(message)
        return str(next(self.ids))

    def visible(self) -> OutMessage | None:
        """The last message on screen."""
        return self.shown[-1] if self.shown else None


class Screen:
    """The pipeline's channel for one leader, which can die at a point of one reply."""

    can_edit = True

    def __init__(self, phone: Phone) -> None:
        """Draw onto the phone."""
        self.phone = phone
        self.armed: str | None = None
        self.replies: list[Reply] = []

    async def render(self, event: InEvent, reply: Reply) -> None:
        """Show the messages, reporting each one out; die where armed."""
        point, self.armed = self.armed, None
        self.replies.append(reply)
        if point == "after_commit":
            raise Crash()
        for index, message in enumerate(reply.messages):
            if point == "between" and index == 1:
                raise Crash()
            await reply.delivered(message, [self.phone.receive(message)])
        if point == "after_send":
            raise Crash()

    async def deliver(self, reference: str, messages: list[OutMessage]) -> list[str]:
        """The Outbox a restarted channel redelivers through."""
        return [self.phone.receive(message) for message in messages]


@dataclass
class Outcome:
    """What one scenario left: the stored answers and what reached the leader."""

    answers: dict[str, Any]
    shown: list[OutMessage]
    applicable: bool = True  # False: the point does not exist at that step
    ended: bool = True  # False: the leader was still waiting after MAX_ACTIONS events


def answer_for(node: str) -> str:
    """The words a leader types for a text question (unique per question)."""
    return f"mit svar til {node}"


def action(phone: Phone, ids: count[int], clock: ManualClock,
           last: tuple[InEvent, int] | None = None) -> InEvent | None:
    """What the leader does about the last message on screen; None when nothing is asked.
    When nothing came back since their last event (last: it and the screen's length then),
    they send it again."""
    if last is not None and len(phone.shown) == last[1]:
        return replace(last[0], event_id=f"e{next(ids)}", sent_at=clock.now())
    message = phone.visible()
    if message is None or message.node is None or message.kind != "prompt":
        return None
    base = InEvent(channel=CHANNEL, event_id=f"e{next(ids)}", user_id=USER,
                   reference="console", kind="text", language="da", sent_at=clock.now())
    if message.expects == "text":
        return replace(base, text=answer_for(message.node))
    first = message.buttons[0][0]  # choices, the scale and the date: the first button
    return replace(base, kind="button", data=first.data)


async def stored_answers(core: Core) -> dict[str, Any]:
    """The answers of the leader's /delegate conversation, by question."""
    async with core.store.read() as conn:
        found = await repo.answers_of(conn, LEADER)
    return {a["node"]: a["value"] for a in found if a["conversation"] == "delegation"}


async def onboarded(root: Path) -> Path:
    """A database with the leader through onboarding (copied for every scenario)."""
    base = root / "base"
    base.mkdir()
    clock = ManualClock(NOW)
    core = await make_core(base, clock)
    phone = Phone()
    screen = Screen(phone)
    ids = count(1)
    await core.inbound.handle(InEvent(channel=CHANNEL, event_id="o0", user_id=USER,
                                      reference="console", kind="command", command="start",
                                      language="da"), screen)
    for _ in range(2):  # language, then time zone: the first button of each
        prompt = phone.visible()
        assert prompt is not None and prompt.buttons
        await core.inbound.handle(InEvent(channel=CHANNEL, event_id=f"o{next(ids)}",
                                          user_id=USER, reference="console", kind="button",
                                          data=prompt.buttons[0][0].data), screen)
    await core.close()
    return base


def copy_base(base: Path, target: Path) -> None:
    """A fresh copy of the onboarded database and its key files."""
    target.mkdir()
    for item in base.iterdir():
        if item.is_file() and not item.name.endswith(("-wal", "-shm")):
            shutil.copy2(item, target / item.name)


async def run(base: Path, where: Path, crash_at: int | None, point: str = "after_commit",
              timing: str = "patient", repeat: bool = False) -> Outcome:
    """The whole conversation with one crash (crash_at: the index of the event, 0 = the
    /delegate command; None: no crash)."""
    copy_base(base, where)
    clock = ManualClock(NOW + timedelta(hours=1))
    core = await make_core(where, clock)
    phone = Phone()
    screen = Screen(phone)
    ids = count(1)
    event: InEvent | None = InEvent(channel=CHANNEL, event_id="d0", user_id=USER,
                                    reference="console", kind="command", command="delegate",
                                    language="da", sent_at=clock.now())
    applicable = crash_at is None
    try:
        for index in range(MAX_ACTIONS):
            if event is None:
                break
            last = (event, len(phone.shown))
            if index != crash_at:
                await core.inbound.handle(event, screen)
            else:
                core, fits = await _crash(core, where, clock, screen, phone, ids, event,
                                          point, timing, repeat)
                applicable = applicable or fits
            clock.advance(timedelta(minutes=1))
            event = action(phone, ids, clock, last)
            if event is not None:
                event = replace(event, sent_at=clock.now())
        else:
            return Outcome(await stored_answers(core), phone.shown, applicable, ended=False)
        return Outcome(await stored_answers(core), phone.shown, applicable)
    finally:
        await core.close()


async def _crash(core: Core, where: Path, clock: ManualClock, screen: Screen, phone: Phone,
                 ids: count[int], event: InEvent, point: str, timing: str,
                 repeat: bool) -> tuple[Core, bool]:
    """Handle the event, dying at the point; restart and handle what the platform queued."""
    write = outbox.write
    died = False

    async def dying_write(*args: Any, **kwargs: Any) -> list[outbox.Key]:
        await write(*args, **kwargs)
        raise Crash()  # inside the step's transaction: rolled back, as a dead process's is

    if point == "before_commit":
        outbox.write = dying_write
    else:
        screen.armed = point
    before, mark = len(screen.replies), len(phone.shown)
    try:
        await core.inbound.handle(event, screen)
    except Crash:
        died = True
    finally:
        outbox.write = write
        screen.armed = None
    fits = died
    if point == "between" and len(screen.replies) > before and \
            len(screen.replies[-1].messages) < 2:
        fits = False
    await core.close()
    # While the bot is down: the impatient leader answers what their screen shows.
    clock.advance(timedelta(seconds=5))
    queued = [event] if repeat else []
    if timing == "impatient":
        retyped = action(phone, ids, clock, (event, mark))
        if retyped is not None:
            queued.append(replace(retyped, sent_at=clock.now()))
    clock.advance(timedelta(seconds=55))
    core = await make_core(where, clock)
    await core.inbound.redeliver(CHANNEL, screen)
    for queued_event in queued:
        clock.advance(timedelta(seconds=1))
        await core.inbound.handle(queued_event, screen)
    return core, fits


def replies_of(outcome: Outcome) -> list[str]:
    """The texts that reached the leader."""
    return [m.text for m in outcome.shown]


def extra_copies(outcome: Outcome, baseline: Outcome) -> int:
    """Messages that reached the leader more often than without a crash (exact copies: a
    question shown again under 'here is where we are' is not a copy)."""
    extra = 0
    base = replies_of(baseline)
    texts = replies_of(outcome)
    for text in set(texts):
        extra += max(0, texts.count(text) - max(1, base.count(text)))
    return extra


@dataclass
class Result:
    """One scenario of the matrix and what went wrong in it (nothing, when it passes)."""

    step: int
    point: str
    timing: str
    repeat: bool
    problems: list[str]
    extra: int  # exact copies beyond the run without a crash
    refused: int  # texts not taken, answered with 'here is where we are'


def check(outcome: Outcome, baseline: Outcome, point: str, where_we_are: str) -> Result:
    """What a scenario got wrong, compared with the same conversation without a crash."""
    problems = [] if outcome.ended else ["the conversation never ended"]
    for node, value in baseline.answers.items():
        got = outcome.answers.get(node)
        if got is None:
            problems.append(f"answer to {node} lost")
        elif got != value:
            problems.append(f"{node} stored {got!r}, meant for another question")
    for node in set(outcome.answers) - set(baseline.answers):
        problems.append(f"{node} answered though the baseline never asked it")
    summaries = {m.node for m in outcome.shown if m.kind == "summary"}
    for node in ("summary", "agreement"):
        if node not in summaries:
            problems.append(f"the {node} never reached the leader")
    extra = extra_copies(outcome, baseline)
    if extra > (1 if point == "after_send" else 0):
        problems.append(f"{extra} messages reached the leader twice")
    refused = sum(1 for m in outcome.shown if m.text.startswith(where_we_are))
    return Result(-1, point, "", False, problems, extra, refused)


async def matrix(root: Path, repeats: tuple[bool, ...] = (False, True),
                 timings: tuple[str, ...] = TIMINGS,
                 points: tuple[str, ...] = POINTS) -> list[Result]:
    """Every step of /delegate crashed at every point (where the point exists)."""
    base = await onboarded(root)
    baseline = await run(base, root / "baseline", None)
    steps = len(baseline.answers) + 1  # the /delegate command and one event per answer
    core = await make_core(root / "wording")
    where_we_are = core.service.ui("outbox_where_we_are", "da")
    await core.close()
    results = []
    n = count()
    for step in range(steps):
        for point in points:
            for timing in timings:
                for repeat in repeats:
                    outcome = await run(base, root / f"s{next(n)}", step, point, timing,
                                        repeat)
                    if not outcome.applicable:
                        continue
                    result = check(outcome, baseline, point, where_we_are)
                    results.append(replace(result, step=step, timing=timing, repeat=repeat))
    return results
