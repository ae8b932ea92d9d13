"""Mermaid flowcharts and source tables of conversations, for reviews and docs."""

from __future__ import annotations

from collections.abc import Iterable

from bot.dialogue.model import BranchNode, ChoiceNode, Definition, EndNode, Node, SummaryNode
from bot.dialogue.render import pick

SHAPES = {"branch": ("{", "}"), "end": ("([", "])"), "summary": ("[[", "]]"),
          "effect": ("[/", "/]")}


def _label(node_id: str, node: Node, lang: str) -> str:
    """A short label: node id, kind and the start of its wording."""
    text = getattr(node, "prompt", None) or getattr(node, "text", None) or {}
    words = pick(text, lang) if text else ""
    words = " ".join(words.split())[:40].replace('"', "'")
    return f"{node_id}<br/><i>{node.kind}</i>" + (f"<br/>{words}" if words else "")


def mermaid(definition: Definition, lang: str = "da") -> str:
    """A Mermaid flowchart of one conversation."""
    lines = ["flowchart TD"]
    for node_id, node in definition.nodes.items():
        left, right = SHAPES.get(node.kind, ("[", "]"))
        lines.append(f'    {node_id}{left}"{_label(node_id, node, lang)}"{right}')
    for node_id, node in definition.nodes.items():
        if isinstance(node, ChoiceNode):
            for option in node.options:
                target = option.next or node.next
                label = pick(option.label, lang).replace('"', "'")
                lines.append(f'    {node_id} -->|"{label}"| {target}')
            continue
        if isinstance(node, BranchNode):
            for case in node.cases:
                lines.append(f'    {node_id} -->|"{case.when}"| {case.next}')
            lines.append(f'    {node_id} -->|"else"| {node.default}')
            continue
        if not isinstance(node, EndNode) and node.next:
            lines.append(f"    {node_id} --> {node.next}")
    return "\n".join(lines) + "\n"


def cell(text: str, limit: int = 110) -> str:
    """One Markdown table cell: a single line, pipes escaped, long wording shortened."""
    line = " ".join(text.split()).replace("|", "\\|")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def sources_table(definitions: Iterable[Definition], lang: str = "da") -> str:
    """A Markdown table of every node that speaks, with the source passage it names."""
    lines = ["| conversation | node | kind | source | wording |", "|---|---|---|---|---|"]
    for definition in definitions:
        for node_id, node in definition.nodes.items():
            if node.source is None:
                continue
            text = getattr(node, "prompt", None) or getattr(node, "text", None) or {}
            words = pick(text, lang) if text else (
                f"(template {node.template})" if isinstance(node, SummaryNode) else "")
            lines.append(f"| {definition.id} | {node_id} | {node.kind} | {cell(node.source)} | "
                         f"{cell(words)} |")
    return "\n".join(lines) + "\n"
