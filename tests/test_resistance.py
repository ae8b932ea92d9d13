"""/resistance ("Når tillid møder modstand"): the leader's own words, one next step, a follow-up."""

from __future__ import annotations

from datetime import date

import pytest

from bot.dialogue import Dialogues
from bot.dialogue.engine import DONE
from tests.conftest import TODAY
from tests.driver import EngineDriver

WORDS = {
    "reform": "Vi afskaffer de faste tidsregistreringer i hjemmeplejen",
    "freedom": "Til at bruge tiden hos borgeren på det, der giver mening for dem",
    "fear": "Mellemlederne frygter at miste overblikket over timerne",
    "upward": "At timetallet ikke er målet, men borgernes oplevelse",
    "adapt": "Vi beholder ugeopgørelsen, men kun som samtaleemne på teammødet",
    "next_step": "Jeg booker et møde med min chef om to uger og tager to eksempler med",
}


def walk_through(d: EngineDriver, where: list[str], followup: bool) -> None:
    """Answer every question with the words above."""
    d.text(WORDS["reform"])
    d.text(WORDS["freedom"])
    d.press("economic")
    for value in where:
        d.press(value)
    d.press(DONE)
    d.press("habits")
    d.text(WORDS["fear"])
    d.text(WORDS["upward"])
    d.text(WORDS["adapt"])
    d.text(WORDS["next_step"])
    d.press("yes" if followup else "no")
    if followup:
        d.press("14")


@pytest.mark.parametrize("lang", ["da", "nb", "en"])
def test_the_summary_is_the_leaders_own_words_and_one_next_step(
        real_dialogues: Dialogues, lang: str) -> None:
    d = EngineDriver(real_dialogues, "resistance", TODAY, lang=lang)
    walk_through(d, ["top", "self"], followup=True)
    assert d.result.status == "finished"
    [summary] = [m.text for m in d.messages if m.kind == "summary"]
    for text in WORDS.values():
        assert f"“{text}”" in summary, (lang, text)
    heading = {"da": "DIT NÆSTE SKRIDT:", "nb": "DITT NESTE STEG:", "en": "YOUR NEXT STEP:"}[lang]
    assert summary.count(heading) == 1 and f"{heading} “{WORDS['next_step']}”" in summary
    # The reform relies on economic control, the resistance is at the top: both named back.
    economic = {"da": "økonomisk tillid", "nb": "økonomisk tillit", "en": "economic trust"}
    assert economic[lang] in summary
    assert {"da": "højere oppe og hos dig selv", "nb": "høyere opp og hos deg selv",
            "en": "further up and in yourself"}[lang] in summary
    [followup] = [e for e in d.effects if e.kind == "schedule_followup"]
    assert followup.params["conversation"] == "resistance_followup"
    assert followup.params["date"] == date.fromordinal(TODAY.toordinal() + 14).isoformat()
    assert followup.params["context"]["next_step"] == WORDS["next_step"]


def test_no_follow_up_when_the_leader_declines(real_dialogues: Dialogues) -> None:
    d = EngineDriver(real_dialogues, "resistance", TODAY, lang="da")
    walk_through(d, ["staff"], followup=False)
    assert d.result.status == "finished"
    assert not [e for e in d.effects if e.kind == "schedule_followup"]
    assert "/resistance" in d.messages[-1].text


def test_leading_upwards_is_asked_with_the_top_in_mind_only_when_it_resists(
        real_dialogues: Dialogues) -> None:
    asked = {}
    for where in (["top"], ["staff"]):
        d = EngineDriver(real_dialogues, "resistance", TODAY, lang="da")
        d.text(WORDS["reform"])
        d.text(WORDS["freedom"])
        d.press("relational")
        # Relational trust cannot stand alone (Vallentin, seed 000).
        assert "kan relationel tillid ikke stå alene" in d.messages[-2].text
        for value in where:
            d.press(value)
        d.press(DONE)
        d.press("communication")
        d.text(WORDS["fear"])
        asked[where[0]] = d.messages[-1].text
    assert "din chef og resten af ledelseskæden" in asked["top"]
    assert "Selv når modstanden ikke kommer oppefra" in asked["staff"]


def test_the_follow_up_asks_about_the_next_step_in_the_leaders_words(
        real_dialogues: Dialogues) -> None:
    d = EngineDriver(real_dialogues, "resistance_followup", TODAY, lang="da",
                     context={"next_step": WORDS["next_step"]})
    assert f"“{WORDS['next_step']}”" in d.messages[-1].text
    d.press("partly")
    d.text("Chefen lyttede, men vil se tal først")
    assert d.result.status == "finished"
    [summary] = [m.text for m in d.messages if m.kind == "summary"]
    assert "“Chefen lyttede, men vil se tal først”" in summary and "delvist" in summary


def test_the_conversation_is_in_the_menu_after_the_others(real_dialogues: Dialogues) -> None:
    titles = [d.title["da"] for d in real_dialogues.registry.menu()]
    assert titles[-1] == "Når tillid møder modstand" and len(titles) == 4
    nb = [d.title["nb"] for d in real_dialogues.registry.menu()]
    assert nb[-1] == "Når tillit møter motstand"
