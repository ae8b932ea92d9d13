"""Mermaid flowcharts of conversations, for reviews and docs."""

from __future__ import annotations

from bot.dialogue.model import BranchNode, ChoiceNode, Definition, EndNode, Node
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
