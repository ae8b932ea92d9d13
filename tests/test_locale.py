"""The platform kit (bot/locale.py): language codes, locales, names, zones and recurrence."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import locale


@pytest.mark.parametrize(("code", "expected"), [
    ("nb-NO", "nb"), ("nn", "nb"), ("no", "nb"), ("NB", "nb"), ("nn-NO", "nb"), ("nb_NO", "nb"),
    ("da", "da"), ("da-DK", "da"), ("en-GB", "en"), ("en", "en"),
    ("sv", "da"), ("", "da"), (None, "da"),
])
def test_platform_codes_map_to_our_languages(code: str | None, expected: str) -> None:
    assert locale.language_for(code) == expected


def test_a_language_we_do_not_offer_falls_back_to_the_first_supported() -> None:
    assert locale.language_for("nn", ("da", "en")) == "da"
    assert locale.language_for("en-US", ("en", "da")) == "en"


def test_babel_locales_and_names() -> None:
    assert locale.babel_locale("nb") == "nb_NO"
    assert locale.babel_locale("xx") == "da_DK"
    assert [locale.weekday_name(0, lang) for lang in ("da", "nb", "en")] == [
        "mandag", "mandag", "Monday"]
    assert locale.weekday_name(6, "da") == "søndag"
    assert [locale.month_name(5, lang) for lang in ("da", "nb", "en")] == ["maj", "mai", "May"]


def test_a_bad_zone_falls_back_to_copenhagen() -> None:
    assert locale.zone_of("Europe/Oslo") == ZoneInfo("Europe/Oslo")
    for bad in ("Mars/Olympus", "", None, "../etc/passwd"):
        assert locale.zone_of(bad) == ZoneInfo("Europe/Copenhagen")
    assert locale.is_zone("Europe/Oslo")
    assert not locale.is_zone("Mars/Olympus")
    assert not locale.is_zone("")


def test_weekly_recurrence_keeps_local_time_across_dst() -> None:
    oslo = ZoneInfo("Europe/Oslo")
    # Monday 09:00 in Oslo, starting the week before summer time begins (29 March 2026).
    first = locale.weekly_after(0, time(9, 0), oslo, datetime(2026, 3, 21, 12, 0, tzinfo=UTC))
    assert first == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # CET, UTC+1
    second = locale.every_weeks_after(first, 1, time(9, 0), oslo, first)
    assert second == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # CEST, UTC+2
    assert second - first == timedelta(days=7) - timedelta(hours=1)
    # Missed slots are skipped, never replayed.
    later = locale.every_weeks_after(first, 2, time(9, 0), oslo, datetime(2026, 4, 10, tzinfo=UTC))
    assert later == datetime(2026, 4, 20, 7, 0, tzinfo=UTC)


def test_a_time_in_the_spring_gap_lands_after_it() -> None:
    cph = ZoneInfo("Europe/Copenhagen")
    assert locale.local_instant(datetime(2026, 3, 29).date(), time(2, 30), cph) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 summer time


def test_day_text_in_a_format_or_a_pattern() -> None:
    day = datetime(2026, 11, 30).date()
    assert locale.day_text(day, "da") == "30. nov. 2026"
    assert locale.day_text(day, "en", "EEEE d MMMM") == "Monday 30 November"
    assert locale.day_text(day, "nb", "EEEE d. MMMM") == "mandag 30. november"
