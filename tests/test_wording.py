"""Tone rules where a test can tell: no forbidden asks, no grading of people, no placeholders."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from bot.dialogue import Dialogues
from bot.dialogue.model import ChoiceNode, DateNode, MultiNode, ScaleNode, TextNode
from bot.features import reflection
from tests.conftest import ROOT

# Asking for someone's full name or health details is never allowed, in any language.
FORBIDDEN_ASKS = re.compile(
    r"fulde navn|fulle navn|full name|surname|efternavn|etternavn|cpr|personnummer|"
    r"fødselsnummer|helbred|helse|health|diagnos|sygdom|sykdom|sygemeld|sykmeld|illness|"
    r"medicin|medisin|medication",
    re.IGNORECASE)
# A rating must be about the leader's own practice, never a grade of a person.
GRADING = re.compile(
    r"\b(hvor|how)\s+(god|gode|dygtig|flink|dyktig|kompetent|competent|good|"
    r"pålidelig|pålitelig|reliable|troværdig|trustworthy|doven|lat|lazy)\s+(er|is|are|var|was)\b",
    re.IGNORECASE)
OWN_PRACTICE = re.compile(r"\b(du|dig|deg|din|dine|jeres|dere|deres|you|your)\b", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\b(TODO|FIXME|TBD|lorem|ipsum|xxx+)\b", re.IGNORECASE)


def prompts(dialogues: Dialogues) -> Iterator[tuple[str, str, str]]:
    """(where, kind, wording) of every question the bot asks, in every language."""
    for definition in dialogues.registry.definitions.values():
        for node_id, node in definition.nodes.items():
            if isinstance(node, TextNode | ChoiceNode | MultiNode | ScaleNode | DateNode):
                for lang, text in node.prompt.items():
                    yield f"{definition.id}.{node_id} ({lang})", node.kind, text
    for item in reflection.load_prompts(ROOT / "dialogues" / reflection.PROMPTS_FILE,
                                        dialogues.languages):
        for lang in dialogues.languages:
            yield f"reflection prompt {item.id} ({lang})", "text", item.question[lang]
            yield f"reflection rating {item.id} ({lang})", "scale", item.rating[lang]


def all_wording_files() -> list[Path]:
    """Every file holding user-facing wording."""
    return [*sorted((ROOT / "dialogues").glob("*.yaml")),
            *sorted((ROOT / "templates").rglob("*.j2"))]


def test_no_prompt_asks_for_full_names_or_health(real_dialogues: Dialogues) -> None:
    asked = list(prompts(real_dialogues))
    assert len(asked) > 100
    for where, _, text in asked:
        assert not FORBIDDEN_ASKS.search(text), (where, text)


def test_questions_about_who_suggest_initials_or_a_role(real_dialogues: Dialogues) -> None:
    for where, kind, text in prompts(real_dialogues):
        if kind == "text" and re.search(r"\b(hvem|whom?)\b", text, re.IGNORECASE):
            assert re.search(r"initial", text, re.IGNORECASE), (where, text)


def test_no_rating_grades_a_person(real_dialogues: Dialogues) -> None:
    for where, kind, text in prompts(real_dialogues):
        if kind == "scale" and "{{" not in text:  # the weekly ratings are checked one by one
            assert not GRADING.search(text), (where, text)
            assert OWN_PRACTICE.search(text), (where, text)


def test_no_placeholder_text_anywhere() -> None:
    files = all_wording_files()
    assert len(files) >= 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        match = PLACEHOLDER.search(text)
        assert match is None, (path.name, match.group(0) if match else "")


def test_every_wording_exists_in_every_language(real_dialogues: Dialogues) -> None:
    assert real_dialogues.languages == ("da", "nb", "en")
    for lang in real_dialogues.languages:
        for name in {p.stem for p in (ROOT / "templates" / "da").glob("*.j2")}:
            assert (ROOT / "templates" / lang / f"{name}.j2").is_file(), (lang, name)
    for path in sorted((ROOT / "dialogues").glob("_ui*.yaml")):
        for key, text in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            assert set(real_dialogues.languages) <= set(text), (path.name, key)


def test_norwegian_is_not_danish_with_swapped_letters(real_dialogues: Dialogues) -> None:
    # Words that are Danish only; real Bokmål uses its own (ikke/ennå/hva/hvordan/nå/...).
    danish = re.compile(r"\b(ikke endnu|hvad|hvornår|medarbejder\w*|spørgsmål\w*|"
                        r"tilliden|nu|jer)\b", re.IGNORECASE)
    texts = [(where, text) for where, _, text in prompts(real_dialogues)
             if where.endswith("(nb)")]
    for path in sorted((ROOT / "dialogues").glob("*.yaml")):
        texts.extend((path.name, t) for t in in_language(
            yaml.safe_load(path.read_text("utf-8")), "nb"))
    for path in sorted((ROOT / "templates" / "nb").glob("*.j2")):
        texts.append((path.name, path.read_text(encoding="utf-8")))
    assert len(texts) > 200
    for where, text in texts:
        assert not danish.search(text), (where, danish.search(text))


def test_every_node_that_speaks_names_its_source(real_dialogues: Dialogues) -> None:
    seeds = re.compile(r"\b00[0-4]\b")
    for definition in real_dialogues.registry.definitions.values():
        for node_id, node in definition.nodes.items():
            speaks = getattr(node, "prompt", None) or getattr(node, "text", None) or (
                node.kind == "summary")
            if speaks:
                assert node.source and seeds.search(node.source), (definition.id, node_id)
    for item in reflection.load_prompts(ROOT / "dialogues" / reflection.PROMPTS_FILE,
                                        real_dialogues.languages):
        assert re.match(r"00[0-4] ", item.source), item.id


def test_docs_sources_lists_every_node_and_prompt(real_dialogues: Dialogues) -> None:
    from bot.dialogue.graph import sources_table

    doc = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    mine = [d for d in real_dialogues.registry.definitions.values()
            if d.id.startswith(("delegation", "repair", "reflection", "resistance"))]
    prompts = reflection.load_prompts(ROOT / "dialogues" / reflection.PROMPTS_FILE,
                                      real_dialogues.languages)
    rows = [*sources_table(mine).splitlines()[2:],
            *reflection.prompts_table(prompts).splitlines()[2:]]
    assert len(rows) > 80
    stale = [row for row in rows if row not in doc]
    assert not stale, "regenerate: tillidsbot dialogues sources > docs/sources.md\n" + "\n".join(
        stale)


def test_english_wording_has_no_danish_or_norwegian_letters() -> None:
    texts: list[tuple[str, str]] = []
    for path in sorted((ROOT / "dialogues").glob("*.yaml")):
        texts.extend((path.name, t) for t in in_language(
            yaml.safe_load(path.read_text("utf-8")), "en"))
    texts.extend((p.name, p.read_text(encoding="utf-8"))
                 for p in sorted((ROOT / "templates" / "en").glob("*.j2")))
    assert len(texts) > 150
    for where, text in texts:
        assert not re.search("[æøåÆØÅ]", text), (where, text)


def in_language(data: object, lang: str) -> Iterator[str]:
    """Every value stored under a given language key, anywhere in a YAML document."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == lang and isinstance(value, str):
                yield value
            else:
                yield from in_language(value, lang)
    elif isinstance(data, list):
        for item in data:
            yield from in_language(item, lang)


# ---- issue 15: dosed trust, faithful terms, natural language ----------------------------------
# A weekly rating must ask about calibration or process, never reward "more trust" (seed 004:
# "mere tillid eller øget autonomi [er] ikke altid den rigtige løsning") or grade character.
MORE_IS_BETTER = re.compile(
    r"\bhvor (meget|mye) (tillid|tillit|ansvar|plads|rom|handlerum|handlingsrom|indflydelse|"
    r"innflytelse)\b|\bturde\b|\bturte\b|\bhow much (trust|room|responsibility|influence)\b|"
    r"\bdare\b|\bhvor godt handle|\bhow well did you act\b|\bhvor (nærværende|til stede)\b",
    re.IGNORECASE)
# Words the review found translated or out of place, per language (CONTENT-REVIEW.md).
CALQUES = {
    "da": re.compile(r"mistillidsfuld|lærende og|lærerig|tjek-in|fået et hak|Vi tager det i ro|"
                     r"lad samtalen finde|for at flytte noget|kan se blive holdt|"
                     r"lyt færdigt|siger det højt fra", re.IGNORECASE),
    "nb": re.compile(r"pulten|tar tak ved|Vi tar det i ro|La samtalen finne|for å flytte noe|"
                     r"lærerik|fått en ripe\.|forandre", re.IGNORECASE),
    "en": re.compile(r"sparring|(?<!')\bframes\b(?!')|leader's card|rules of the game|"
                     r"reflected leap|overdosed|take it calmly|has to be returned|betting on trust|"
                     r"degree of certainty", re.IGNORECASE),
}


def weekly_ratings(languages: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(where, wording) of every 1-5 rating the weekly reflection can ask."""
    for item in reflection.load_prompts(ROOT / "dialogues" / reflection.PROMPTS_FILE,
                                        languages):
        for lang in languages:
            yield f"{item.id} ({lang})", item.rating[lang]


def test_no_weekly_rating_rewards_more_trust_or_grades_character(
        real_dialogues: Dialogues) -> None:
    ratings = list(weekly_ratings(real_dialogues.languages))
    assert len(ratings) == 22 * 3
    scales = [(w, t) for w, kind, t in prompts(real_dialogues) if kind == "scale"
              and "{{" not in t]
    for where, text in [*ratings, *scales]:
        assert not MORE_IS_BETTER.search(text), (where, text)
        assert OWN_PRACTICE.search(text), (where, text)


def test_the_review_s_calques_are_gone_in_every_language() -> None:
    for lang, calque in CALQUES.items():
        texts: list[tuple[str, str]] = []
        for path in sorted((ROOT / "dialogues").glob("*.yaml")):
            texts.extend((path.name, t) for t in in_language(
                yaml.safe_load(path.read_text("utf-8")), lang))
        texts.extend((p.name, p.read_text(encoding="utf-8"))
                     for p in sorted((ROOT / "templates" / lang).glob("*.j2")))
        assert len(texts) > 100
        for where, text in texts:
            assert not calque.search(text), (lang, where, calque.search(text))


def test_intentioner_is_about_the_organisations_goals_and_the_staircase_is_jacs(
        real_dialogues: Dialogues) -> None:
    delegation = real_dialogues.registry.get("delegation")
    intention = delegation.nodes["intention"]
    staircase = delegation.nodes["next_step"]
    goals = {"da": "det, I samlet skal nå", "nb": "det dere til sammen skal oppnå",
             "en": "what you are to achieve together"}
    for lang in real_dialogues.languages:
        assert goals[lang] in intention.prompt[lang]  # type: ignore[union-attr]
        assert "JAC" in staircase.prompt[lang]  # type: ignore[union-attr]
    values = [o.value for o in intention.options]  # type: ignore[union-attr]
    assert values == ["yes", "partly", "no", "unknown"]  # "ved ikke" is its own answer


def test_bentzen_is_credited_where_a_danish_leader_expects_it() -> None:
    for item in reflection.load_prompts(ROOT / "dialogues" / reflection.PROMPTS_FILE,
                                        ("da", "nb", "en")):
        if item.kind in ("compass", "misunderstanding"):
            assert "Bentzen" in item.title["da"] and "Bentzen" in item.title["nb"], item.id
            assert "Bentzen" in item.title["en"], item.id
