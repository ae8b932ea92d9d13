"""A real bot (real SQLite file, real dialogues) with a ManualClock and a recording outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bot.app
from bot.app import Core, build_core
from bot.clock import ManualClock, SystemClock, iso
from bot.config import load_settings
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.schedule import plan
from bot.schedule.dispatcher import Dispatcher, ScheduleConfig
from bot.schedule.times import Prefs
from bot.service import Who
from bot.store import repo, schedules
from bot.store.db import Store

_real_load = bot.app.load_dialogues
_loaded: dict[tuple[Path, Path], Any] = {}


def _load_once(dialogues_dir: Path, templates_dir: Path) -> Any:
    """The dialogues are immutable once validated; parse the YAML once per test session."""
    key = (dialogues_dir, templates_dir)
    if key not in _loaded:
        _loaded[key] = _real_load(dialogues_dir, templates_dir)
    return _loaded[key]


bot.app.load_dialogues = _load_once  # type: ignore[assignment]


@dataclass
class Sent:
    """One message the outbox accepted, with the (virtual) time it was sent."""

    at: datetime
    chat: str
    message: OutMessage


@dataclass
class RecordingOutbox:
    """Records deliveries at the clock's time; can be told to fail."""

    clock: ManualClock
    sent: list[Sent] = field(default_factory=list)
    fail: bool = False

    async def deliver(self, chat_id: str, messages: list[OutMessage]) -> None:
        """Record, or raise like a channel that could not send."""
        if self.fail:
            raise ConnectionError("channel down")
        for message in messages:
            self.sent.append(Sent(self.clock.now(), chat_id, message))


def who(n: int | str, lang: str = "da") -> Who:
    """A Telegram-like leader."""
    return Who(leader_id=f"tg:{n}", chat_id=str(n), language_code=lang)


class Harness:
    """The app's core plus a dispatcher, driven by hand."""

    def __init__(self, core: Core, clock: ManualClock, outbox: RecordingOutbox,
                 dispatcher: Dispatcher) -> None:
        """Use Harness.open."""
        self.core = core
        self.service = core.service
        self.clock = clock
        self.outbox = outbox
        self.dispatcher = dispatcher

    @classmethod
    async def open(cls, db: Path, clock: ManualClock, outbox: RecordingOutbox | None = None,
                   **config: Any) -> Harness:
        """Open (or reopen) the bot on a database file and run the scheduler's start-up."""
        core = await build_core(load_settings(env={}, database_path=db), clock)
        box = outbox or RecordingOutbox(clock)
        dispatcher = Dispatcher(core.service, box, ScheduleConfig(**config))
        await dispatcher.startup()
        return cls(core, clock, box, dispatcher)

    async def close(self) -> None:
        """Close the database (as a stop or a crash would leave it)."""
        await self.core.close()

    async def run(self) -> None:
        """One tick and everything it queued."""
        await self.dispatcher.run_once()

    async def step_until(self, end: datetime, step: timedelta = timedelta(minutes=30)) -> None:
        """Move the clock along a fixed grid, running the scheduler at each point.

        Pacing waits move the ManualClock on by seconds; the grid keeps the ticks on the same
        wall-clock points regardless.
        """
        point = self.clock.now()
        while point < end:
            point += step
            if point > self.clock.now():
                self.clock.set(point)
            await self.run()

    async def command(self, n: int | str, command: str, args: str = "") -> list[OutMessage]:
        """A leader types a command."""
        return await self.service.handle_command(who(n), command, args)

    async def press(self, n: int | str, data: str) -> list[OutMessage]:
        """A leader presses a button."""
        return await self.service.handle_input(who(n), ButtonInput(data=data))

    async def say(self, n: int | str, text: str) -> list[OutMessage]:
        """A leader types text."""
        return await self.service.handle_input(who(n), TextInput(text=text))

    def texts(self, key: str, lang: str = "da") -> str:
        """Interface wording."""
        return self.service.ui(key, lang)

    def headers(self, key: str = "sched_nudge_header", chat: str | None = None) -> list[Sent]:
        """Sent messages that start with a given wording (e.g. nudges, reminders: their header
        and the question it opens are one message)."""
        text = self.texts(key)
        return [s for s in self.outbox.sent
                if s.message.text.startswith(text) and (chat is None or s.chat == chat)]

    async def rows(self, n: int | str) -> list[schedules.Row]:
        """All schedule rows of a leader, oldest first."""
        async with self.core.store.conn.execute(
                "SELECT id FROM schedules WHERE leader_id = ? ORDER BY id", (f"tg:{n}",)) as cur:
            ids = [r[0] for r in await cur.fetchall()]
        found = []
        for row_id in ids:
            row = await schedules.get(self.core.store.conn, row_id)
            assert row is not None
            found.append(row)
        return found


def local(instant: datetime, zone: str) -> datetime:
    """An instant on a zone's wall clock."""
    return instant.astimezone(ZoneInfo(zone))


def snooze_data(message: OutMessage, option: str) -> str:
    """The callback data of a snooze button under a nudge."""
    for row in message.buttons:
        for button in row:
            if button.data.startswith("sz:") and button.data.endswith(":" + option):
                return button.data
    raise AssertionError(f"no {option} snooze button in {message}")


async def seed_due_nudge(db: Path, leader_id: str, chat_id: str) -> None:
    """A leader whose weekly nudge fell due a minute ago (quiet hours off), in a real file."""
    store = await Store.open(db)
    now = SystemClock().now()
    async with store.transaction() as tx:
        leader = await repo.create_leader(tx, leader_id, chat_id, "da", iso(now))
        leader.settings = {"quiet": "off", "schedule_seen": True}
        await repo.update_leader(tx, leader, iso(now))
        key = plan.plan_key(leader, Prefs.from_settings(leader.settings))
        await schedules.add(tx, leader.leader_id, "nudge", iso(now - timedelta(minutes=1)),
                            iso(now), conversation="reflection",
                            payload={"slot": date.today().isoformat(), "key": key})
    await store.close()
