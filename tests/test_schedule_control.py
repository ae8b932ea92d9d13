"""The leader in control: pause, resume, snooze, skip, quiet hours, one reminder, follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock, iso
from bot.dialogue.engine import parse_callback
from bot.dialogue.state import DialogueState, OutMessage
from bot.store import repo, schedules
from tests.schedule_support import Harness, local, snooze_data

CPH = "Europe/Copenhagen"
SUNDAY_NOON = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)  # Sunday 12:00 in Copenhagen
MONDAY_0830 = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)


async def leader(tmp_path: Path, begin: datetime = SUNDAY_NOON) -> Harness:
    """A leader who said /start (Monday 08:30 Copenhagen, quiet 20-07, reminder after 24 h)."""
    h = await Harness.open(tmp_path / "bot.db", ManualClock(begin))
    await h.command(1, "start")
    return h


def stamps(h: Harness, key: str = "sched_nudge_header") -> list[str]:
    """Local send times of messages starting with a wording, as 'Mon 30 08:30'."""
    return [local(s.at, CPH).strftime("%a %d %H:%M") for s in h.headers(key)]


async def add_followup(h: Harness, due: datetime, thread: str = "t-origin",
                       task: str = "Ugeplanen til KL") -> int:
    """A follow-up row as the pre-delegation check would leave it."""
    async with h.core.store.transaction() as tx:
        return await schedules.add(
            tx, "tg:1", "followup", iso(due), h.service.now(), conversation="delegation_followup",
            thread=thread, tag="checkin", payload={"context": {"task": task}})


def followups_sent(h: Harness) -> list[str]:
    """Local send times of the delegation follow-up's opening question."""
    return [local(s.at, CPH).strftime("%a %d %H:%M") for s in h.outbox.sent
            if "skulle I følge op på" in s.message.text]


async def session(h: Harness, n: int = 1) -> DialogueState | None:
    """The leader's active conversation."""
    raw = await repo.load_session(h.core.store.conn, f"tg:{n}")
    return None if raw is None else DialogueState.from_json(raw)


# ---- pause and resume ---------------------------------------------------------------------

async def test_pause_until_a_date_skips_nudges_and_holds_follow_ups_until_then(
        tmp_path: Path) -> None:
    h = await leader(tmp_path)
    reply = await h.command(1, "pause", "10.12.2026")
    assert "torsdag den 10. december" in reply[0].text
    await add_followup(h, datetime(2026, 12, 2, 8, 0, tzinfo=UTC))  # during the pause
    await h.step_until(datetime(2026, 12, 15, tzinfo=UTC))
    assert stamps(h) == ["Mon 14 08:30"]  # 30 Nov and 7 Dec fell in the pause
    assert followups_sent(h) == ["Thu 10 09:00"]  # the first day back, at the follow-up time
    notes = [(r.kind, r.status, r.note) for r in await h.rows(1) if r.kind == "nudge"][:2]
    assert notes == [("nudge", "skipped", "paused"), ("nudge", "skipped", "paused")]
    await h.close()


async def test_resume_ends_the_pause_and_sends_what_was_waiting(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await h.press(1, "st:pause:4")
    await add_followup(h, datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    await h.step_until(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    assert h.outbox.sent == []
    reply = await h.command(1, "resume")
    assert reply[0].text == h.texts("sched_resumed")
    await h.step_until(datetime(2026, 12, 8, tzinfo=UTC))
    assert followups_sent(h) == ["Thu 03 13:30"]
    assert stamps(h) == ["Mon 07 08:30"]
    assert (await h.command(1, "resume"))[0].text == h.texts("sched_not_paused")
    await h.close()


async def test_pause_reads_a_relative_date_like_the_date_questions(tmp_path: Path) -> None:
    h = await leader(tmp_path)  # Sunday 29 November
    reply = await h.command(1, "pause", "tirsdag i næste uge")  # weeks begin on Mondays
    assert "tirsdag den 1. december" in reply[0].text
    reply = await h.command(1, "pause", "om 2 uger")
    assert "søndag den 13. december" in reply[0].text
    await h.close()


async def test_a_pause_close_to_a_year_names_the_year(tmp_path: Path) -> None:
    # "/pause 365" on Sunday 29 November 2026 used to answer "I'll write again from Monday
    # 29 November" (no year): read as today, though it is 29 November 2027.
    h = await leader(tmp_path)  # Sunday 29 November 2026
    reply = await h.command(1, "pause", "365")
    assert "mandag den 29. november 2027" in reply[0].text
    overview = await h.command(1, "settings")
    assert "29. november 2027" in overview[0].text
    reply = await h.command(1, "pause", "om 2 uger")  # close by: no year, as before
    assert "søndag den 13. december" in reply[0].text and "2026" not in reply[0].text
    await h.close()


async def test_a_pause_date_in_the_past_or_unreadable_is_refused_clearly(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    for bad in ("01.01.2020", "tomorrow-ish", "0"):
        assert (await h.command(1, "pause", bad))[0].text == h.texts("sched_bad_date")
    stored = await repo.get_leader(h.core.store.conn, "tg:1")
    assert stored is not None
    assert "paused_until" not in stored.settings
    await h.close()


# ---- snooze and skip ------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "expected"), [
    ("hour", ["Mon 30 08:30", "Mon 30 09:30", "Mon 07 08:30"]),
    ("tomorrow", ["Mon 30 08:30", "Tue 01 08:30", "Mon 07 08:30"]),
    ("week", ["Mon 30 08:30", "Mon 07 08:30"]),
])
async def test_snooze_from_the_buttons_under_the_nudge(
        tmp_path: Path, option: str, expected: list[str]) -> None:
    h = await leader(tmp_path)
    await h.step_until(MONDAY_0830)
    [nudge] = h.headers()
    first = await session(h)
    reply = await h.press(1, snooze_data(nudge.message, option))
    when = {"hour": "i dag kl. 09:30", "tomorrow": "i morgen kl. 08:30",
            "week": "mandag den 7. december kl. 08:30"}[option]
    assert when in reply[0].text
    assert await session(h) is None  # the untouched reflection is put away, not left waiting
    assert first is not None
    async with h.core.store.conn.execute(
            "SELECT status FROM threads WHERE thread = ?", (first.thread,)) as cur:
        row = await cur.fetchone()
        assert row is not None
        assert row[0] == "abandoned"
    again = await h.press(1, snooze_data(nudge.message, option))
    # Pressed again (a double tap): the closed-question notice, as the pipeline's toast.
    assert [m.key for m in again] == ["stale_button"]
    await h.step_until(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    assert stamps(h) == expected
    await h.close()


async def test_snooze_into_the_quiet_hours_waits_until_they_end(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await h.command(1, "settings", "time 19:30")
    await h.step_until(datetime(2026, 11, 30, 18, 30, tzinfo=UTC))
    [nudge] = h.headers()
    reply = await h.press(1, snooze_data(nudge.message, "hour"))
    assert "i morgen kl. 07:00" in reply[0].text  # 20:30 is inside 20:00-07:00
    await h.step_until(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert stamps(h) == ["Mon 30 19:30", "Tue 01 07:00"]
    await h.close()


async def test_forged_or_foreign_snooze_buttons_change_nothing(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await h.step_until(MONDAY_0830)
    [nudge] = h.headers()
    await h.command(2, "start")
    stale = h.texts("stale_button")
    assert (await h.press(2, snooze_data(nudge.message, "hour")))[0].text == stale
    assert (await h.press(1, "sz:999999:hour"))[0].text == stale
    assert (await h.press(1, "sz:abc:hour"))[0].text == stale
    assert (await h.press(1, snooze_data(nudge.message, "hour")[:-4] + "year"))[0].text == stale
    assert await session(h) is not None  # leader 1's reflection is untouched
    await h.close()


async def test_snooze_command_offers_the_buttons_for_the_waiting_reflection(
        tmp_path: Path) -> None:
    h = await leader(tmp_path)
    assert (await h.command(1, "snooze"))[0].text == h.texts("sched_nothing_to_snooze")
    await h.step_until(MONDAY_0830)
    [offer] = await h.command(1, "snooze")
    await h.press(1, snooze_data(offer, "tomorrow"))
    await h.step_until(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert stamps(h) == ["Mon 30 08:30", "Tue 01 08:30"]
    await h.close()


async def test_skip_this_week(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    reply = await h.command(1, "skip")
    assert "mandag den 7. december kl. 08:30" in reply[0].text
    await h.step_until(datetime(2026, 12, 8, tzinfo=UTC))
    assert stamps(h) == ["Mon 07 08:30"]
    await h.press(1, "st:skip")  # from /settings: skips 14 December
    await h.step_until(datetime(2026, 12, 22, tzinfo=UTC))
    assert stamps(h) == ["Mon 07 08:30", "Mon 21 08:30"]
    await h.close()


# ---- quiet hours --------------------------------------------------------------------------

async def test_nothing_is_sent_in_quiet_hours_and_what_fell_due_waits(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await add_followup(h, datetime(2026, 12, 1, 21, 0, tzinfo=UTC))  # 22:00 local
    await h.command(1, "settings", "time 06:00")  # nudges at 06:00 local: inside 20-07
    await h.step_until(datetime(2026, 12, 8, 12, 0, tzinfo=UTC), timedelta(minutes=15))
    assert followups_sent(h) == ["Wed 02 07:00"]
    assert stamps(h) == ["Mon 30 07:00", "Mon 07 07:00"]
    for sent in h.outbox.sent:
        assert 7 <= local(sent.at, CPH).hour < 20, sent
    await h.close()


async def test_quiet_hours_can_be_changed_or_switched_off(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    reply = await h.command(1, "settings", "quiet 22:00-06:00")
    assert "22:00–06:00" in reply[-1].text
    await h.command(1, "settings", "time 21:00")
    await h.step_until(datetime(2026, 12, 1, tzinfo=UTC), timedelta(minutes=15))
    assert stamps(h) == ["Mon 30 21:00"]
    assert (await h.command(1, "settings", "quiet 9-5-3"))[0].text == h.texts("sched_bad_span")
    await h.press(1, "st:quiet:off")
    await h.command(1, "settings", "time 03:00")
    await h.step_until(datetime(2026, 12, 8, tzinfo=UTC), timedelta(minutes=15))
    assert stamps(h) == ["Mon 30 21:00", "Mon 07 03:00"]
    await h.close()


# ---- the one reminder -----------------------------------------------------------------------

async def test_an_unanswered_nudge_gets_exactly_one_gentle_reminder(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await h.press(1, "st:rem:4")
    await h.step_until(datetime(2026, 12, 6, tzinfo=UTC))
    assert stamps(h) == ["Mon 30 08:30"]
    assert stamps(h, "sched_reminder_header") == ["Mon 30 12:30"]
    reminder = h.headers("sched_reminder_header")[0]
    # The question, shown again in the same message as the reminder.
    assert "Ugens refleksion" in reminder.message.text
    await h.close()


async def test_no_reminder_once_the_leader_has_answered(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await h.step_until(MONDAY_0830)
    await h.say(1, "Jeg lod teamet selv planlægge ugen")
    await h.step_until(datetime(2026, 12, 6, tzinfo=UTC))
    assert stamps(h, "sched_reminder_header") == []
    [reminder] = [r for r in await h.rows(1) if r.kind == "reminder"]
    assert (reminder.status, reminder.note) == ("cancelled", "answered or moved on")
    await h.close()


async def test_a_snooze_after_the_reminder_brings_no_second_reminder(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await h.press(1, "st:rem:4")
    await h.step_until(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    reminder = h.headers("sched_reminder_header")[0]
    await h.press(1, snooze_data(reminder.message, "tomorrow"))
    await h.step_until(datetime(2026, 12, 6, tzinfo=UTC))
    assert stamps(h) == ["Mon 30 08:30", "Tue 01 08:30"]
    assert stamps(h, "sched_reminder_header") == ["Mon 30 12:30"]
    await h.press(1, "st:rem:0")
    assert "ingen" in (await h.command(1, "settings"))[0].text.split("Påmindelse:")[1]
    await h.close()


# ---- follow-ups from the pre-delegation check ---------------------------------------------

def button_for(messages: list[OutMessage], value: str) -> str:
    """Callback data of the last question's button with this value."""
    prompt = [m for m in messages if m.kind == "prompt"][-1]
    for row in prompt.buttons:
        for button in row:
            parsed = parse_callback(button.data)
            if parsed and parsed[3] == value:
                return button.data
    raise AssertionError(f"no button {value!r} in {prompt}")


async def delegate(h: Harness, checkin_days: str = "14", typed: str | None = None) -> str:
    """Run the real pre-delegation check through the service (the check-in date pressed, or
    typed); return its thread."""
    out = await h.command(1, "delegate")
    state = await session(h)
    assert state is not None
    steps: list[tuple[str, str]] = [
        ("text", "Ugeplanen til KL (pædagog)"), ("text", "Børnene møder voksne, der har planlagt"),
        ("press", "yes"), ("press", "yes"), ("press", "yes"),
        ("text", "Børnenes trivsel først"), ("text", "Åbningstiden ligger fast"),
        ("press", "recommends"), ("text", "Et kort møde hver fredag"), ("press", "2"),
        ("press", "!skip"), ("text", typed) if typed else ("press", checkin_days)]
    for kind, value in steps:
        out = (await h.say(1, value) if kind == "text"
               else await h.press(1, button_for(out, value)))
    assert await session(h) is None, [m.text for m in out]
    return state.thread


async def test_a_follow_up_from_the_delegation_check_opens_at_the_chosen_date(
        tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await h.press(1, "st:keep")
    thread = await delegate(h)
    [row] = [r for r in await h.rows(1) if r.kind == "followup"]
    assert (row.thread, row.conversation) == (thread, "delegation_followup")
    assert local(datetime.fromisoformat(row.due_at), CPH).strftime("%d.%m %H:%M") == "13.12 09:00"
    await h.step_until(datetime(2026, 12, 14, tzinfo=UTC))
    assert followups_sent(h) == ["Sun 13 09:00"]
    opened = await session(h)
    assert opened is not None and opened.conversation == "delegation_followup"
    assert opened.context.get("task") == "Ugeplanen til KL (pædagog)"
    async with h.core.store.conn.execute(
            "SELECT parent_thread FROM threads WHERE thread = ?", (opened.thread,)) as cur:
        parent = await cur.fetchone()
        assert parent is not None
        assert parent[0] == thread
    await h.close()


async def test_a_check_in_today_is_asked_about_later_today_not_at_once(tmp_path: Path) -> None:
    # Sunday 12:00 in Copenhagen: today's 09:00 follow-up time has passed.
    h = await leader(tmp_path)
    await h.press(1, "st:keep")
    await delegate(h, typed="0")  # the check-in is today
    [row] = [r for r in await h.rows(1) if r.kind == "followup"]
    assert local(datetime.fromisoformat(row.due_at), CPH).strftime("%a %d %H:%M") == "Sun 29 15:00"
    await h.step_until(SUNDAY_NOON + timedelta(hours=2))
    assert followups_sent(h) == []  # not straight after the check itself
    await h.step_until(SUNDAY_NOON + timedelta(hours=5))
    assert followups_sent(h) == ["Sun 29 15:00"]
    await h.close()


async def test_calling_off_the_follow_up_from_settings_removes_it(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await delegate(h)
    [listing] = await h.press(1, "st:fus")
    assert "søndag den 13. december kl. 09:00" in listing.text
    [row] = [r for r in await h.rows(1) if r.kind == "followup"]
    reply = await h.press(1, f"st:fux:{row.id}")
    assert reply[0].text == h.texts("sched_followup_cancelled")
    assert (await h.press(1, f"st:fux:{row.id}"))[0].text == h.texts("stale_button")
    await h.step_until(datetime(2026, 12, 20, tzinfo=UTC))
    assert followups_sent(h) == []
    await h.close()


async def test_cancelling_the_thread_cancels_its_follow_up(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    await h.command(1, "delegate")
    state = await session(h)
    assert state is not None
    await add_followup(h, datetime(2026, 12, 2, 8, 0, tzinfo=UTC), thread=state.thread)
    await h.command(1, "cancel")  # /cancel while the check is still open
    [row] = [r for r in await h.rows(1) if r.kind == "followup"]
    assert row.status == "cancelled"
    await h.step_until(datetime(2026, 12, 4, tzinfo=UTC))
    assert followups_sent(h) == []
    await h.close()


async def test_a_follow_up_waits_while_the_leader_is_mid_conversation(tmp_path: Path) -> None:
    h = await leader(tmp_path, datetime(2026, 12, 2, 7, 50, tzinfo=UTC))
    await add_followup(h, datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    await h.command(1, "delegate")
    await h.say(1, "Ugeplanen til KL")
    await h.step_until(datetime(2026, 12, 2, 8, 15, tzinfo=UTC), timedelta(minutes=5))
    assert followups_sent(h) == []  # not interrupted while answering (last answer 08:50)
    await h.step_until(datetime(2026, 12, 2, 10, 0, tzinfo=UTC), timedelta(minutes=5))
    assert followups_sent(h) == ["Wed 02 09:30"]  # 30 minutes later, the leader had gone
    await h.close()


# ---- /settings ------------------------------------------------------------------------------

async def test_settings_show_everything_and_edit_it(tmp_path: Path) -> None:
    h = await leader(tmp_path)
    [overview] = await h.command(1, "settings")
    assert overview.text.splitlines()[1:] == [
        "• Ugentlig refleksion: hver mandag kl. 08:30",
        "• Næste gang: i morgen kl. 08:30",
        "• Opfølgninger: kl. 09:00 på den aftalte dag",
        "• Stille timer: 20:00–07:00 – da skriver jeg aldrig",
        "• Påmindelse: én gang efter 24 timer, hvis du ikke har taget refleksionen",
        "• Pause: ingen",
        "• Tidszone: Europe/Copenhagen"]
    await h.press(1, "st:day:2")
    await h.press(1, "st:time:07:30")
    await h.press(1, "st:zone:Europe/Oslo")
    await h.command(1, "settings", "followup 10:15")
    await h.press(1, "st:pause:2")
    [overview] = (await h.command(1, "settings"))[-1:]
    assert "hver onsdag kl. 07:30" in overview.text
    assert "kl. 10:15" in overview.text
    assert "Europe/Oslo" in overview.text
    assert "jeg skriver igen fra søndag den 13. december" in overview.text
    assert "onsdag den 16. december kl. 07:30" in overview.text  # first one after the pause
    assert (await h.command(1, "timezone", "Mars/Olympus"))[0].text == h.texts("sched_bad_zone")
    await h.command(1, "timezone", "america/nuuk")
    leader_row = await repo.get_leader(h.core.store.conn, "tg:1")
    assert leader_row is not None and leader_row.timezone == "America/Nuuk"
    for forged in ("st:day:9", "st:time:25:00", "st:zone:Mars/Olympus", "st:rem:7", "st:nope",
                   "st:quiet:1-2", "st:pause:52", "st:nudges:maybe"):
        assert (await h.press(1, forged))[0].text == h.texts("stale_button"), forged
    [languages] = await h.press(1, "st:lang")
    assert {b.data for row in languages.buttons for b in row} == {
        "m:lang:da", "m:lang:nb", "m:lang:en"}
    await h.press(1, "st:nudges:off")
    assert [r for r in await h.rows(1) if r.kind == "nudge" and r.status == "pending"] == []
    await h.close()


@pytest.mark.parametrize("lang", ["da", "nb", "en"])
async def test_the_settings_are_worded_in_each_language(tmp_path: Path, lang: str) -> None:
    h = await leader(tmp_path)
    await h.press(1, f"m:lang:{lang}")
    [overview] = await h.command(1, "settings")
    day = {"da": "mandag", "nb": "mandag", "en": "Monday"}[lang]
    assert day in overview.text
    labels = {b.label for row in overview.buttons for b in row}
    assert len(labels) == 13  # the twelve settings and 'write on public holidays too'
    assert h.service.ui("sched_btn_holidays_off", lang) in labels
    await h.close()
