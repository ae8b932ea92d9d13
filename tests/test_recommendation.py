"""The pre-delegation recommendation for every combination of preconditions and risk."""

from __future__ import annotations

import itertools

import pytest

from bot.dialogue import Dialogues
from tests.conftest import TODAY
from tests.driver import EngineDriver

LEVELS = ("yes", "partly", "no")

# Expected outcome by the weakest precondition (rows) and the leader's risk rating (columns):
# a missing precondition means trust would be overdosed; a partial one needs support, and a
# smaller step when the risk is high; with everything in place a high risk asks for close,
# meaningful check-ins, and a step with hardly any risk is not much of a trust test.
TABLE = {
    "yes": {1: "bigger_step", 2: "go_ahead", 3: "go_ahead", 4: "with_support", 5: "with_support"},
    "partly": {1: "with_support", 2: "with_support", 3: "with_support", 4: "smaller_step",
               5: "smaller_step"},
    "no": {1: "smaller_step", 2: "smaller_step", 3: "smaller_step", 4: "smaller_step",
           5: "smaller_step"},
}
# The first words of each recommendation in the summary, per language.
HEADLINES = {
    "da": {"smaller_step": "Tag et mindre skridt først.", "with_support": "Gå videre – med støtte.",
           "go_ahead": "Gå videre.", "bigger_step": "Gå videre – og overvej et større skridt."},
    "nb": {"smaller_step": "Ta et mindre steg først.", "with_support": "Gå videre – med støtte.",
           "go_ahead": "Gå videre.", "bigger_step": "Gå videre – og vurder et større steg."},
    "en": {"smaller_step": "Take a smaller step first.", "with_support": "Go ahead – with support.",
           "go_ahead": "Go ahead.", "bigger_step": "Go ahead – and consider a bigger step."},
}
HEADING = {"da": "Anbefaling:", "nb": "Anbefaling:", "en": "Recommendation:"}
CASES = [(c, i, r, risk) for c, i, r in itertools.product(LEVELS, repeat=3)
         for risk in range(1, 6)]


def weakest(*answers: str) -> str:
    """The weakest of the three precondition answers."""
    return "no" if "no" in answers else "partly" if "partly" in answers else "yes"


def run(dialogues: Dialogues, lang: str, competence: str, intention: str, resources: str,
        risk: int) -> EngineDriver:
    """Drive the whole check with these answers."""
    d = EngineDriver(dialogues, "delegation", TODAY, lang=lang)
    d.text("Ugeplanen til KL (pædagog)")
    d.text("Børnene møder voksne, der selv har planlagt dagen")
    for answer in (competence, intention, resources):
        d.press(answer)
        if answer != "yes":
            d.text("Sparring med en erfaren kollega")
    d.text("Børnenes trivsel først")
    d.text("Åbningstiden ligger fast")
    d.press("recommends")
    d.text("Et kort møde hver fredag")
    d.press(str(risk))
    d.press("!skip")
    d.press("14")
    assert d.result.status == "finished"
    return d


def test_table_covers_every_combination() -> None:
    assert len(CASES) == 27 * 5


@pytest.mark.parametrize(("competence", "intention", "resources", "risk"), CASES)
def test_recommendation(real_dialogues: Dialogues, competence: str, intention: str,
                        resources: str, risk: int) -> None:
    expected = TABLE[weakest(competence, intention, resources)][risk]
    for lang in real_dialogues.languages:
        d = run(real_dialogues, lang, competence, intention, resources, risk)
        finished = [e for e in d.effects if e.kind == "finished"][0]
        assert finished.params["answers"]["recommendation"] == expected
        lines = [m for m in d.messages if m.kind == "summary"][0].text.split("\n")
        # The recommendation is the first sentence of the line after its heading.
        line = lines[lines.index(HEADING[lang]) + 1]
        assert line.split(". ")[0].rstrip(".") + "." == HEADLINES[lang][expected], (lang, line)
