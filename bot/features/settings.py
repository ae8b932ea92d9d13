"""/settings, /pause, /resume, /skip, /snooze and /timezone: the leader controls the schedule.

Choices are buttons ('st:<field>[:<value>]'); anything not on a button is typed as a command
argument (/timezone Europe/Helsinki, /settings time 07:45, /pause 05.01.2027), so free text in a
conversation is never mistaken for a setting. Every change re-plans the weekly nudge in the same
transaction as the new setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import iso, parse_iso
from bot.dialogue.dates import parse_date
from bot.dialogue.engine import DialogueError
from bot.dialogue.render import pick
from bot.dialogue.state import Button, OutMessage
from bot.features.onboarding import language_question
from bot.locale import weekday_name
from bot.numbers import small_int
from bot.schedule import plan
from bot.schedule.holidays import moved_off_holiday
from bot.schedule.messages import SNOOZE_PREFIX, day_text, snooze_buttons, when_text
from bot.schedule.times import (
    MAX_REMINDER_HOURS,
    Prefs,
    find_zone,
    hhmm,
    local_instant,
    next_nudge,
    parse_clock,
    parse_span,
    quiet_end,
    zone_of,
)
from bot.service import MENU_PREFIX, BotService, Request
from bot.store import repo, schedules

PREFIX = "st"
# The zones Nordic public-sector leaders are likely in; any other IANA name can be typed.
ZONES = ("Europe/Copenhagen", "Europe/Oslo", "Europe/Stockholm", "Europe/Helsinki",
         "Atlantic/Faroe", "America/Nuuk", "Atlantic/Reykjavik", "Europe/London")
NUDGE_TIMES = ("07:30", "08:00", "08:30", "09:00", "10:00", "12:00", "14:00", "15:30")
FOLLOWUP_TIMES = ("08:00", "09:00", "10:00", "12:00", "14:00", "16:00")
QUIET_SPANS = ("20:00-07:00", "21:00-06:00", "22:00-07:00", "18:00-08:00")
REMINDER_HOURS = (4, 24, 48)
PAUSE_WEEKS = (1, 2, 3, 4)
MAX_PAUSE = timedelta(days=366)


@dataclass(frozen=True)
class ScheduleSettings:
    """The schedule feature: wired into the service by register()."""

    nudge_conversation: str = "reflection"
    reminder_hours: int = 24

    # ---- shared helpers -----------------------------------------------------------------

    def prefs(self, leader: repo.Leader) -> Prefs:
        """The leader's preferences with the configured reminder default."""
        return plan.prefs_of(leader, self.reminder_hours)

    async def _save(self, req: Request, **changes: object) -> None:
        """Store changed settings and re-plan the weekly nudge in the same transaction."""
        leader = req.leader
        for key, value in changes.items():
            if value is None:
                leader.settings.pop(key, None)
            else:
                leader.settings[key] = value
        leader.settings["schedule_seen"] = True
        await repo.update_leader(req.tx, leader, req.service.now())
        await plan.plan_nudge(req.tx, leader, req.service.clock.now(), self.nudge_conversation,
                              self.reminder_hours)

    def _button(self, req: Request, key: str, data: str, **variables: object) -> Button:
        """A settings button with wording from _ui_schedule.yaml."""
        return Button(label=req.service.ui(key, req.leader.language, **variables),
                      data=f"{PREFIX}:{data}")

    def _say(self, req: Request, key: str, **variables: object) -> OutMessage:
        """A plain reply."""
        return OutMessage(text=req.service.ui(key, req.leader.language, **variables))

    async def overview(self, req: Request, saved: bool = False) -> list[OutMessage]:
        """Every schedule setting in words, with a button to change each."""
        service, leader, lang = req.service, req.leader, req.leader.language
        prefs = self.prefs(leader)
        now = service.clock.now()
        zone = zone_of(leader.timezone)
        nudge = (service.ui("sched_nudge_every", lang, day=weekday_name(prefs.nudge_day, lang),
                            time=hhmm(prefs.nudge_time))
                 if prefs.nudges else service.ui("sched_nudge_off", lang))
        upcoming = await self._next_nudge(req, prefs)
        quiet = (service.ui("sched_quiet_span", lang, start=hhmm(prefs.quiet[0]),
                            end=hhmm(prefs.quiet[1]))
                 if prefs.quiet else service.ui("sched_quiet_off", lang))
        reminder = (service.ui("sched_reminder_after", lang, hours=prefs.reminder_hours)
                    if prefs.reminder_hours else service.ui("sched_reminder_off", lang))
        on_pause = plan.is_paused(leader, now) and prefs.paused_until is not None
        pause = (service.ui("sched_pause_until", lang,
                            date=day_text(service, prefs.paused_until, lang,
                                          service.today(leader)))
                 if on_pause and prefs.paused_until else service.ui("sched_pause_none", lang))
        text = service.ui(
            "sched_settings", lang, nudge=nudge,
            next=when_text(service, upcoming, leader, now) if upcoming else
            service.ui("sched_next_none", lang),
            followup=hhmm(prefs.followup_time), quiet=quiet, reminder=reminder, pause=pause,
            zone=str(zone.key))
        rows = [
            [self._button(req, "sched_btn_day", "day"),
             self._button(req, "sched_btn_time", "time")],
            [self._button(req, "sched_btn_zone", "zone"),
             self._button(req, "sched_btn_followup", "fu")],
            [self._button(req, "sched_btn_quiet", "quiet"),
             self._button(req, "sched_btn_reminder", "rem")],
            [self._button(req, "sched_btn_skip", "skip") if prefs.nudges else
             self._button(req, "sched_btn_nudges_on", "nudges:on")],
            [self._button(req, "sched_btn_resume", "resume") if on_pause else
             self._button(req, "sched_btn_pause", "pause")],
        ]
        if prefs.nudges:
            rows.append([self._button(req, "sched_btn_nudges_off", "nudges:off")])
        rows.append([self._button(req, "sched_btn_holidays_off", "hol:off") if prefs.holidays
                     else self._button(req, "sched_btn_holidays_on", "hol:on")])
        rows.append([self._button(req, "sched_btn_followups", "fus"),
                     self._button(req, "sched_btn_language", "lang")])
        rows.append([self._button(req, "sched_btn_close", "close")])
        out = [self._say(req, "sched_saved")] if saved else []
        return [*out, OutMessage(text=text, kind="prompt", buttons=rows)]

    async def _next_nudge(self, req: Request, prefs: Prefs) -> datetime | None:
        """When the next weekly reflection will actually arrive (pause and quiet hours applied)."""
        if not prefs.nudges:
            return None
        leader = req.leader
        # Heals a plan made before the time zone was set elsewhere (e.g. during onboarding).
        await plan.plan_nudge(req.tx, leader, req.service.clock.now(), self.nudge_conversation,
                              self.reminder_hours)
        zone = zone_of(leader.timezone)
        row = await schedules.pending_nudge(req.tx, leader.leader_id)
        due = parse_iso(row.due_at) if row else None
        if prefs.paused_until is not None and (due is None or plan.is_paused(leader, due)):
            back = local_instant(prefs.paused_until, time(0, 0), zone)
            if back > req.service.clock.now():
                due = next_nudge(prefs, zone, back - timedelta(seconds=1), None)[1]
        if due is None:
            return None
        if prefs.holidays:
            due = moved_off_holiday(due, zone.key) or due
        return quiet_end(due, zone, prefs.quiet) or due

    # ---- commands -----------------------------------------------------------------------

    async def settings_command(self, req: Request) -> list[OutMessage]:
        """/settings, or /settings <time|followup|quiet|reminder> <value>."""
        field, _, value = req.args.strip().partition(" ")
        field, value = field.lower(), value.strip()
        if not field:
            return await self.overview(req)
        if field == "time" and (at := parse_clock(value)):
            await self._save(req, nudge_time=hhmm(at))
        elif field == "followup" and (at := parse_clock(value)):
            await self._set_followup_time(req, at)
        elif field == "quiet" and (value.lower() == "off" or parse_span(value)):
            span = parse_span(value)
            await self._save(req, quiet="off" if span is None else
                             f"{hhmm(span[0])}-{hhmm(span[1])}")
        elif field == "reminder" and (value.lower() == "off" or small_int(value) is not None):
            hours = 0 if value.lower() == "off" else int(value)
            if hours > MAX_REMINDER_HOURS:
                return [self._say(req, "sched_bad_hours", max=MAX_REMINDER_HOURS)]
            await self._save(req, reminder_hours=hours)
        elif field in ("time", "followup"):
            return [self._say(req, "sched_bad_time")]
        elif field == "quiet":
            return [self._say(req, "sched_bad_span")]
        elif field == "reminder":
            return [self._say(req, "sched_bad_hours", max=MAX_REMINDER_HOURS)]
        elif field in ("timezone", "zone"):
            return await self.timezone_command(
                Request(req.tx, req.leader, req.state, value, req.service))
        else:
            return [self._say(req, "sched_settings_usage"), *await self.overview(req)]
        return await self.overview(req, saved=True)

    async def timezone_command(self, req: Request) -> list[OutMessage]:
        """/timezone shows the likely zones; /timezone <IANA name> sets any zone."""
        if not req.args.strip():
            return [self._zone_menu(req)]
        name = find_zone(req.args)
        if name is None:
            return [self._say(req, "sched_bad_zone"), self._zone_menu(req)]
        await self._set_zone(req, name)
        return await self.overview(req, saved=True)

    async def pause_command(self, req: Request) -> list[OutMessage]:
        """/pause shows durations; /pause <date> pauses until that day (the first day back)."""
        if not req.args.strip():
            return [self._pause_menu(req)]
        today = req.service.today(req.leader)
        back = parse_date(req.args, today, req.service.dialogues.dates)
        if back is None or back <= today or back - today > MAX_PAUSE:
            return [self._say(req, "sched_bad_date")]
        return await self._pause(req, back)

    async def resume_command(self, req: Request) -> list[OutMessage]:
        """/resume ends a pause now."""
        if not plan.is_paused(req.leader, req.service.clock.now()):
            return [self._say(req, "sched_not_paused")]
        await self._resume(req)
        return [self._say(req, "sched_resumed"), *await self.overview(req)]

    async def skip_command(self, req: Request) -> list[OutMessage]:
        """/skip: leave out the next weekly reflection."""
        if not self.prefs(req.leader).nudges:
            return [self._say(req, "sched_skip_off")]
        await plan.skip_next(req.tx, req.leader, req.service.clock.now(),
                             self.nudge_conversation, self.reminder_hours)
        upcoming = await self._next_nudge(req, self.prefs(req.leader))
        when = (when_text(req.service, upcoming, req.leader, req.service.clock.now())
                if upcoming else req.service.ui("sched_next_none", req.leader.language))
        return [self._say(req, "sched_skipped", when=when)]

    async def snooze_command(self, req: Request) -> list[OutMessage]:
        """/snooze: the snooze buttons for the reflection that is waiting, if any."""
        row = await schedules.latest_delivered_nudge(req.tx, req.leader.leader_id)
        if row is None or not await self._snoozable(req, row):
            return [self._say(req, "sched_nothing_to_snooze")]
        lang = req.leader.language
        return [OutMessage(text=req.service.ui("sched_snooze_choose", lang), kind="prompt",
                           buttons=snooze_buttons(req.service, row.id, lang))]

    async def start_extra(self, req: Request) -> list[OutMessage]:
        """At the first /start outside a conversation: when the weekly reflection comes."""
        if req.leader.settings.get("schedule_seen") or req.state is not None:
            return []
        leader, lang = req.leader, req.leader.language
        prefs = self.prefs(leader)
        await self._save(req)  # shown once; plans the first weekly nudge right away
        nudge = req.service.ui("sched_nudge_every", lang,
                               day=weekday_name(prefs.nudge_day, lang), time=hhmm(prefs.nudge_time))
        text = req.service.ui("sched_onboarding", lang, nudge=nudge,
                              zone=zone_of(leader.timezone).key)
        rows = [[self._button(req, "sched_btn_keep", "keep")],
                [self._button(req, "sched_btn_day", "day"),
                 self._button(req, "sched_btn_time", "time"),
                 self._button(req, "sched_btn_zone", "zone")]]
        return [OutMessage(text=text, buttons=rows)]

    # ---- buttons ------------------------------------------------------------------------

    async def button(self, req: Request) -> list[OutMessage]:
        """'st:<field>' opens a choice, 'st:<field>:<value>' sets it."""
        field, _, value = req.args.partition(":")
        handler = {
            "menu": self._b_menu, "day": self._b_day, "time": self._b_time,
            "zone": self._b_zone, "fu": self._b_followup, "quiet": self._b_quiet,
            "rem": self._b_reminder, "pause": self._b_pause, "resume": self._b_resume,
            "skip": self._b_skip, "nudges": self._b_nudges, "keep": self._b_keep,
            "close": self._b_close, "fus": self._b_followups, "fux": self._b_cancel_followup,
            "lang": self._b_language, "hol": self._b_holidays,
        }.get(field)
        out = await handler(req, value) if handler else None
        return out if out is not None else self._stale(req)

    def _stale(self, req: Request) -> list[OutMessage]:
        """A forged or outdated button."""
        return [OutMessage(text=req.service.ui("stale_button", req.leader.language),
                           kind="error")]

    async def _b_menu(self, req: Request, value: str) -> list[OutMessage] | None:
        """Back to the overview."""
        return await self.overview(req)

    async def _b_day(self, req: Request, value: str) -> list[OutMessage] | None:
        """Choose the weekday."""
        lang = req.leader.language
        if not value:
            rows = [[Button(label=weekday_name(d, lang).capitalize(), data=f"{PREFIX}:day:{d}")]
                    for d in range(7)]
            return [OutMessage(text=req.service.ui("sched_choose_day", lang), kind="prompt",
                               buttons=rows)]
        if value not in {str(d) for d in range(7)}:
            return None
        await self._save(req, nudge_day=int(value), nudges=True)
        return await self.overview(req, saved=True)

    async def _b_time(self, req: Request, value: str) -> list[OutMessage] | None:
        """Choose the time of the weekly reflection."""
        if not value:
            return [self._times_menu(req, "sched_choose_time", "time", NUDGE_TIMES)]
        at = parse_clock(value)
        if at is None:
            return None
        await self._save(req, nudge_time=hhmm(at), nudges=True)
        return await self.overview(req, saved=True)

    async def _b_followup(self, req: Request, value: str) -> list[OutMessage] | None:
        """Choose the time of day for follow-ups."""
        if not value:
            return [self._times_menu(req, "sched_choose_followup", "fu", FOLLOWUP_TIMES)]
        at = parse_clock(value)
        if at is None:
            return None
        await self._set_followup_time(req, at)
        return await self.overview(req, saved=True)

    async def _b_zone(self, req: Request, value: str) -> list[OutMessage] | None:
        """Choose a time zone from the short list."""
        if not value:
            return [self._zone_menu(req)]
        if value not in ZONES:
            return None
        await self._set_zone(req, value)
        return await self.overview(req, saved=True)

    async def _b_quiet(self, req: Request, value: str) -> list[OutMessage] | None:
        """Choose quiet hours."""
        lang = req.leader.language
        if not value:
            rows = [[Button(label=span.replace("-", "–"), data=f"{PREFIX}:quiet:{span}")]
                    for span in QUIET_SPANS]
            rows.append([self._button(req, "sched_quiet_none_btn", "quiet:off")])
            return [OutMessage(text=req.service.ui("sched_choose_quiet", lang), kind="prompt",
                               buttons=rows)]
        if value != "off" and value not in QUIET_SPANS:
            return None
        await self._save(req, quiet=value)
        return await self.overview(req, saved=True)

    async def _b_reminder(self, req: Request, value: str) -> list[OutMessage] | None:
        """Choose when (or whether) the one reminder comes."""
        lang = req.leader.language
        if not value:
            rows = [[self._button(req, "sched_reminder_hours_btn", f"rem:{h}", hours=h)]
                    for h in REMINDER_HOURS]
            rows.append([self._button(req, "sched_reminder_none_btn", "rem:0")])
            return [OutMessage(text=req.service.ui("sched_choose_reminder", lang),
                               kind="prompt", buttons=rows)]
        if value not in {"0", *map(str, REMINDER_HOURS)}:
            return None
        await self._save(req, reminder_hours=int(value))
        return await self.overview(req, saved=True)

    async def _b_pause(self, req: Request, value: str) -> list[OutMessage] | None:
        """Choose how many weeks to pause."""
        if not value:
            return [self._pause_menu(req)]
        if value not in {str(w) for w in PAUSE_WEEKS}:
            return None
        back = req.service.today(req.leader) + timedelta(weeks=int(value))
        return await self._pause(req, back)

    async def _b_resume(self, req: Request, value: str) -> list[OutMessage] | None:
        """End a pause."""
        return await self.resume_command(req)

    async def _b_skip(self, req: Request, value: str) -> list[OutMessage] | None:
        """Skip the next weekly reflection."""
        return await self.skip_command(req)

    async def _b_nudges(self, req: Request, value: str) -> list[OutMessage] | None:
        """Turn the weekly reflection on or off."""
        if value not in ("on", "off"):
            return None
        await self._save(req, nudges=value == "on")
        return await self.overview(req, saved=True)

    async def _b_holidays(self, req: Request, value: str) -> list[OutMessage] | None:
        """Move messages off public holidays (the default) or send them on the day."""
        if value not in ("on", "off"):
            return None
        await self._save(req, holidays=None if value == "on" else False)
        return await self.overview(req, saved=True)

    async def _b_keep(self, req: Request, value: str) -> list[OutMessage] | None:
        """The leader is happy with the proposed weekly time."""
        await self._save(req)
        return [self._say(req, "sched_closed"), *self._reprompt(req)]

    async def _b_followups(self, req: Request, value: str) -> list[OutMessage] | None:
        """The follow-ups the leader has agreed, each with a button to call it off."""
        service, leader, lang = req.service, req.leader, req.leader.language
        rows = await schedules.pending_of(req.tx, leader.leader_id, ("followup",))
        if not rows:
            return [self._say(req, "sched_followups_none")]
        now = service.clock.now()
        lines, buttons = [], []
        for row in rows:
            definition = service.dialogues.registry.definitions.get(row.conversation or "")
            title = pick(definition.title, lang) if definition else str(row.conversation)
            when = when_text(service, plan.when_sent(parse_iso(row.due_at), self.prefs(leader),
                                                     leader), leader, now)
            lines.append(service.ui("sched_followup_line", lang, when=when, title=title))
            buttons.append([self._button(req, "sched_followup_cancel_btn", f"fux:{row.id}",
                                         when=when)])
        buttons.append([self._button(req, "sched_btn_menu", "menu")])
        text = service.ui("sched_followups_title", lang) + "\n" + "\n".join(lines)
        return [OutMessage(text=text, kind="prompt", buttons=buttons)]

    async def _b_cancel_followup(self, req: Request, value: str) -> list[OutMessage] | None:
        """Call off one agreed follow-up."""
        row_id = small_int(value)
        row = await schedules.get(req.tx, row_id) if row_id is not None else None
        if (row is None or row.leader_id != req.leader.leader_id or row.kind != "followup"
                or row.status != "pending"):
            return None
        await schedules.set_status(req.tx, row.id, "cancelled", req.service.now(),
                                   note="called off by the leader", expect="pending")
        return [self._say(req, "sched_followup_cancelled"),
                *(await self._b_followups(req, "") or [])]

    async def _b_language(self, req: Request, value: str) -> list[OutMessage] | None:
        """The engine's own language buttons (they set it and show the question again)."""
        return [language_question(req.service, req.leader.language, f"{MENU_PREFIX}lang:")]

    async def _b_close(self, req: Request, value: str) -> list[OutMessage] | None:
        """Leave the settings (and show the open question again, if any)."""
        return [self._say(req, "sched_closed"), *self._reprompt(req)]

    def _reprompt(self, req: Request) -> list[OutMessage]:
        """The question the leader was answering before opening the settings."""
        if req.state is None:
            return [req.service.menu(req.leader.language)]
        try:
            return req.service.engine.prompt(req.state, req.leader.language,
                                             req.service.today(req.leader))
        except DialogueError:
            return []

    # ---- snooze buttons under a nudge ---------------------------------------------------

    async def snooze_button(self, req: Request) -> list[OutMessage]:
        """'sz:<row>:<hour|tomorrow|week>' under a nudge or its reminder."""
        row_text, _, option_text = req.args.partition(":")
        row_id = small_int(row_text)
        row = await schedules.get(req.tx, row_id) if row_id is not None else None
        option = next((o for o in plan.SNOOZE_OPTIONS if o == option_text), None)
        if row is None or row.leader_id != req.leader.leader_id or option is None or (
                row.payload.get("snoozed")):
            # Forged, another leader's, or pressed already (a double tap): changes nothing.
            return [OutMessage(text=req.service.ui("stale_button", req.leader.language),
                               kind="error", key="stale_button")]
        if not await self._snoozable(req, row):
            return [self._say(req, "sched_snooze_stale")]
        now = req.service.clock.now()
        back = await plan.snooze(req.tx, req.leader, row, option, now, self.reminder_hours)
        menu = [req.service.menu(req.leader.language)]
        if option == "week":
            upcoming = await self._next_nudge(req, self.prefs(req.leader))
            if upcoming is None:
                return [self._say(req, "sched_snoozed_week_off"), *menu]
            return [self._say(req, "sched_snoozed_week",
                              when=when_text(req.service, upcoming, req.leader, now)), *menu]
        assert back is not None
        shown = plan.when_sent(back, self.prefs(req.leader), req.leader)
        return [self._say(req, "sched_snoozed",
                          when=when_text(req.service, shown, req.leader, now)), *menu]

    async def _snoozable(self, req: Request, row: schedules.Row) -> bool:
        """A delivered nudge whose reflection is still open and not already put off."""
        if row.kind not in ("nudge", "snooze") or row.status not in (
                "sent", "unconfirmed", "sending") or row.payload.get("snoozed"):
            return False
        return bool(row.thread) and await schedules.thread_status(
            req.tx, row.thread or "") == "active"

    # ---- changes that touch more than one setting ---------------------------------------

    def _times_menu(self, req: Request, key: str, field: str,
                    times: tuple[str, ...]) -> OutMessage:
        """A grid of times as buttons."""
        buttons = [Button(label=t, data=f"{PREFIX}:{field}:{t}") for t in times]
        rows = [buttons[i:i + 4] for i in range(0, len(buttons), 4)]
        return OutMessage(text=req.service.ui(key, req.leader.language), kind="prompt",
                          buttons=rows)

    def _zone_menu(self, req: Request) -> OutMessage:
        """The likely zones as buttons."""
        rows = [[Button(label=z, data=f"{PREFIX}:zone:{z}")] for z in ZONES]
        return OutMessage(text=req.service.ui("sched_choose_zone", req.leader.language),
                          kind="prompt", buttons=rows)

    def _pause_menu(self, req: Request) -> OutMessage:
        """Pause durations as buttons."""
        rows = [[self._button(req, "sched_pause_weeks_btn", f"pause:{w}", weeks=w)]
                for w in PAUSE_WEEKS]
        return OutMessage(text=req.service.ui("sched_choose_pause", req.leader.language),
                          kind="prompt", buttons=rows)

    async def _pause(self, req: Request, back: date) -> list[OutMessage]:
        """Pause until `back` (the first day the bot writes again)."""
        await self._save(req, paused_until=back.isoformat())
        return [self._say(req, "sched_paused",
                          date=day_text(req.service, back, req.leader.language,
                                        req.service.today(req.leader)))]

    async def _resume(self, req: Request) -> None:
        """End the pause; follow-ups that were waiting for it come now (quiet hours apply)."""
        await self._save(req, paused_until=None)
        now = req.service.now()
        for row in await schedules.pending_of(req.tx, req.leader.leader_id, ("followup",)):
            if row.note == "paused" and row.due_at > now:
                await schedules.postpone(req.tx, row.id, now, now, "resumed")

    async def _set_zone(self, req: Request, name: str) -> None:
        """Change the time zone; pending follow-ups keep their local date and time of day."""
        old = zone_of(req.leader.timezone)
        req.leader.timezone = name
        await self._redate_followups(req, old, self.prefs(req.leader).followup_time)
        await self._save(req)

    async def _set_followup_time(self, req: Request, at: time) -> None:
        """Change the follow-up time of day, moving pending follow-ups to it."""
        await self._redate_followups(req, zone_of(req.leader.timezone), at)
        await self._save(req, followup_time=hhmm(at))

    async def _redate_followups(self, req: Request, old_zone: ZoneInfo, at: time) -> None:
        """Pending follow-ups: same local date, new zone and/or time of day."""
        new_zone = zone_of(req.leader.timezone)
        now = req.service.now()
        for row in await schedules.pending_of(req.tx, req.leader.leader_id, ("followup",)):
            day = parse_iso(row.due_at).astimezone(old_zone).date()
            await schedules.postpone(req.tx, row.id, iso(local_instant(day, at, new_zone)), now,
                                     "settings changed")


def register(service: BotService, nudge_conversation: str = "reflection",
             reminder_hours: int = 24) -> ScheduleSettings:
    """Wire the schedule commands and buttons into the service."""
    feature = ScheduleSettings(nudge_conversation, reminder_hours)
    service.register_command("settings", feature.settings_command, reprompt=False)
    service.register_command("timezone", feature.timezone_command, reprompt=False)
    service.register_command("pause", feature.pause_command)
    service.register_command("resume", feature.resume_command, reprompt=False)
    service.register_command("skip", feature.skip_command)
    service.register_command("snooze", feature.snooze_command, reprompt=False)
    service.register_buttons(PREFIX, feature.button)
    # A snooze button proves itself by its schedule row (snoozed once, then stale), so it stays
    # valid under a nudge while the leader uses other buttons.
    service.register_buttons(SNOOZE_PREFIX, feature.snooze_button, guarded=False)
    service.register_start_extra(feature.start_extra)
    return feature
