"""The pure team check-in domain: thresholds, aggregation, cadence, examples and votes."""

from __future__ import annotations

from datetime import UTC, datetime, time

from bot.team import core
from bot.team.core import Answer, Cadence, Example


def test_threshold_is_never_below_three_but_can_be_raised() -> None:
    assert core.threshold(None) == 3
    assert core.threshold(1) == 3
    assert core.threshold(0) == 3
    assert core.threshold(5) == 5


def test_two_respondents_show_nothing_three_show_distributions() -> None:
    two = core.aggregate([Answer(4, "yes"), Answer(2, "no")])
    assert not two.shown and two.trust is None and two.meaning is None
    assert two.trust_mean is None
    three = core.aggregate([Answer(4, "yes"), Answer(2, "no"), Answer(5, "partly")])
    assert three.shown
    assert three.trust == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert three.meaning == {"yes": 1, "partly": 1, "no": 1}
    assert three.trust_mean == 3.67


def test_each_question_needs_the_threshold_on_its_own() -> None:
    result = core.aggregate([Answer(4, "yes"), Answer(3, None), Answer(5, "no")])
    assert result.shown and result.trust is not None
    assert result.meaning is None  # only two answered it: withheld


def test_a_raised_threshold_withholds_more() -> None:
    answers = [Answer(3, "yes")] * 4
    assert core.aggregate(answers, 5).shown is False
    assert core.aggregate(answers, 1).shown is True  # 1 is lifted to 3


def test_change_since_last_pulse() -> None:
    before = core.aggregate([Answer(3, "yes"), Answer(3, "no"), Answer(3, "no"), Answer(3, "no")])
    now = core.aggregate([Answer(4, "yes"), Answer(4, "yes"), Answer(4, "no"), Answer(4, "no")])
    change = core.change_since(now, before)
    assert change is not None
    assert change.trust_delta == 1.0
    assert change.yes_share_delta == 25
    hidden = core.aggregate([Answer(1, "no")])
    assert core.change_since(now, hidden) is None
    assert core.change_since(now, None) is None


def test_result_survives_json() -> None:
    result = core.aggregate([Answer(4, "yes"), Answer(2, "no"), Answer(5, "partly")])
    assert core.result_from_json(core.result_to_json(result)) == result


def test_member_keys_are_scoped_and_keyed() -> None:
    a = core.member_key(b"secret", "pulse:1", "12345")
    assert a == core.member_key(b"secret", "pulse:1", "12345")
    assert a != core.member_key(b"secret", "pulse:2", "12345")
    assert a != core.member_key(b"other", "pulse:1", "12345")
    assert "12345" not in a


def test_weekly_cadence_in_local_time_across_dst() -> None:
    friday = Cadence("weekly", 4, time(13, 30), "Europe/Copenhagen")
    first = core.first_occurrence(friday, datetime(2026, 10, 19, tzinfo=UTC))  # a Monday
    assert first == datetime(2026, 10, 23, 11, 30, tzinfo=UTC)  # 13:30 CEST
    after = core.next_occurrence(friday, first, first)
    assert after == datetime(2026, 10, 30, 12, 30, tzinfo=UTC)  # 13:30 CET after the change


def test_biweekly_skips_pulses_missed_while_down() -> None:
    monday = Cadence("biweekly", 0, time(9, 0), "UTC")
    due = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert core.next_occurrence(monday, due, now) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_time_in_the_dst_gap_comes_an_hour_late_not_never() -> None:
    sunday = Cadence("weekly", 6, time(2, 30), "Europe/Copenhagen")
    first = core.first_occurrence(sunday, datetime(2026, 3, 25, tzinfo=UTC))
    assert first == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_anonymise_removes_what_points_at_people() -> None:
    text = ("Skemaet @hanne_p sender rundt, mail ole@kommune.dk eller ring 20 30 40 50, "
            "se https://t.me/someone")
    cleaned = core.anonymise(text)
    for leak in ("hanne_p", "ole@kommune.dk", "20 30 40 50", "t.me/someone"):
        assert leak not in cleaned
    assert cleaned.startswith("Skemaet")
    assert len(core.anonymise("x" * 5000)) <= core.EXAMPLE_LIMIT


def test_duplicates_are_merged_within_a_colour_only() -> None:
    examples = [
        Example("red", "Dobbeltregistrering i omsorgssystemet", 1),
        Example("green", "Faglige sparringsmøder hver fredag", 2),
        Example("red", "dobbeltregistrering i omsorgssystemet!", 3),
        Example("red", "Dobbelt-registrering i omsorgsystemet", 4),
        Example("green", "Dobbeltregistrering i omsorgssystemet", 5),
        Example("red", "Tidsregistrering i kvarterer", 6),
    ]
    merged = core.merge_examples(examples)
    assert [(m.colour, m.count) for m in merged] == [
        ("red", 3), ("red", 1), ("green", 1), ("green", 1)]
    assert sorted(merged[0].ids) == [1, 3, 4]


def test_votes_are_tallied_per_item_and_option() -> None:
    votes = [(1, "remove"), (1, "remove"), (1, "change"), (2, "anchor"), (9, "remove"),
             (2, "bogus")]
    table = core.tally(votes, [1, 2])
    assert table == {1: {"remove": 2, "change": 1, "anchor": 0},
                     2: {"remove": 0, "change": 0, "anchor": 1}}
    assert core.leading(table[1]) == "remove"
    assert core.leading({"remove": 1, "change": 1, "anchor": 0}) is None
    assert core.leading({"remove": 0, "change": 0, "anchor": 0}) is None


def test_prompt_follows_the_results() -> None:
    doubtful = core.aggregate([Answer(3, "no"), Answer(3, "no"), Answer(3, "yes")])
    assert core.prompt_number(1, doubtful) in (2, 9)
    content = core.aggregate([Answer(3, "yes")] * 3)
    assert [core.prompt_number(s, content) for s in (1, 2, 9, 10)] == [1, 2, 9, 1]
