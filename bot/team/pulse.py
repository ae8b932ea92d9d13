"""The anonymous pulse: opened on schedule or on request, answered by buttons, closed into an
aggregate (individual answers are forgotten), published once with a chart."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import time, timedelta

from bot import metrics
from bot.clock import iso, parse_iso
from bot.dialogue.state import Attachment, OutMessage
from bot.numbers import small_int
from bot.schedule.holidays import back_to_weekday, moved_off_holiday
from bot.store import team as repo
from bot.team import core
from bot.team.delivery import Delivery, Mark, at_most_once, guard
from bot.team.views import CAPTION_LIMIT, CHART_PULSES, MEANING_CODES, Views

log = logging.getLogger(__name__)

Keys = Callable[[str, str], str]  # (scope, user id) -> the member's hash in that scope


def cadence(group: repo.Group) -> core.Cadence:
    """A group's schedule as a Cadence."""
    hour, minute = (int(x) for x in group.at_time.split(":"))
    return core.Cadence(group.cadence, group.weekday, time(hour, minute), group.timezone)


class Pulses:
    """One channel's pulses."""

    def __init__(self, out: Delivery, views: Views, key: Keys) -> None:
        """Post through out, render with views, hash members with key."""
        self.out = out
        self.views = views
        self.key = key
        self.store = out.store
        self.clock = out.clock
        self.channel = out.channel
        self.marks = out.marks

    async def open_now(self, chat_id: str, lang: str) -> None:
        """Open a pulse right away, outside the regular schedule."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            group = await repo.ensure_group(tx, self.channel, chat_id, lang, iso(now))
            if await repo.live_pulse(tx, self.channel, chat_id) is not None:
                pulse = None
            else:
                pulse = await repo.create_pulse(
                    tx, self.channel, chat_id, group.language, iso(now),
                    iso(now + timedelta(hours=group.open_hours)))
        if pulse is None:
            await self.out.reply(chat_id, self.views.ui("team_already_open", group.language))
            return
        log.info("team pulse %d opened on request", pulse.id)
        metrics.team_pulse("opened")
        await self.post(pulse.id)

    async def close_now(self, chat_id: str, lang: str) -> None:
        """Close the open pulse now."""
        async with self.store.transaction() as tx:
            pulse = await repo.live_pulse(tx, self.channel, chat_id)
            if pulse is not None and pulse.status in ("opening", "open"):
                await repo.set_pulse(tx, pulse.id, closes_at=iso(self.clock.now()))
        if pulse is None or pulse.status not in ("opening", "open"):
            await self.out.reply(chat_id, self.views.ui("team_none_open", lang))
            return
        await self.close(pulse.id)

    @at_most_once("post")
    async def post(self, pulse_id: int, mark: Mark) -> None:
        """Post a pulse whose message is not out yet (also after a crash, from the tick)."""
        async with self.store.transaction() as tx:
            pulse = await repo.get_pulse(tx, pulse_id)
            if pulse is None or pulse.status != "opening" or pulse.message_id:
                return
            if parse_iso(pulse.closes_at) <= self.clock.now():
                return  # too late to ask; the close step reports it
            group = await repo.get_group(tx, pulse.channel, pulse.chat_id)
            count = await repo.respondents(tx, pulse.id)
        assert group is not None
        async with mark as mine:
            if not mine:
                return
            message_id = await self.out.post(pulse.chat_id,
                                             self.views.pulse_message(pulse, group, count))
            async with self.store.transaction() as tx:
                await repo.set_pulse(tx, pulse.id, status="open", message_id=message_id,
                                     shown_count=count)

    async def scheduled(self, chat_id: str) -> None:
        """Open the group's regular pulse and move its schedule on, in one transaction."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, self.channel, chat_id)
            if group is None or group.status != "active" or group.next_pulse_at is None:
                return
            due = parse_iso(group.next_pulse_at)
            if due > now:
                return
            moved = moved_off_holiday(due, group.timezone)
            if moved is not None:  # a public holiday where the team is: the next working day
                group.next_pulse_at = iso(moved)
                await repo.save_group(tx, group, iso(now))
                return
            pulse = None
            missed = now - due >= timedelta(hours=group.open_hours)
            # One pulse at a time; a pulse missed entirely while the bot was down is skipped
            # rather than posted late (it would already have closed).
            if not missed and await repo.live_pulse(tx, self.channel, chat_id) is None:
                pulse = await repo.create_pulse(tx, self.channel, chat_id, group.language,
                                                iso(now),
                                                iso(due + timedelta(hours=group.open_hours)))
            when = cadence(group)  # counted on from the day a holiday may have moved it off
            slot = back_to_weekday(due, when.timezone, when.weekday)
            group.next_pulse_at = iso(core.next_occurrence(when, slot, now))
            await repo.save_group(tx, group, iso(now))
        if pulse is not None:
            log.info("team pulse %d opened on schedule", pulse.id)
            metrics.team_pulse("opened")
            await self.post(pulse.id)

    async def button(self, chat_id: str, user_id: str, parts: list[str], fallback: str) -> str:
        """A member answers (or changes an answer); returns the private confirmation."""
        ui = self.views.ui
        if len(parts) != 3 or small_int(parts[0]) is None or parts[1] not in ("t", "m"):
            return ui("team_toast_stale", fallback)
        trust = int(parts[2]) if parts[1] == "t" and parts[2] in {"1", "2", "3", "4", "5"} else None
        meaning = MEANING_CODES.get(parts[2]) if parts[1] == "m" else None
        async with self.store.transaction() as tx:
            # A press on the pulse message left in a group's old chat still counts.
            chat_id = await repo.moved_to(tx, self.channel, chat_id) or chat_id
            pulse = await repo.get_pulse(tx, int(parts[0]))
            if pulse is None or pulse.channel != self.channel or pulse.chat_id != chat_id or (
                    trust is None and meaning is None):
                group = await repo.get_group(tx, self.channel, chat_id)
                return ui("team_toast_stale", group.language if group else fallback)
            if pulse.status not in ("opening", "open") or (
                    parse_iso(pulse.closes_at) <= self.clock.now()):
                return ui("team_toast_closed", pulse.language)
            await repo.put_answer(tx, pulse.id, self.key(f"pulse:{pulse.id}", user_id),
                                  trust=trust, meaning=meaning)
            count = await repo.respondents(tx, pulse.id)
        if count != pulse.shown_count:
            await self.show_count(pulse.id, pulse.chat_id)
        return ui("team_toast_saved", pulse.language)

    async def show_count(self, pulse_id: int, chat_id: str) -> None:
        """Edit the pulse message to the current respondent count, if the budget allows (one
        edit at a time in the group, so the same count is never sent twice)."""
        async with self.out.lock(chat_id):
            async with self.store.transaction() as tx:
                pulse = await repo.get_pulse(tx, pulse_id)
                if pulse is None or pulse.status != "open":
                    return
                group = await repo.get_group(tx, pulse.channel, pulse.chat_id)
                count = await repo.respondents(tx, pulse_id)
            if group is None or count == pulse.shown_count:
                return
            if await self.out.edit(pulse.chat_id, pulse.message_id,
                                   self.views.pulse_message(pulse, group, count), optional=True):
                async with self.store.transaction() as tx:
                    await repo.set_pulse(tx, pulse_id, shown_count=count)

    async def close(self, pulse_id: int) -> None:
        """Aggregate a pulse, forget its individual answers, then publish the result."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            pulse = await repo.get_pulse(tx, pulse_id)
            if pulse is None or pulse.status not in ("opening", "open"):
                return
            group = await repo.get_group(tx, pulse.channel, pulse.chat_id)
            assert group is not None
            result = core.aggregate(await repo.answers_to(tx, pulse_id), group.min_respondents)
            await repo.set_pulse(tx, pulse_id, status="closing", closed_at=iso(now),
                                 result=core.result_to_json(result))
            await repo.forget_pulse_answers(tx, pulse_id)
        log.info("team pulse %d closed (%s)", pulse_id, "shown" if result.shown else "too few")
        await self.publish(pulse_id)

    @at_most_once("publish")
    async def publish(self, pulse_id: int, mark: Mark) -> None:
        """Post a closed pulse's result (or 'too few answers') and mark it done."""
        async with self.store.transaction() as tx:
            pulse = await repo.get_pulse(tx, pulse_id)
            if pulse is None or pulse.status != "closing" or pulse.result is None:
                return
            group = await repo.get_group(tx, pulse.channel, pulse.chat_id)
            history = await repo.closed_pulses(tx, pulse.channel, pulse.chat_id,
                                               CHART_PULSES - 1)
        assert group is not None
        lang = pulse.language
        ui = self.views.ui
        async with mark as mine:
            if not mine:
                return
            result = core.result_from_json(pulse.result)
            await self.out.edit(pulse.chat_id, pulse.message_id,
                                self.views.pulse_message(pulse, group, result.respondents))
            if not result.shown:
                await self.out.post(pulse.chat_id, OutMessage(text=ui(
                    "team_too_few", lang, seq=pulse.seq, count=result.respondents,
                    minimum=result.minimum)))
            else:
                shown_before = [p for p in history if p.result and
                                core.result_from_json(p.result).shown]
                previous = core.result_from_json(shown_before[-1].result) if (
                    shown_before and shown_before[-1].result) else None
                since = shown_before[-1].seq if shown_before else None
                text = self.views.result_text(pulse.seq, result, previous, lang, since)
                chart = self.views.chart([*history, pulse], group)
                photo = Attachment(kind="photo", filename=ui("team_chart_filename", lang),
                                   data=chart)
                if len(text) <= CAPTION_LIMIT:
                    await self.out.post(pulse.chat_id, OutMessage(text=text, kind="summary",
                                                                  attachments=[photo]))
                else:
                    await self.out.post(pulse.chat_id, OutMessage(text=text, kind="summary"))
                    await self.out.post(pulse.chat_id, OutMessage(text="", attachments=[photo]))
            async with self.store.transaction() as tx:
                await repo.set_pulse(tx, pulse_id, status="closed")
            metrics.team_pulse("closed")

    async def tick(self, now: str) -> None:
        """Post, open, close and publish what is due in this channel, and catch up counts."""
        async with self.store.transaction() as tx:
            opening = await repo.pulses_in(tx, self.channel, "opening")
            due = await repo.due_groups(tx, self.channel, now)
        for pulse in opening:
            await guard(self.post(pulse.id), "posting a pulse")
        for group in due:
            await guard(self.scheduled(group.chat_id), "opening a pulse")
        async with self.store.transaction() as tx:
            closing = [*await repo.pulses_in(tx, self.channel, "opening", before=now),
                       *await repo.pulses_in(tx, self.channel, "open", before=now)]
        for pulse in closing:
            await guard(self.close(pulse.id), "closing a pulse")
        async with self.store.transaction() as tx:
            unpublished = await repo.pulses_in(tx, self.channel, "closing")
            live = await repo.pulses_in(tx, self.channel, "open")
        for pulse in unpublished:
            await guard(self.publish(pulse.id), "publishing a pulse")
        for pulse in live:
            await guard(self.show_count(pulse.id, pulse.chat_id), "updating a count")
