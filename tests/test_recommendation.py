"""The pre-delegation recommendation for every combination of preconditions, risk and influence."""

from __future__ import annotations

import itertools

import pytest

from bot.dialogue import Dialogues
from tests.conftest import TODAY
from tests.driver import EngineDriver

LEVELS = ("yes", "partly", "no")
# "Ved ikke" is its own answer to Intentioner (seed 004): never a failed precondition.
INTENTIONS = (*LEVELS, "unknown")
HIGH_INFLUENCE = ("decides_within", "full")

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
           "go_ahead": "Gå videre.", "bigger_step": "Gå videre – og overvej et større skridt.",
           "talk_first": "Tal sammen først."},
    "nb": {"smaller_step": "Ta et mindre steg først.", "with_support": "Gå videre – med støtte.",
           "go_ahead": "Gå videre.", "bigger_step": "Gå videre – og vurder et større steg.",
           "talk_first": "Snakk sammen først."},
    "en": {"smaller_step": "Take a smaller step first.", "with_support": "Go ahead – with support.",
           "go_ahead": "Go ahead.", "bigger_step": "Go ahead – and consider a bigger step.",
           "talk_first": "Talk first."},
}
HEADING = {"da": "Anbefaling:", "nb": "Anbefaling:", "en": "Recommendation:"}
CASES = [(c, i, r, risk) for c, i, r in itertools.product(LEVELS, INTENTIONS, LEVELS)
         for risk in range(1, 6)]


def weakest(*answers: str) -> str:
    """The weakest of the three precondition answers."""
    return "no" if "no" in answers else "partly" if "partly" in answers else "yes"


def expected(competence: str, intention: str, resources: str, risk: int,
             influence: str = "recommends") -> str:
    """The table above, with "ved ikke" and the declared degree of influence weighed in."""
    answers = (competence, intention, resources)
    if "no" in answers:
        return "smaller_step"
    if intention == "unknown":
        return "talk_first"  # talk about it first; not counted as a missing precondition
    if "partly" in answers and risk >= 3 and influence in HIGH_INFLUENCE:
        return "smaller_step"  # handing over the decisions on partial preconditions
    return TABLE[weakest(*answers)][risk]


def run(dialogues: Dialogues, lang: str, competence: str, intention: str, resources: str,
        risk: int, influence: str = "recommends") -> EngineDriver:
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
    d.press(influence)
    if influence in HIGH_INFLUENCE:
        d.text("Jeg er sparringspartner, men beslutter ikke for dem")
    d.text("Et kort møde hver fredag")
    d.press(str(risk))
    d.press("!skip")
    d.press("14")
    assert d.result.status == "finished"
    return d


def test_table_covers_every_combination() -> None:
    assert len(CASES) == 36 * 5


@pytest.mark.parametrize(("competence", "intention", "resources", "risk"), CASES)
def test_recommendation(real_dialogues: Dialogues, competence: str, intention: str,
                        resources: str, risk: int) -> None:
    want = expected(competence, intention, resources, risk)
    for lang in real_dialogues.languages:
        d = run(real_dialogues, lang, competence, intention, resources, risk)
        assert_recommends(d, lang, want)


def assert_recommends(d: EngineDriver, lang: str, want: str) -> None:
    """The stored recommendation and the first sentence after the summary's heading."""
    finished = [e for e in d.effects if e.kind == "finished"][0]
    assert finished.params["answers"]["recommendation"] == want
    lines = [m for m in d.messages if m.kind == "summary"][0].text.split("\n")
    # The recommendation is the first sentence of the line after its heading.
    line = lines[lines.index(HEADING[lang]) + 1]
    assert line.split(". ")[0].rstrip(".") + "." == HEADLINES[lang][want], (lang, line)


@pytest.mark.parametrize("influence", ["consulted", "recommends", "decides_within", "full"])
@pytest.mark.parametrize("risk", [1, 2, 3, 4, 5])
def test_the_declared_influence_is_weighed(real_dialogues: Dialogues, influence: str,
                                           risk: int) -> None:
    # Full responsibility on partial competence at risk 3 is not the same as being consulted.
    want = expected("partly", "yes", "yes", risk, influence)
    if influence in HIGH_INFLUENCE and risk >= 3:
        assert want == "smaller_step"
    for lang in real_dialogues.languages:
        assert_recommends(run(real_dialogues, lang, "partly", "yes", "yes", risk, influence),
                          lang, want)


def test_dont_know_is_its_own_answer_and_leads_to_a_talk(real_dialogues: Dialogues) -> None:
    words = {"da": ("Intentioner: ved ikke endnu", "tal om det, før I går videre"),
             "nb": ("Intensjoner: vet ikke ennå", "snakk om det før dere går videre"),
             "en": ("Intentions: not known yet", "talk about it before you go on")}
    for lang, (label, advice) in words.items():
        d = EngineDriver(real_dialogues, "delegation", TODAY, lang=lang)
        d.text("Ugeplanen til KL (pædagog)")
        d.text("Børnene møder voksne, der selv har planlagt dagen")
        d.press("yes")
        d.press("unknown")
        assert d.state is not None and d.state.node == "intention_unknown"
        asked = d.messages[-1].text
        assert "ikke et nej" in asked or "ikke et nei" in asked or "not a no" in asked
        d.text("Spørg KL, hvad der skal til")
        d.press("yes")
        for text in ("Børnenes trivsel først", "Åbningstiden ligger fast"):
            d.text(text)
        d.press("recommends")
        d.text("Et kort møde hver fredag")
        d.press("2")
        d.press("!skip")
        d.press("14")
        finished = [e for e in d.effects if e.kind == "finished"][0]
        assert finished.params["answers"]["intention"] == "unknown"  # stored as such, not "no"
        summary = [m for m in d.messages if m.kind == "summary"][0].text
        assert label in summary and advice in summary, summary
        assert "Intentioner: nej" not in summary and "ikke på plads" not in summary
        assert "overdoseret" not in summary and "overdosert" not in summary
        assert_recommends(d, lang, "talk_first")
