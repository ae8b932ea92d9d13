"""The scheduler: ONE APScheduler job that reads due rows from SQLite and paces their sending.

Design (issue 5): the schedules table is the only source of truth. Instead of one APScheduler
job per leader (memory and start-up time growing with every leader, jobs lost if a job store
cannot unpickle them), a single interval job with an explicit id, replace_existing=True, an
explicit misfire_grace_time and coalesce=True wakes a dispatcher that queries the indexed
(status, due_at) rows. Start-up therefore registers one job whatever the number of leaders.

Delivery is at most once. For each row the dispatcher commits, in ONE transaction, the decision
(skip, postpone, miss) or the new conversation state together with status 'sending'; only then
does it call the channel, and afterwards it records 'sent'. A crash between the two leaves
'sending', which start-up turns into 'unconfirmed' and never resends: a leader may, rarely, miss
a message, but never gets one twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import TYPE_CHECKING

import aiosqlite
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot import metrics
from bot.channels.base import Outbox, Routes
from bot.clock import Timer, as_timer, iso, parse_iso
from bot.dialogue.state import DialogueState, OutMessage
from bot.schedule import plan
from bot.schedule.holidays import country_of, holiday_name, moved_off_holiday
from bot.schedule.messages import day_text, snooze_buttons
from bot.schedule.pacer import Pacer, Prepared
from bot.schedule.times import local_instant, next_nudge, paused, quiet_end, zone_of
from bot.store import repo, schedules
from bot.store.schedules import Row

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.service import BotService

log = logging.getLogger(__name__)

DISPATCH_JOB_ID = "tillidsbot-schedule-dispatch"
BACKFILL_CHUNK = 1000
NEW_LEADER_MARGIN = timedelta(minutes=5)
STOP_TIMEOUT = 10.0  # seconds to let sends under way finish at shutdown


@dataclass(frozen=True)
class ScheduleConfig:
    """The scheduler's knobs (from Settings in the app, given directly in tests)."""

    grace: timedelta = timedelta(hours=12)
    rate: int = 25
    chat_interval: float = 1.0
    tick_seconds: float = 30.0
    reminder_hours: int = 24
    busy: timedelta = timedelta(minutes=30)
    max_queue: int = 1000
    nudge_conversation: str = "reflection"

    @classmethod
    def from_settings(cls, settings: Settings) -> ScheduleConfig:
        """Read the configured values."""
        return cls(grace=timedelta(hours=settings.schedule_grace_hours),
                   rate=settings.schedule_rate, chat_interval=settings.schedule_chat_interval,
                   tick_seconds=settings.schedule_tick_seconds,
                   reminder_hours=settings.reminder_hours,
                   nudge_conversation=settings.nudge_conversation)


@dataclass(frozen=True)
class StartupReport:
    """What start-up found."""

    unconfirmed: int
    nudges_planned: int


class Dispatcher:
    """Turns due rows into conversations and messages, exactly as the table says."""

    def __init__(self, service: BotService, outbox: Outbox | Routes,
                 config: ScheduleConfig | None = None, leader_prefix: str | None = None,
                 timer: Timer | None = None) -> None:
        """Bind to the bot service (its store and clock) and the channels' outboxes.

        With Routes, each leader's rows go out through their own channel and only the running
        channels' leaders are served; a single Outbox serves the leaders whose id starts with
        leader_prefix ('tg:', 'console:'), or everyone.
        """
        self.service = service
        self.store = service.store
        self.config = config or ScheduleConfig()
        self.leader_prefixes: list[str] | None = (
            outbox.prefixes() if isinstance(outbox, Routes)
            else [leader_prefix] if leader_prefix else None)
        self.timer = timer or as_timer(service.clock)
        self.pacer = Pacer(self.timer, outbox, self.prepare, self.finish, rate=self.config.rate,
                           chat_interval=self.config.chat_interval)
        self._new_since: str | None = None

    # ---- start-up and ticks -----------------------------------------------------------------

    async def startup(self) -> StartupReport:
        """Reconcile rows a crash left 'sending' and give every leader an upcoming nudge."""
        now = self.timer.now()
        async with self.store.transaction() as tx:
            unconfirmed = await schedules.reconcile_sending(tx, iso(now))
        if unconfirmed:
            metrics.scheduled("any", "unconfirmed", count=unconfirmed)
            log.warning("%d scheduled message(s) were being sent when the bot stopped; "
                        "recorded as unconfirmed, not sent again", unconfirmed)
        planned = await self.plan_missing_nudges(since=None)
        self._new_since = iso(now - NEW_LEADER_MARGIN)
        return StartupReport(unconfirmed, planned)

    async def tick(self) -> int:
        """Plan nudges for new leaders and queue what is due; return how many were queued."""
        now = self.timer.now()
        since = self._new_since
        self._new_since = iso(now - NEW_LEADER_MARGIN)
        await self.plan_missing_nudges(since=since)
        room = self.config.max_queue - len(self.pacer.queued)
        if room <= 0:
            return 0
        async with self.store.transaction() as tx:
            due = await schedules.due(tx, iso(now), room + len(self.pacer.queued),
                                      self.leader_prefixes)
        queued = sum(self.pacer.submit(d.id, d.chat_id, d.due_at) for d in due)
        metrics.due_backlog(len(self.pacer.queued))
        return queued

    async def run_once(self) -> None:
        """Queue what is due and send it all, batch after batch (tests drive time with this)."""
        tried: set[int] = set()
        while True:
            await self.tick()
            fresh = self.pacer.queued - tried
            if not fresh:
                break
            tried |= fresh
            await self.pacer.drain()

    async def plan_missing_nudges(self, since: str | None) -> int:
        """Give leaders without an upcoming weekly nudge their next one (chunked commits)."""
        async with self.store.transaction() as tx:
            missing = await schedules.leaders_without_nudge(tx, since)
            lasts = await schedules.last_slots(tx) if missing else {}
        now = self.timer.now()
        stamp = iso(now)
        planned = 0
        for start in range(0, len(missing), BACKFILL_CHUNK):
            rows: list[tuple[str, str, str, str]] = []
            for leader_id, timezone, settings in missing[start:start + BACKFILL_CHUNK]:
                leader = repo.Leader(leader_id, None, "da", timezone, json.loads(settings or "{}"))
                prefs = plan.prefs_of(leader, self.config.reminder_hours)
                if not prefs.nudges:
                    continue
                slot, instant = next_nudge(prefs, zone_of(timezone), now, lasts.get(leader_id))
                payload = {"slot": slot.isoformat(), "key": plan.plan_key(leader, prefs)}
                rows.append((leader_id, iso(instant), self.config.nudge_conversation,
                             json.dumps(payload)))
            async with self.store.transaction() as tx:
                planned += await schedules.add_nudges(tx, rows, stamp)
        return planned

    # ---- one row: decide and record before sending ------------------------------------------

    async def prepare(self, row_id: int) -> Prepared | None:
        """Decide a due row in one transaction; return messages only if it is to be sent now."""
        try:
            async with self.store.transaction() as tx:
                return await self._prepare(tx, row_id)
        except Exception as exc:  # a broken row must not come back every tick, nor stop others
            log.exception("scheduled row %s could not be prepared; recorded as failed", row_id)
            metrics.error("schedule")
            async with self.store.transaction() as tx:
                await schedules.set_status(tx, row_id, "failed", self.service.now(),
                                           expect="pending",
                                           note=f"could not prepare: {type(exc).__name__}")
                row = await schedules.get(tx, row_id)
                leader = None if row is None else await repo.get_leader(tx, row.leader_id)
                if row is not None and leader is not None and row.kind == "nudge":
                    await plan.plan_nudge(tx, leader, self.timer.now(),
                                          self._nudge_conversation(row),
                                          self.config.reminder_hours)  # next week still comes
            return None

    async def _prepare(self, tx: aiosqlite.Connection, row_id: int) -> Prepared | None:
        """The decision itself (see the module docstring for the order of events)."""
        row = await schedules.get(tx, row_id)
        now = self.timer.now()
        if row is None or row.status != "pending" or parse_iso(row.due_at) > now:
            return None
        stamp = iso(now)
        leader = await repo.get_leader(tx, row.leader_id)
        if leader is None:
            return None
        prefs = plan.prefs_of(leader, self.config.reminder_hours)
        zone = zone_of(leader.timezone)
        if not leader.chat_id:
            return await self._close(tx, row, leader, "failed", "no chat to send to")
        if now - parse_iso(row.due_at) > self.config.grace:
            return await self._close(tx, row, leader, "missed",
                                     f"more than {self.config.grace} late")
        if row.kind == "nudge" and not prefs.nudges:
            return await self._close(tx, row, leader, "skipped", "nudges off")
        if row.kind == "nudge" and row.payload.get("key") != plan.plan_key(leader, prefs):
            # Day, time or zone changed outside /settings: recompute this week's slot (it may
            # already be due, within the grace) instead of sending at the old wall-clock time.
            await schedules.set_status(tx, row.id, "cancelled", stamp, note="rescheduled")
            await plan.plan_nudge(tx, leader, now, self._nudge_conversation(row),
                                  self.config.reminder_hours, after=now - self.config.grace)
            return None
        if paused(prefs, zone, now):
            if row.kind == "followup" and prefs.paused_until is not None:
                back = local_instant(prefs.paused_until, prefs.followup_time, zone)
                await schedules.postpone(tx, row.id, iso(back), stamp, "paused")
                return None
            return await self._close(tx, row, leader, "skipped", "paused")
        if row.kind in ("nudge", "followup") and prefs.holidays:
            moved = moved_off_holiday(parse_iso(row.due_at), zone.key)
            if moved is not None:
                day = parse_iso(row.due_at).astimezone(zone).date().isoformat()
                await schedules.set_payload(tx, row.id, {**row.payload, "holiday": day}, stamp)
                await schedules.postpone(tx, row.id, iso(moved), stamp, "public holiday")
                return None
        quiet = quiet_end(now, zone, prefs.quiet)
        if quiet is not None:
            await schedules.postpone(tx, row.id, iso(quiet), stamp, "quiet hours")
            return None
        session = await schedules.session_info(tx, leader.leader_id)
        state = None if session is None else DialogueState.from_json(session[0])
        if row.kind == "reminder":
            return await self._reminder(tx, row, leader, state)
        if (session is not None and state is not None
                and parse_iso(session[1]) > now - self.config.busy
                and not await self._untouched_nudge(tx, state)):
            # Mid-conversation right now: come back later rather than interrupt.
            await schedules.postpone(tx, row.id, iso(now + self.config.busy), stamp,
                                     "leader busy in a conversation")
            return None
        if row.kind == "followup":
            return await self._followup(tx, row, leader)
        if row.kind in ("nudge", "snooze"):
            return await self._nudge(tx, row, leader, prefs.reminder_hours)
        return await self._close(tx, row, leader, "failed", f"unknown kind {row.kind!r}")

    async def _untouched_nudge(self, tx: aiosqlite.Connection, state: DialogueState) -> bool:
        """A reflection a nudge opened and the leader has not answered does not count as busy."""
        return (await schedules.opened_by_nudge(tx, state.thread)
                and not await schedules.thread_answered(tx, state.thread))

    async def _close(self, tx: aiosqlite.Connection, row: Row, leader: repo.Leader,
                     status: str, note: str) -> Prepared | None:
        """Record that a row will not be sent (so: None); a weekly nudge rolls on."""
        await schedules.set_status(tx, row.id, status, self.service.now(), note=note)
        metrics.scheduled(row.kind, status)
        log.info("scheduled row %s (%s) %s: %s", row.id, row.kind, status, note)
        if row.kind == "nudge":
            await plan.plan_nudge(tx, leader, self.timer.now(), self._nudge_conversation(row),
                                  self.config.reminder_hours)
        return None

    def _nudge_conversation(self, row: Row) -> str:
        """The conversation a nudge opens."""
        return row.conversation or self.config.nudge_conversation

    def _known(self, conversation: str | None) -> bool:
        """Whether a conversation exists in the loaded dialogues."""
        return conversation in self.service.dialogues.registry.definitions

    async def _followup(self, tx: aiosqlite.Connection, row: Row,
                        leader: repo.Leader) -> Prepared | None:
        """Open the follow-up conversation the row names, tied to the thread it came from."""
        if row.thread and await schedules.thread_status(tx, row.thread) == "cancelled":
            return await self._close(tx, row, leader, "cancelled", "its conversation was cancelled")
        if not self._known(row.conversation):
            return await self._close(tx, row, leader, "failed",
                                     f"unknown conversation {row.conversation!r}")
        assert row.conversation is not None
        messages = await self.service.start_in(tx, leader, row.conversation,
                                               dict(row.payload.get("context") or {}), row.thread)
        await schedules.set_status(tx, row.id, "sending", self.service.now(), expect="pending")
        return Prepared(leader.chat_id or "", [*self._holiday_note(row, leader), *messages],
                        leader.leader_id)

    async def _nudge(self, tx: aiosqlite.Connection, row: Row, leader: repo.Leader,
                     reminder_hours: int) -> Prepared | None:
        """Open this week's reflection with snooze buttons; plan the reminder and next week."""
        conversation = self._nudge_conversation(row)
        if not self._known(conversation):
            return await self._close(tx, row, leader, "failed",
                                     f"unknown conversation {conversation!r}")
        stamp = self.service.now()
        if row.kind == "nudge":
            await schedules.cancel_pending(tx, leader.leader_id, "snooze", stamp,
                                           "superseded by the weekly nudge")
        started = await self.service.start_in(tx, leader, conversation, {}, None)
        raw = await repo.load_session(tx, leader.leader_id)
        thread = None if raw is None else DialogueState.from_json(raw).thread
        await schedules.set_status(tx, row.id, "sending", stamp, expect="pending", thread=thread)
        if reminder_hours and thread and not await schedules.has_reminder(tx, row.origin):
            await schedules.add(tx, leader.leader_id, "reminder",
                                iso(self.timer.now() + timedelta(hours=reminder_hours)), stamp,
                                conversation=conversation, thread=thread,
                                parent_id=row.origin, payload={"delivery": row.id})
        if row.kind == "nudge":
            await plan.plan_nudge(tx, leader, self.timer.now(), conversation,
                                  self.config.reminder_hours)
        header = OutMessage(text=self.service.ui("sched_nudge_header", leader.language),
                            buttons=snooze_buttons(self.service, row.id, leader.language))
        # The holiday note follows the header (with its snooze buttons) and precedes the
        # conversation's first question, which stays the last thing said.
        return Prepared(leader.chat_id or "", [header, *self._holiday_note(row, leader),
                                               *started], leader.leader_id)

    def _holiday_note(self, row: Row, leader: repo.Leader) -> list[OutMessage]:
        """Once, with the message a public holiday moved: why it comes today."""
        moved_from = row.payload.get("holiday")
        if not isinstance(moved_from, str):
            return []
        with contextlib.suppress(ValueError):
            day = date.fromisoformat(moved_from)
            lang = leader.language
            name = holiday_name(day, country_of(zone_of(leader.timezone).key), lang)
            if name:
                text = self.service.ui("sched_holiday_moved", lang, holiday=name,
                                       date=day_text(self.service, day, lang))
                return [OutMessage(text=text)]
        return []

    async def _reminder(self, tx: aiosqlite.Connection, row: Row, leader: repo.Leader,
                        state: DialogueState | None) -> Prepared | None:
        """The one gentle reminder, only if the nudge's reflection is still untouched."""
        if (state is None or not row.thread or state.thread != row.thread
                or await schedules.thread_answered(tx, row.thread)):
            return await self._close(tx, row, leader, "cancelled", "answered or moved on")
        delivery = int(row.payload.get("delivery") or row.origin)
        lang = leader.language
        header = OutMessage(text=self.service.ui("sched_reminder_header", lang),
                            buttons=snooze_buttons(self.service, delivery, lang))
        prompt = self.service.engine.prompt(state, lang, self.service.today(leader))
        await schedules.set_status(tx, row.id, "sending", self.service.now(), expect="pending")
        return Prepared(leader.chat_id or "", [header, *prompt], leader.leader_id)

    async def finish(self, row_id: int, error: BaseException | None) -> None:
        """Record 'sent' after the channel accepted the messages, or 'failed' (never retried)."""
        async with self.store.transaction() as tx:
            stamp = self.service.now()
            if error is None:
                await schedules.set_status(tx, row_id, "sent", stamp, expect="sending",
                                           sent_at=stamp)
                sent = await schedules.get(tx, row_id)
                if sent is not None:
                    late = self.timer.now() - parse_iso(sent.due_at)
                    metrics.scheduled(sent.kind, "sent", late.total_seconds())
                return
            log.warning("scheduled row %s could not be delivered: %s", row_id,
                        type(error).__name__)
            await schedules.set_status(tx, row_id, "failed", stamp, expect="sending",
                                       note=f"delivery failed: {type(error).__name__}")
            row = await schedules.get(tx, row_id)
            metrics.scheduled(row.kind if row else "any", "failed")
            metrics.error("schedule")
            if row is None or row.kind not in ("nudge", "snooze") or not row.thread:
                return
            # The leader never saw the reflection open: do not leave it waiting for an answer.
            raw = await repo.load_session(tx, row.leader_id)
            if raw is not None and DialogueState.from_json(raw).thread == row.thread:
                await repo.save_session(tx, row.leader_id, None, stamp)
            await repo.end_thread(tx, row.thread, "abandoned", stamp)
            await schedules.cancel_pending(tx, row.leader_id, "reminder", stamp,
                                           "nudge not delivered", parent_id=row.origin)


async def dispatch_tick(dispatcher: Dispatcher) -> None:
    """The single APScheduler job (module level: the job holds no pickled state)."""
    await dispatcher.tick()


class ScheduleRunner:
    """Starts and stops the dispatcher, its pacer and the one APScheduler job, for any channel."""

    def __init__(self, dispatcher: Dispatcher,
                 scheduler: AsyncIOScheduler | None = None) -> None:
        """Wrap a dispatcher; its job goes on the given scheduler (the core's one), else on a
        scheduler of its own."""
        self.dispatcher = dispatcher
        self.shared = scheduler
        self.scheduler: AsyncIOScheduler | None = None
        self._pacer_task: asyncio.Task[None] | None = None
        self.report: StartupReport | None = None

    async def start(self) -> StartupReport:
        """Reconcile, catch up on what fell due while stopped, then tick every few seconds."""
        self.report = await self.dispatcher.startup()
        self._pacer_task = asyncio.create_task(self.dispatcher.pacer.run(),
                                               name="tillidsbot-schedule-pacer")
        await self.dispatcher.tick()
        tick = self.dispatcher.config.tick_seconds
        self.scheduler = self.shared or AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_job(
            dispatch_tick, trigger=IntervalTrigger(seconds=tick), args=[self.dispatcher],
            id=DISPATCH_JOB_ID, name="queue due scheduled messages", replace_existing=True,
            # A late tick is still useful (it only reads the table), and missed ticks are one.
            misfire_grace_time=max(1, int(tick * 10)), coalesce=True, max_instances=1,
        )
        if not self.scheduler.running:
            self.scheduler.start()
        return self.report

    async def stop(self) -> None:
        """Stop ticking, let sends under way finish (rows not begun stay pending in SQLite)."""
        if self.scheduler is not None and self.scheduler.running:
            if self.shared is None:
                self.scheduler.shutdown(wait=False)
            elif self.scheduler.get_job(DISPATCH_JOB_ID) is not None:
                self.scheduler.remove_job(DISPATCH_JOB_ID)
        self.dispatcher.pacer.stop()
        if self._pacer_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._pacer_task), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("scheduled sends still under way at shutdown; they stay 'sending' "
                            "and are reconciled at the next start")
                self._pacer_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pacer_task


def make_runner(service: BotService, outbox: Outbox | Routes, settings: Settings,
                leader_prefix: str | None = None,
                scheduler: AsyncIOScheduler | None = None) -> ScheduleRunner:
    """The runner the process starts next to its channels (on the core's scheduler)."""
    return ScheduleRunner(Dispatcher(service, outbox, ScheduleConfig.from_settings(settings),
                                     leader_prefix), scheduler)
