"""Walks every path of a conversation through the pure engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.dialogue import Dialogues
from bot.dialogue.engine import DONE, SKIP, parse_callback
from bot.dialogue.model import (
    ChoiceNode,
    DateNode,
    MultiNode,
    ScaleNode,
    TextNode,
)
from bot.dialogue.state import ButtonInput, DialogueState, Input, OutMessage, TextInput

SAMPLE_TEXT = "AB og jeg aftalte at prøve det af i fire uger"


@dataclass
class Path:
    """One complete walk: the inputs given and everything the engine said and did."""

    inputs: list[str] = field(default_factory=list)
    messages: list[OutMessage] = field(default_factory=list)
    effects: list[Any] = field(default_factory=list)
    status: str = "ok"


def _choices(dialogues: Dialogues, state: DialogueState,
             prompt: OutMessage) -> list[tuple[str, list[Input]]]:
    """Every distinct input worth trying at the current node."""
    node = dialogues.registry.get(state.conversation).nodes[state.node]

    def data(value: str) -> str:
        for row in prompt.buttons:
            for button in row:
                parsed = parse_callback(button.data)
                if parsed and parsed[3] == value:
                    return button.data
        raise AssertionError(f"{state.conversation}.{state.node}: no button {value}")

    options: list[tuple[str, list[Input]]] = []
    if isinstance(node, ChoiceNode):
        options = [(o.value, [ButtonInput(data=data(o.value))]) for o in node.options]
    elif isinstance(node, MultiNode):
        values = [o.value for o in node.options]
        options = [(f"[{v}]", [ButtonInput(data=data(v)), ButtonInput(data=data(DONE))])
                   for v in values]
        options.append(("[all]", [*(ButtonInput(data=data(v)) for v in values),
                                  ButtonInput(data=data(DONE))]))
    elif isinstance(node, TextNode):
        options = [("text", [TextInput(text=SAMPLE_TEXT)])]
    elif isinstance(node, ScaleNode):
        options = [(str(i), [ButtonInput(data=data(str(i)))]) for i in range(1, 6)]
    elif isinstance(node, DateNode):
        options = [(f"+{node.quick_days[0]}d", [ButtonInput(data=data(str(node.quick_days[0])))])]
    if getattr(node, "skippable", False):
        options.append(("skip", [ButtonInput(data=data(SKIP))]))
    return options


def walk(dialogues: Dialogues, conversation: str, lang: str, today: date,
         context: dict[str, Any] | None = None, limit: int = 20000) -> Iterator[Path]:
    """Yield every complete path (depth-first), failing loudly on any engine error."""
    first = dialogues.engine.start(conversation, "explorer01", lang, today, context)
    stack: list[tuple[Path, Any]] = [(Path(messages=list(first.messages),
                                           effects=list(first.effects)), first)]
    count = 0
    while stack:
        path, result = stack.pop()
        if result.state is None:
            path.status = result.status
            count += 1
            if count > limit:
                raise AssertionError(f"{conversation}: more than {limit} paths")
            yield path
            continue
        prompt = [m for m in result.messages if m.kind == "prompt"][-1]
        for label, inputs in _choices(dialogues, result.state, prompt):
            state = result.state
            step = result
            messages = list(path.messages)
            effects = list(path.effects)
            for event in inputs:
                step = dialogues.engine.step(state, event, lang, today)
                assert step.status != "rejected", (conversation, state.node, label,
                                                   step.messages)
                messages.extend(step.messages)
                effects.extend(step.effects)
                state = step.state
            stack.append((Path([*path.inputs, f"{result.state.node}={label}"], messages,
                               effects), step))
