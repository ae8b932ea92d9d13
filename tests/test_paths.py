"""The path explorer: every path of every conversation completes with a rendered summary."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from bot.dialogue import Dialogues
from bot.features import reflection
from tests.conftest import ROOT, TODAY
from tests.explorer import SAMPLE_TEXT, walk

PLACEHOLDER = re.compile(r"\b(TODO|FIXME|lorem|xxx|TBD)\b|\{\{|\}\}|\{%|%\}", re.IGNORECASE)
CONTEXT = {"task": "Planlægning af personalemødet"}


def conversations() -> list[str]:
    """Every conversation id in dialogues/."""
    import yaml

    ids = []
    for path in sorted((ROOT / "dialogues").glob("*.yaml")):
        if not path.name.startswith("_"):
            ids.append(yaml.safe_load(path.read_text(encoding="utf-8"))["id"])
    return ids


def contexts(conversation: str, languages: tuple[str, ...]) -> list[dict[str, Any]]:
    """Starting contexts to explore: every weekly prompt for the reflection, else one."""
    if conversation == reflection.CONVERSATION:
        prompts = reflection.load_prompts(ROOT / "dialogues" / reflection.PROMPTS_FILE,
                                          languages)
        return [CONTEXT, *(p.context() for p in prompts)]
    return [CONTEXT]


@pytest.mark.parametrize("conversation", conversations())
def test_every_path_completes(real_dialogues: Dialogues, conversation: str) -> None:
    definition = real_dialogues.registry.get(conversation)
    for lang, context in itertools.product(
            real_dialogues.languages, contexts(conversation, real_dialogues.languages)):
        paths = list(walk(real_dialogues, conversation, lang, TODAY, context))
        assert paths, conversation
        for path in paths:
            assert path.status == "finished", path.inputs
            has_summary_node = any(n.kind == "summary" for n in definition.nodes.values())
            summaries = [m for m in path.messages if m.kind == "summary"]
            chains = any(e.kind == "start_conversation" for e in path.effects)
            # Moving a planned talk to a new date has nothing to summarise yet.
            reschedules = any(e.kind == "schedule_followup"
                              and e.params["conversation"] == conversation for e in path.effects)
            if has_summary_node and not chains and not reschedules:
                assert summaries, (conversation, lang, path.inputs)
            for message in path.messages:
                assert message.text.strip(), (conversation, path.inputs)
                assert not PLACEHOLDER.search(message.text), (conversation, lang,
                                                              message.text)
            for summary in summaries:
                assert "None" not in summary.text, (conversation, path.inputs, summary.text)
            # Summaries quote the leader: whatever was typed comes back in their own words.
            if summaries and any(step.endswith("=text") for step in path.inputs):
                assert any(SAMPLE_TEXT in m.text for m in summaries), (conversation, lang,
                                                                       path.inputs)


def test_delegation_summary_quotes_the_leader(real_dialogues: Dialogues) -> None:
    for path in walk(real_dialogues, "delegation", "da", TODAY):
        summary = next(m for m in path.messages if m.kind == "summary")
        assert "AB og jeg aftalte at prøve det af i fire uger" in summary.text
        schedule = [e for e in path.effects if e.kind == "schedule_followup"]
        assert len(schedule) == 1 and schedule[0].params["conversation"] == "delegation_followup"
