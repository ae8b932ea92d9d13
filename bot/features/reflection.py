"""Weekly reflection: a per-leader rotation of prompts kept as data in dialogues/.

Whoever starts the `reflection` conversation (the /reflect command, the menu or the weekly
nudge) gets the leader's next prompt from the context provider registered here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import aiosqlite
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.dialogue.loader import PLACEHOLDERS, DialogueValidationError
from bot.store import repo
from bot.store.reflections import record_prompt, shown_prompts  # noqa: F401 - re-exported

# libyaml's safe loader when PyYAML has it: the same documents, several times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

if TYPE_CHECKING:
    from bot.service import BotService

CONVERSATION = "reflection"
PROMPTS_FILE = "_reflection_prompts.yaml"


class ReflectionPrompt(BaseModel):
    """One weekly prompt: a lever, a compass area or a misunderstanding, in every language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    kind: Literal["lever", "compass", "misunderstanding", "perspective"]
    source: str = Field(min_length=3)
    title: dict[str, str]
    question: dict[str, str]
    rating: dict[str, str]

    def context(self) -> dict[str, Any]:
        """What the reflection conversation is started with (all languages, so /language works)."""
        return {"prompt_id": self.id, "source": self.source, "title": dict(self.title),
                "question": dict(self.question), "rating": dict(self.rating)}


def load_prompts(path: Path, languages: Sequence[str]) -> list[ReflectionPrompt]:
    """Read the prompts in rotation order; raise DialogueValidationError on any problem."""
    name = path.name
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DialogueValidationError([f"{name}: cannot read: {exc}"]) from None
    items = raw.get("prompts") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise DialogueValidationError([f"{name}: expected a non-empty list under 'prompts'"])
    problems: list[str] = []
    prompts: list[ReflectionPrompt] = []
    for index, item in enumerate(items):
        try:
            prompts.append(ReflectionPrompt.model_validate(item))
        except ValidationError as exc:
            problems.extend(f"{name}: prompt {index + 1}: {'.'.join(map(str, e['loc']))}: "
                            f"{e['msg']}" for e in exc.errors())
    seen: set[str] = set()
    for prompt in prompts:
        if prompt.id in seen:
            problems.append(f"{name}: prompt {prompt.id}: id used twice")
        seen.add(prompt.id)
        for field in ("title", "question", "rating"):
            text: dict[str, str] = getattr(prompt, field)
            for lang in languages:
                value = str(text.get(lang, "")).strip()
                if not value:
                    problems.append(f"{name}: prompt {prompt.id}: {field}: missing wording for "
                                    f"{lang!r}")
                elif any(m in value or m.lower() in value.lower().split() for m in PLACEHOLDERS):
                    problems.append(f"{name}: prompt {prompt.id}: {field} ({lang}): contains "
                                    "placeholder text")
                elif "{" in value:
                    problems.append(f"{name}: prompt {prompt.id}: {field} ({lang}): braces are "
                                    "not allowed in prompt wording")
    if problems:
        raise DialogueValidationError(problems)
    return prompts


def next_prompt(order: Sequence[str], shown: Sequence[str]) -> str:
    """The next prompt id: the rotation continues after the last one shown, skipping any
    already shown in the current cycle; a cycle ends once every current prompt was shown."""
    if not order:
        raise ValueError("no reflection prompts")
    current = set(order)
    in_cycle: set[str] = set()
    last: str | None = None
    for prompt_id in shown:
        if prompt_id not in current:  # a prompt since retired from the rotation
            continue
        in_cycle.add(prompt_id)
        last = prompt_id
        if in_cycle == current:
            in_cycle = set()
    start = order.index(last) + 1 if last is not None else 0
    for offset in range(len(order)):
        candidate = order[(start + offset) % len(order)]
        if candidate not in in_cycle:
            return candidate
    raise AssertionError("unreachable: a cycle is reset once complete")


def register(service: BotService, prompts: Sequence[ReflectionPrompt]) -> None:
    """Give every start of the reflection conversation the leader's next prompt."""
    by_id = {p.id: p for p in prompts}
    order = [p.id for p in prompts]

    async def provider(tx: aiosqlite.Connection, leader: repo.Leader) -> dict[str, Any]:
        """Pick and record the next prompt inside the transaction that starts the thread."""
        chosen = next_prompt(order, await shown_prompts(tx, leader.leader_id))
        await record_prompt(tx, leader.leader_id, chosen, service.now())
        return by_id[chosen].context()

    service.register_context(CONVERSATION, provider)


def prompts_table(prompts: Sequence[ReflectionPrompt], lang: str = "da") -> str:
    """A Markdown table of the rotation: order, id, kind, source and the wording."""
    from bot.dialogue.graph import cell

    lines = ["| # | prompt | kind | source | title | rating |", "|---|---|---|---|---|---|"]
    for number, p in enumerate(prompts, start=1):
        lines.append(f"| {number} | {p.id} | {p.kind} | {cell(p.source)} | "
                     f"{cell(p.title.get(lang, ''))} | {cell(p.rating.get(lang, ''))} |")
    return "\n".join(lines) + "\n"
