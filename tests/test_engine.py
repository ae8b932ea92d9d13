"""Engine unit tests: every node kind, back, cancel, stale buttons, wrong input, unknown node."""

from __future__ import annotations

from datetime import date

import pytest

from bot.dialogue import Dialogues
from bot.dialogue.engine import UnknownNodeError, parse_date
from bot.dialogue.state import ButtonInput, DialogueState
from tests.conftest import TODAY
from tests.driver import EngineDriver


def drive_to_end(d: Dialogues) -> EngineDriver:
    """Walk the sample conversation along one path."""
    drv = EngineDriver(d, "sample", TODAY)
    drv.text("  Mette  ")
    drv.press("a")
    drv.press("y")
    drv.press("x")
    drv.press("!ok")
    drv.press("5")
    drv.text("15.12.2026")
    return drv


def test_message_node_is_shown_then_first_question(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    assert [m.text for m in drv.messages] == ["Hej", "Skriv noget"]
    assert drv.state is not None and drv.state.node == "name"


def test_every_kind_to_the_end(sample_dialogues: Dialogues) -> None:
    drv = drive_to_end(sample_dialogues)
    assert drv.result.status == "finished"
    assert drv.state is None
    summary = next(m for m in drv.messages if m.kind == "summary")
    assert summary.text == ("Mette valgte a og x,y, vurdering 5, dato 2026-12-15, dom high_a.")
    kinds = [e.kind for e in drv.effects]
    assert kinds.count("answer") == 5 and "summary" in kinds and "finished" in kinds
    schedule = next(e for e in drv.effects if e.kind == "schedule_followup")
    assert schedule.params["date"] == "2026-12-15"
    assert schedule.params["conversation"] == "sample"
    summary_effect = next(e for e in drv.effects if e.kind == "summary")
    assert summary_effect.params["headline"] == "Mette"
    assert drv.messages[-1].text == "Farvel"


def test_branch_default_sets_value(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    drv.press("b")
    drv.press("x")
    drv.press("!ok")
    drv.press("!skip")
    drv.press("14")
    summary = next(m for m in drv.messages if m.kind == "summary")
    assert "vurdering None" in summary.text and "dom other" in summary.text
    assert "dato 2026-12-07" in summary.text


def test_scale_accepts_typed_digit_and_rejects_other_text(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    drv.press("a")
    drv.press("x")
    drv.press("!ok")
    before = drv.state
    rejected = drv.text("meget")
    assert rejected.status == "rejected" and drv.state == before
    assert rejected.messages[0].kind == "error"
    drv.text("3")
    assert drv.state is not None and drv.state.answers["rate"] == 3


def test_multi_toggle_and_minimum(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    drv.press("a")
    assert drv.press("!ok").status == "rejected"
    toggled = drv.press("x")
    assert toggled.messages[0].replace is True
    assert "☑ X" in [b.label for row in toggled.messages[0].buttons for b in row]
    drv.press("x")  # untoggle
    assert drv.state is not None and drv.state.pending == []
    drv.press("y")
    drv.press("!ok")
    assert drv.state is not None and drv.state.answers["many"] == ["y"]


def test_free_text_where_button_expected_keeps_state(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    before = drv.state
    result = drv.text("A tak")
    assert result.status == "rejected"
    assert "knapperne" in result.messages[0].text
    assert drv.state == before


def test_a_typed_label_answers_like_its_button(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    result = drv.text("  b. ")
    assert result.status != "rejected"
    assert drv.state is not None and drv.state.answers["pick"] == "b"
    assert drv.state.node == "many"


def test_typed_answers_to_the_real_questions_match_whole_labels_or_their_first_words(
        real_dialogues: Dialogues) -> None:
    for typed, stored in (("ja", "yes"), ("Delvist", "partly"), ("NEJ!", "no"),
                          ("nej, ikke endnu", "no")):
        drv = EngineDriver(real_dialogues, "delegation", TODAY)
        drv.text("Ugeplanen til KL (pædagog)")
        drv.text("Ro og nærvær for børnene")
        assert drv.state is not None and drv.state.node == "competence"
        drv.text(typed)
        assert drv.state.answers["competence"] == stored, typed
    drv = EngineDriver(real_dialogues, "delegation", TODAY)
    drv.text("Ugeplanen til KL (pædagog)")
    drv.text("Ro og nærvær for børnene")
    before = drv.state
    for vague in ("måske", "ja og nej", "ikke endnu"):
        assert drv.text(vague).status == "rejected"
        assert drv.state == before


def test_too_long_and_empty_text_rejected(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    before = drv.state
    long = drv.text("x" * 10_000)
    assert long.status == "rejected" and "10000" in long.messages[0].text
    assert drv.text("   ").status == "rejected"
    assert drv.state == before


def test_stale_and_forged_buttons(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    old_a = drv.button("a")
    drv.press("a")
    before = drv.state
    # A button from an earlier message.
    assert drv.send(ButtonInput(data=old_a)).status == "rejected"
    # Garbage and a button from another thread.
    assert drv.send(ButtonInput(data="nonsense")).status == "rejected"
    forged = "zzzzzz" + drv.button("x")[6:]
    assert drv.send(ButtonInput(data=forged)).status == "rejected"
    # An option value that does not exist at this node.
    unknown = drv.button("x").rsplit(":", 1)[0] + ":nope"
    assert drv.send(ButtonInput(data=unknown)).status == "rejected"
    assert drv.state == before


def test_back_undoes_one_answer(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    drv.press("a")
    assert drv.state is not None and drv.state.node == "many"
    drv.back()
    assert drv.state is not None and drv.state.node == "pick"
    assert "pick" not in drv.state.answers and drv.state.answers["name"] == "Ole"
    assert drv.prompt.text == "Vælg"
    drv.back()
    assert drv.state is not None and drv.state.node == "name" and drv.state.answers == {}
    assert drv.back().status == "rejected"


def test_back_over_branch_removes_derived_values(sample_dialogues: Dialogues) -> None:
    drv = drive_to_end(sample_dialogues)
    assert drv.state is None
    drv2 = EngineDriver(sample_dialogues, "sample", TODAY)
    drv2.text("Ole")
    drv2.press("a")
    drv2.press("x")
    drv2.press("!ok")
    drv2.press("5")
    assert drv2.state is not None and drv2.state.node == "when"
    drv2.back()
    assert drv2.state is not None and "rate" not in drv2.state.answers


def test_cancel_ends_with_effect(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    result = drv.cancel()
    assert result.status == "cancelled" and result.state is None
    assert result.effects[0].kind == "cancelled"


def test_date_rules(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    drv.press("a")
    drv.press("x")
    drv.press("!ok")
    drv.press("2")
    assert drv.text("i morgen tidlig").status == "rejected"
    assert drv.text("01.01.2020").status == "rejected"
    assert drv.text("01.01.2030").status == "rejected"
    assert drv.text("2026-11-30").status == "finished"


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-15", date(2026, 12, 15)),
    ("15.12.2026", date(2026, 12, 15)),
    ("15/12", date(2026, 12, 15)),
    ("1/1", date(2027, 1, 1)),
    ("14", date(2026, 12, 7)),
    ("31.02.2026", None),
    ("soon", None),
])
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text, TODAY) == expected


def test_unknown_node_in_stored_state_raises_named_error(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    assert drv.state is not None
    broken = DialogueState.from_json(drv.state.to_json().replace('"node":"name"',
                                                                 '"node":"gone"'))
    with pytest.raises(UnknownNodeError) as info:
        sample_dialogues.engine.step(broken, ButtonInput(data="x"), "da", TODAY)
    assert info.value.node == "gone"


def test_state_is_json_round_trippable(sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Ole")
    assert drv.state is not None
    assert DialogueState.from_json(drv.state.to_json()) == drv.state
    assert len(drv.state.to_json()) < 1000


def test_typed_ratings_and_typed_skips_count_like_buttons(real_dialogues: Dialogues) -> None:
    def at_rating() -> EngineDriver:
        drv = EngineDriver(real_dialogues, "reflection", TODAY)
        drv.text("Jeg holdt igen med at rette i ugeplanen")
        assert drv.state is not None and drv.state.node == "rate_open"
        return drv

    def rating(drv: EngineDriver) -> list[tuple[object, bool]]:
        return [(e.params["value"], e.params["skipped"]) for e in drv.effects
                if e.kind == "answer" and e.params["name"] == "rating"]

    for typed in ("4", "4/5", "4 af 5", " 4 ud af 5. ", "4 of 5"):
        drv = at_rating()
        drv.text(typed)
        assert rating(drv) == [(4, False)], typed
    drv = at_rating()
    before = drv.state
    refused = drv.text("ret godt")
    assert refused.status == "rejected" and "spring" in refused.messages[0].text
    assert drv.state == before and rating(drv) == []
    drv.text("Spring over")
    assert rating(drv) == [(None, True)]
