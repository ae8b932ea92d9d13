"""A leader's words are data, never a template: Jinja2 syntax in answers comes back verbatim in
prompts, summaries, follow-ups and the export, in every conversation and language."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

import tests.explorer as explorer
from bot.dialogue import Dialogues

TODAY = date(2026, 11, 23)
PAYLOAD = "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ config }} {# c #}"
CONVERSATIONS = ("delegation", "repair", "reflection")


@pytest.mark.parametrize("lang", ["da", "nb", "en"])
@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_template_syntax_in_answers_is_shown_verbatim(
        real_dialogues: Dialogues, monkeypatch: pytest.MonkeyPatch, conversation: str,
        lang: str) -> None:
    monkeypatch.setattr(explorer, "SAMPLE_TEXT", PAYLOAD)
    context = {"prompt_title": "x", "prompt_question": "y", "prompt_rating": "z",
               "prompt_id": "p", "prompt_kind": "k"} if conversation == "reflection" else None
    paths = list(itertools.islice(explorer.walk(real_dialogues, conversation, lang, TODAY,
                                                context), 300))
    path = max(paths, key=lambda p: sum(i.endswith("=text") for i in p.inputs))
    said = "\n".join(m.text for m in path.messages)
    assert any(i.endswith("=text") for i in path.inputs)
    assert PAYLOAD in said  # quoted back in the summary as typed
    assert "49" not in said and "looploop" not in said
