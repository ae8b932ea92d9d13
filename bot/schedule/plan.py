"""Changes to a leader's schedule inside the caller's transaction: weekly slot, skip, snooze."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import aiosqlite

from bot.clock import iso, parse_iso
from bot.dialogue.state import DialogueState
from bot.schedule.times import Prefs, local_instant, next_nudge, paused, quiet_end, zone_of
from bot.store import repo, schedules

SnoozeOption = Literal["hour", "tomorrow", "week"]
SNOOZE_OPTIONS: tuple[SnoozeOption, ...] = ("hour", "tomorrow", "week")


def prefs_of(leader: repo.Leader, reminder_hours: int) -> Prefs:
    """A leader's schedule preferences."""
    return Prefs.from_settings(leader.settings, reminder_hours)


def plan_key(leader: repo.Leader, prefs: Prefs) -> str:
    """What a weekly slot was computed from; if it changed (e.g. the time zone was set during
    onboarding, outside /settings), the slot is recomputed before sending."""
    key = f"{leader.timezone}|{prefs.nudge_day}|{prefs.nudge_time.isoformat('minutes')}"
    return key if prefs.holidays else key + "|workdays-off"  # default keys stay as they were


async def plan_nudge(tx: aiosqlite.Connection, leader: repo.Leader, now: datetime,
                     conversation: str, reminder_hours: int = 24,
                     after: datetime | None = None) -> schedules.Row | None:
    """Make sure the leader has exactly one upcoming weekly nudge matching their settings.

    An upcoming nudge computed from the same settings is kept (even if quiet hours moved it).
    Otherwise the slot is the next one after `after` (default: now) in a later ISO week than the
    last nudge handled, so changing the time after this week's nudge went out cannot produce a
    second one this week.
    """
    prefs = prefs_of(leader, reminder_hours)
    current = await schedules.pending_nudge(tx, leader.leader_id)
    stamp = iso(now)
    if not prefs.nudges:
        if current is not None:
            await schedules.set_status(tx, current.id, "cancelled", stamp, note="nudges off")
        return None
    key = plan_key(leader, prefs)
    if current is not None:
        if current.payload.get("key") == key:
            return current
        await schedules.set_status(tx, current.id, "cancelled", stamp, note="rescheduled")
    zone = zone_of(leader.timezone)
    slot, instant = next_nudge(prefs, zone, after or now,
                               await schedules.last_slot(tx, leader.leader_id))
    row_id = await schedules.add(tx, leader.leader_id, "nudge", iso(instant), stamp,
                                 conversation=conversation,
                                 payload={"slot": slot.isoformat(), "key": key})
    return await schedules.get(tx, row_id)


async def skip_next(tx: aiosqlite.Connection, leader: repo.Leader, now: datetime,
                    conversation: str, reminder_hours: int = 24) -> schedules.Row | None:
    """Skip the upcoming weekly nudge; return the one after it."""
    current = await schedules.pending_nudge(tx, leader.leader_id)
    if current is not None:
        await schedules.set_status(tx, current.id, "skipped", iso(now),
                                   note="skipped by the leader")
    return await plan_nudge(tx, leader, now, conversation, reminder_hours)


def when_sent(instant: datetime, prefs: Prefs, leader: repo.Leader) -> datetime:
    """When a message due at `instant` will actually go out, given the quiet hours."""
    return quiet_end(instant, zone_of(leader.timezone), prefs.quiet) or instant


async def snooze(tx: aiosqlite.Connection, leader: repo.Leader, row: schedules.Row,
                 option: SnoozeOption, now: datetime, reminder_hours: int = 24
                 ) -> datetime | None:
    """Put a delivered nudge off; return when it comes back (None: with next week's nudge)."""
    stamp = iso(now)
    prefs = prefs_of(leader, reminder_hours)
    zone = zone_of(leader.timezone)
    raw = await repo.load_session(tx, leader.leader_id)
    if raw is not None and DialogueState.from_json(raw).thread == row.thread:
        await repo.save_session(tx, leader.leader_id, None, stamp)
    if row.thread:
        await repo.end_thread(tx, row.thread, "abandoned", stamp)
    await schedules.cancel_pending(tx, leader.leader_id, "reminder", stamp, "snoozed",
                                   parent_id=row.origin)
    await schedules.cancel_pending(tx, leader.leader_id, "snooze", stamp, "snoozed again")
    await schedules.set_payload(tx, row.id, {**row.payload, "snoozed": option}, stamp)
    if option == "week":
        upcoming = await schedules.pending_nudge(tx, leader.leader_id)
        return None if upcoming is None else parse_iso(upcoming.due_at)
    if option == "hour":
        due = now + timedelta(hours=1)
    else:
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        due = local_instant(tomorrow, prefs.nudge_time, zone)
    await schedules.add(tx, leader.leader_id, "snooze", iso(due), stamp,
                        conversation=row.conversation, parent_id=row.origin,
                        payload={"snoozed_from": row.id})
    return due


def is_paused(leader: repo.Leader, now: datetime) -> bool:
    """Whether the leader is on a pause right now."""
    return paused(Prefs.from_settings(leader.settings), zone_of(leader.timezone), now)
