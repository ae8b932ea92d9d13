"""Relative dates as leaders type them on a phone: 'i morgen', 'om 2 uger', 'næste fredag'."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from babel.dates import format_date

from bot.dialogue import Dialogues
from bot.dialogue.dates import add_months, parse_date
from bot.dialogue.loader import DialogueValidationError, load_date_words
from tests.conftest import ROOT, TODAY
from tests.driver import EngineDriver

WEDNESDAY = date(2026, 11, 25)
FRIDAY = date(2026, 11, 27)
MONTH_END = date(2026, 1, 31)  # a Saturday, and February is short

# (typed, {today: expected}) for the three days above; every language is accepted from anyone.
PHRASES: list[tuple[str, dict[date, date]]] = [
    # Danish
    ("i morgen", {WEDNESDAY: date(2026, 11, 26), FRIDAY: date(2026, 11, 28),
                  MONTH_END: date(2026, 2, 1)}),
    ("I overmorgen", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 11, 29),
                      MONTH_END: date(2026, 2, 2)}),
    ("om 2 uger", {WEDNESDAY: date(2026, 12, 9), FRIDAY: date(2026, 12, 11),
                   MONTH_END: date(2026, 2, 14)}),
    ("om en uge", {WEDNESDAY: date(2026, 12, 2), FRIDAY: date(2026, 12, 4),
                   MONTH_END: date(2026, 2, 7)}),
    ("Om to uger.", {WEDNESDAY: date(2026, 12, 9), FRIDAY: date(2026, 12, 11),
                     MONTH_END: date(2026, 2, 14)}),
    ("om 3 dage", {WEDNESDAY: date(2026, 11, 28), FRIDAY: date(2026, 11, 30),
                   MONTH_END: date(2026, 2, 3)}),
    ("om en måned", {WEDNESDAY: date(2026, 12, 25), FRIDAY: date(2026, 12, 27),
                     MONTH_END: date(2026, 2, 28)}),
    ("om 2 mdr.", {WEDNESDAY: date(2027, 1, 25), FRIDAY: date(2027, 1, 27),
                   MONTH_END: date(2026, 3, 31)}),
    ("næste fredag", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
                      MONTH_END: date(2026, 2, 6)}),
    ("på fredag", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
                   MONTH_END: date(2026, 2, 6)}),
    ("fredag", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
                MONTH_END: date(2026, 2, 6)}),
    ("Fre.", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
              MONTH_END: date(2026, 2, 6)}),
    ("onsdag", {WEDNESDAY: date(2026, 12, 2), FRIDAY: date(2026, 12, 2),
                MONTH_END: date(2026, 2, 4)}),
    ("mandag i næste uge", {WEDNESDAY: date(2026, 11, 30), FRIDAY: date(2026, 11, 30),
                            MONTH_END: date(2026, 2, 2)}),
    ("fredag i næste uge", {WEDNESDAY: date(2026, 12, 4), FRIDAY: date(2026, 12, 4),
                            MONTH_END: date(2026, 2, 6)}),
    # Norwegian (bokmål)
    ("i overmorgen", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 11, 29),
                      MONTH_END: date(2026, 2, 2)}),
    ("om 2 uker", {WEDNESDAY: date(2026, 12, 9), FRIDAY: date(2026, 12, 11),
                   MONTH_END: date(2026, 2, 14)}),
    ("om en uke", {WEDNESDAY: date(2026, 12, 2), FRIDAY: date(2026, 12, 4),
                   MONTH_END: date(2026, 2, 7)}),
    ("om ei uke", {WEDNESDAY: date(2026, 12, 2), FRIDAY: date(2026, 12, 4),
                   MONTH_END: date(2026, 2, 7)}),
    ("om 3 dager", {WEDNESDAY: date(2026, 11, 28), FRIDAY: date(2026, 11, 30),
                    MONTH_END: date(2026, 2, 3)}),
    ("neste fredag", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
                      MONTH_END: date(2026, 2, 6)}),
    ("tirsdag neste uke", {WEDNESDAY: date(2026, 12, 1), FRIDAY: date(2026, 12, 1),
                           MONTH_END: date(2026, 2, 3)}),
    # English
    ("tomorrow", {WEDNESDAY: date(2026, 11, 26), FRIDAY: date(2026, 11, 28),
                  MONTH_END: date(2026, 2, 1)}),
    ("the day after tomorrow", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 11, 29),
                                MONTH_END: date(2026, 2, 2)}),
    ("in 2 weeks", {WEDNESDAY: date(2026, 12, 9), FRIDAY: date(2026, 12, 11),
                    MONTH_END: date(2026, 2, 14)}),
    ("in a week", {WEDNESDAY: date(2026, 12, 2), FRIDAY: date(2026, 12, 4),
                   MONTH_END: date(2026, 2, 7)}),
    ("in 3 days", {WEDNESDAY: date(2026, 11, 28), FRIDAY: date(2026, 11, 30),
                   MONTH_END: date(2026, 2, 3)}),
    ("in a month", {WEDNESDAY: date(2026, 12, 25), FRIDAY: date(2026, 12, 27),
                    MONTH_END: date(2026, 2, 28)}),
    ("next Friday", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
                     MONTH_END: date(2026, 2, 6)}),
    ("on Friday", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
                   MONTH_END: date(2026, 2, 6)}),
    ("friday", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
                MONTH_END: date(2026, 2, 6)}),
    ("Fri", {WEDNESDAY: date(2026, 11, 27), FRIDAY: date(2026, 12, 4),
             MONTH_END: date(2026, 2, 6)}),
    ("monday next week", {WEDNESDAY: date(2026, 11, 30), FRIDAY: date(2026, 11, 30),
                          MONTH_END: date(2026, 2, 2)}),
]


@pytest.mark.parametrize(("text", "expected"), PHRASES, ids=[p[0] for p in PHRASES])
def test_relative_dates_in_every_language(real_dialogues: Dialogues, text: str,
                                          expected: dict[date, date]) -> None:
    for today, day in expected.items():
        assert parse_date(text, today, real_dialogues.dates) == day, (text, today)


@pytest.mark.parametrize("text", [
    "i morgen måske", "fredag den 13. eller 14.", "om mange uger", "i morgen tidlig",
    "om en halv uge", "næste uge", "om uger", "om 2", "fredag i sidste uge", "om 1234 dage",
    "næste", "på", "",
])
def test_vague_or_mixed_phrases_are_not_dates(real_dialogues: Dialogues, text: str) -> None:
    assert parse_date(text, WEDNESDAY, real_dialogues.dates) is None


def test_without_the_words_only_written_dates_are_read() -> None:
    assert parse_date("i morgen", WEDNESDAY) is None
    assert parse_date("15.12.2026", WEDNESDAY) == date(2026, 12, 15)


def test_a_month_later_keeps_the_day_or_takes_the_last_one() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 12) == date(2027, 12, 15)


def test_the_date_question_reads_om_2_uger_and_stores_the_iso_date(
        real_dialogues: Dialogues) -> None:
    drv = EngineDriver(real_dialogues, "delegation", TODAY)
    answer_until(drv, "checkin")
    assert "om 2 uger" in drv.prompt.text  # the hint under the question says it works
    assert drv.text("om 2 uger").status != "rejected"
    assert drv.state is None  # the rest of the dialogue runs on its own to the end
    answers = [e for e in drv.effects if e.kind == "answer" and e.params["name"] == "checkin"]
    assert [e.params["value"] for e in answers] == ["2026-12-07"]
    followup = next(e for e in drv.effects if e.kind == "schedule_followup")
    assert followup.params["date"] == "2026-12-07"
    # The leader sees which day that was: the agreement echoes it.
    shown = format_date(date(2026, 12, 7), format="long", locale="da")
    assert any(shown in m.text for m in drv.messages if m.kind == "summary")


@pytest.mark.parametrize(("lang", "typed"), [("nb", "neste fredag"), ("en", "on Friday"),
                                            ("da", "next friday")])
def test_any_language_answers_the_date_question(real_dialogues: Dialogues, lang: str,
                                                typed: str) -> None:
    drv = EngineDriver(real_dialogues, "delegation", TODAY, lang=lang)
    answer_until(drv, "checkin")
    drv.text(typed)
    followup = next(e for e in drv.effects if e.kind == "schedule_followup")
    assert followup.params["date"] == "2026-11-27"  # TODAY is a Monday


def test_relative_dates_keep_the_bounds_of_the_question(real_dialogues: Dialogues) -> None:
    drv = EngineDriver(real_dialogues, "delegation", TODAY)
    answer_until(drv, "checkin")
    too_far = drv.text("om 13 måneder")
    assert too_far.status == "rejected" and too_far.messages[0].key == "date_too_far"
    unreadable = drv.text("om mange uger")
    assert unreadable.status == "rejected" and unreadable.messages[0].key == "not_a_date"
    assert "næste fredag" in unreadable.messages[0].text
    assert drv.state is not None and drv.state.node == "checkin"


def answer_until(drv: EngineDriver, node: str) -> None:
    """Answer every question with something plausible until the dialogue asks at node."""
    while drv.prompt.node != node:
        expects = drv.prompt.expects
        if expects == "text":
            drv.text("KL (pædagog) laver ugeplanen")
        elif expects == "scale":
            drv.text("2")
        elif expects == "buttons":
            drv.press(first_value(drv))
        elif expects == "multi":
            drv.press(first_value(drv))
            drv.press("!ok")
        else:
            raise AssertionError(f"unexpected question {drv.prompt}")


def first_value(drv: EngineDriver) -> str:
    """The value of the first button on the current question."""
    return drv.prompt.buttons[0][0].data.split(":", 3)[3]


# ---- the word file is checked like the rest of dialogues/ --------------------------------------

def words_dir(tmp_path: Path, edit: tuple[str, str] | None = None) -> Path:
    """A dialogues dir holding a copy of the real _dates.yaml, optionally with one edit."""
    shutil.copy(ROOT / "dialogues" / "_dates.yaml", tmp_path / "_dates.yaml")
    if edit is not None:
        path = tmp_path / "_dates.yaml"
        text = path.read_text(encoding="utf-8")
        assert edit[0] in text
        path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    return tmp_path


def test_every_language_has_its_words(tmp_path: Path) -> None:
    words = load_date_words(words_dir(tmp_path), ["da", "nb", "en"])
    assert words.languages == ("da", "nb", "en")
    with pytest.raises(DialogueValidationError) as info:
        load_date_words(words_dir(tmp_path), ["da", "sv"])
    assert info.value.problems == ["_dates.yaml: missing words for 'sv'"]


def test_a_word_with_two_meanings_across_languages_is_refused(tmp_path: Path) -> None:
    # 'to' is 2 in Danish; were it 3 in Norwegian, "om to uker" could not be read.
    folder = words_dir(tmp_path, ("{en: 1, ei: 1, ett: 1, to: 2,", "{en: 1, ei: 1, ett: 1, to: 3,"))
    with pytest.raises(DialogueValidationError) as info:
        load_date_words(folder, ["da", "nb", "en"])
    assert info.value.problems == ["_dates.yaml: 'to' means 2 in da but 3 in nb"]


def test_typos_and_multi_word_units_in_the_word_file_are_refused(tmp_path: Path) -> None:
    folder = words_dir(tmp_path, ('weeks: ["uge", "uger"]', 'weeks: ["uge", "hele uger"]\n'
                                  '  tommorow: ["i morgen"]'))
    with pytest.raises(DialogueValidationError) as info:
        load_date_words(folder, ["da", "nb", "en"])
    assert any("da: weeks" in p and "one word" in p for p in info.value.problems)
    assert any("da: tommorow" in p for p in info.value.problems)


@pytest.mark.parametrize(("text", "today", "expected"), [
    # Typed without a year in December 2027: the next 29 February is in 2028. It used to be
    # "I couldn't read that date", since 29 February 2027 does not exist.
    ("29.2", date(2027, 12, 1), date(2028, 2, 29)),
    ("29/2", date(2027, 3, 1), date(2028, 2, 29)),
    ("29. februar", date(2027, 12, 1), date(2028, 2, 29)),
    ("feb 29", date(2027, 12, 1), date(2028, 2, 29)),
    ("29.2", date(2028, 2, 28), date(2028, 2, 29)),
    ("29.2", date(2028, 3, 1), date(2032, 2, 29)),  # far, but a date: the question bounds it
    ("29.2.2027", date(2027, 1, 1), None),          # a year that has no 29 February
    ("31.4", date(2027, 1, 1), None),               # no 31 April in any year
    ("30. april", date(2027, 1, 1), date(2027, 4, 30)),
])
def test_a_leap_day_without_a_year_is_the_next_one(text: str, today: date,
                                                   expected: date | None) -> None:
    assert parse_date(text, today) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("den 4. december", date(2026, 12, 4)),
    ("d. 4/12", date(2026, 12, 4)),
    ("Fredag den 4. december", date(2026, 12, 4)),
    ("fredag, d. 4.12", date(2026, 12, 4)),
    ("fredag 4.12.2026", date(2026, 12, 4)),
    ("onsdag den 9. december", date(2026, 12, 9)),
    ("the 4 december", date(2026, 12, 4)),
    # A weekday that is not that date's weekday leaves the answer unclear: asked again.
    ("torsdag den 4. december", None),
    ("den", None),
    ("fredag den", None),
    ("den næste", None),
    # Two numbers with a space between them are not one number of days.
    ("1 4", None),
    ("4 5", None),
])
def test_a_written_date_may_start_with_den_or_its_weekday(
        real_dialogues: Dialogues, text: str, expected: date | None) -> None:
    sunday = date(2026, 11, 29)
    assert parse_date(text, sunday, real_dialogues.dates) == expected
