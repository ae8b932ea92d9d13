"""Every `source:` names a passage that is really in the seed it cites.

The heading part of each source (the words after the seed number, without glosses in
brackets) is looked up in the seed's text, with hyphenation, Unicode forms, dashes, quotes,
case and line breaks normalised, so a gloss written as if it were a quote fails. Advice that
is the project's own says so ("Tillidsbot:") instead of crediting a seed. The seeds are
copied into docs/seeds/ so this runs in a fresh clone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache

import pytest
import yaml

from tests.conftest import ROOT

SEEDS = ROOT / "docs" / "seeds"
SEED_PART = re.compile(r"\b(00[0-4]) (.+)")
OWN = re.compile(r"^(Tillidsbot\b)")
# Numbering the bot adds to a heading: "Vigtige spørgsmål 1", "(2)", "1-9", "1-4".
NUMBERING = re.compile(r"(\s+\d+(\s*-\s*\d+)?|\s*\(\d\))$")


def normalise(text: str) -> str:
    """Lower case, NFKC, hyphenation joined, one kind of dash and quote, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(\w)[-\u00ad]\s*\n\s*(\w)", r"\1\2", text)  # tillids-\nkompas
    text = text.replace("\u00ad", "")
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"[\u201c\u201d\u201e\u00ab\u00bb\u2018\u2019\u201a'\"]", "", text)
    text = text.replace("…", " ").replace("'", "")
    text = re.sub(r"[\s\u00a0]+", " ", text)
    return text.strip()


@cache
def seed_text(number: str) -> str:
    """The normalised text of seed NNN from docs/seeds/."""
    [path] = sorted(SEEDS.glob(f"{number}_*.txt"))
    return normalise(path.read_text(encoding="utf-8"))


@cache
def seed_plain(number: str) -> str:
    """The seed's text with its own short brackets dropped ("styring (så) godt" reads both ways)."""
    return re.sub(r" ?\([^)]{1,12}\)", "", seed_text(number))


def in_seed(number: str, phrase: str) -> bool:
    """Whether a phrase occurs in the seed, with or without the seed's short brackets."""
    wanted = normalise(phrase)
    return wanted in seed_text(number) or wanted in seed_plain(number)


def quotes(source: str) -> Iterator[tuple[str, str]]:
    """(seed number, phrase) for every phrase a source puts in quotation marks."""
    for part in source.split(";"):
        match = SEED_PART.search(part)
        if match is not None:
            for phrase in re.findall(r"[“\"«„]([^”\"»“]+)[”\"»“]", part):
                yield match.group(1), phrase


def headings(source: str) -> Iterator[tuple[str, str]]:
    """(seed number, heading phrase) for every seed passage a source names."""
    for part in source.split(";"):
        part = part.strip()
        match = SEED_PART.search(part)
        if match is None:
            continue
        number, rest = match.groups()
        rest = re.sub(r"\([^)]*\)", " ", rest)  # glosses in brackets are the bot's words
        for piece in re.split(r"\s*:\s*|\s+[–—-]\s+|\s*…\s*", rest):
            piece = NUMBERING.sub("", piece.strip()).strip(" ,.")
            if piece:
                yield number, piece


def all_sources() -> Iterator[tuple[str, str]]:
    """(where, source) of every `source:` in dialogues/ and the weekly prompts."""
    def walk(data: object, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(data, dict):
            for key, value in data.items():
                if key == "source" and isinstance(value, str):
                    yield where, value
                else:
                    yield from walk(value, f"{where}.{key}")
        elif isinstance(data, list):
            for index, item in enumerate(data):
                name = item.get("id", index) if isinstance(item, dict) else index
                yield from walk(item, f"{where}[{name}]")

    for path in sorted((ROOT / "dialogues").glob("*.yaml")):
        yield from walk(yaml.safe_load(path.read_text(encoding="utf-8")), path.stem)


def test_the_seeds_are_in_the_repository() -> None:
    assert sorted(p.name[:3] for p in SEEDS.glob("00?_*.txt")) == ["000", "001", "002", "003",
                                                                  "004"]
    assert (SEEDS / "README.md").is_file()


def test_normalise_joins_hyphenation_and_unifies_dashes() -> None:
    assert normalise("Tillids-\nkompasset – “At lede”") == "tillidskompasset - at lede"


def test_a_gloss_written_as_a_quote_is_caught() -> None:
    found = [in_seed(n, h) for n, h in
             headings("004 At balancere tillid og kontrol: aftalte opfølgningspunkter")]
    assert found == [True, False]
    assert [in_seed(n, q) for n, q in quotes('004 Et aktivt valg ("et reflekteret spring")')] == [
        True]
    assert [in_seed(n, q) for n, q in quotes('004 Et aktivt valg ("et modigt spring")')] == [False]


SOURCES = sorted(set(all_sources()))


def test_there_are_many_sources() -> None:
    assert len({s for _, s in SOURCES}) > 60


@pytest.mark.parametrize(("where", "source"), SOURCES, ids=[w for w, _ in SOURCES])
def test_every_source_heading_is_in_its_seed(where: str, source: str) -> None:
    named = list(headings(source))
    own = any(OWN.match(part.strip()) for part in source.split(";"))
    assert named or own, f"{where}: names no seed passage and does not say it is the bot's own"
    missing = [(n, h) for n, h in [*named, *quotes(source)] if not in_seed(n, h)]
    assert not missing, f"{where}: {source!r}: not in the seed: {missing}"
