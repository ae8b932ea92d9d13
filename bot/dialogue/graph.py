"""Mermaid flowcharts and source tables of conversations, for reviews and docs."""

from __future__ import annotations

from collections.abc import Iterable

from bot.dialogue.model import BranchNode, ChoiceNode, Definition, EndNode, Node, SummaryNode
from bot.dialogue.render import pick

SHAPES = {"branch": ("{", "}"), "end": ("([", "])"), "summary": ("[[", "]]"),
          "effect": ("[/", "/]")}
# Words Mermaid's flowchart grammar reads as keywords, so they cannot stand as node ids.
RESERVED = {"end", "subgraph", "graph", "flowchart", "style", "class", "classdef", "click",
            "linkstyle", "call", "href", "interpolate"}


def _id(node_id: str) -> str:
    """A node id Mermaid accepts (the label still shows the real one)."""
    return f"{node_id}_node" if node_id.lower() in RESERVED else node_id


def _quoted(text: str) -> str:
    """Text safe inside a Mermaid "..." label."""
    return text.replace('"', "#quot;")


def _label(node_id: str, node: Node, lang: str) -> str:
    """A short label: node id, kind and the start of its wording."""
    text = getattr(node, "prompt", None) or getattr(node, "text", None) or {}
    words = pick(text, lang) if text else ""
    words = _quoted(" ".join(words.split())[:40])
    return f"{node_id}<br/><i>{node.kind}</i>" + (f"<br/>{words}" if words else "")


def mermaid(definition: Definition, lang: str = "da") -> str:
    """A Mermaid flowchart of one conversation."""
    lines = ["flowchart TD"]
    for node_id, node in definition.nodes.items():
        left, right = SHAPES.get(node.kind, ("[", "]"))
        lines.append(f'    {_id(node_id)}{left}"{_label(node_id, node, lang)}"{right}')
    for node_id, node in definition.nodes.items():
        source = _id(node_id)
        if isinstance(node, ChoiceNode):
            for option in node.options:
                target = _id(option.next or node.next or "")
                label = _quoted(pick(option.label, lang))
                lines.append(f'    {source} -->|"{label}"| {target}')
            continue
        if isinstance(node, BranchNode):
            for case in node.cases:
                lines.append(f'    {source} -->|"{_quoted(case.when)}"| {_id(case.next)}')
            lines.append(f'    {source} -->|"else"| {_id(node.default)}')
            continue
        if not isinstance(node, EndNode) and node.next:
            lines.append(f"    {source} --> {_id(node.next)}")
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
