"""Typed models of a dialogue definition as written in dialogues/*.yaml."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Wording per language code: {"da": "...", "nb": "...", "en": "..."}.
Text = dict[str, str]

# Telegram allows 1-64 bytes of callback data; the engine's own prefix is budgeted here.
CALLBACK_DATA_LIMIT = 64


class _Strict(BaseModel):
    """Base model that rejects unknown keys so typos in YAML are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    """One button of a choice node."""

    value: str = Field(min_length=1)
    label: Text
    next: str | None = None

    @field_validator("value")
    @classmethod
    def _no_separator(cls, value: str) -> str:
        """Reject values containing the callback separator."""
        if ":" in value:
            raise ValueError("option values may not contain ':'")
        return value


class _NodeBase(_Strict):
    """Fields every node may carry."""

    source: str | None = None
    next: str | None = None


class MessageNode(_NodeBase):
    """Says something and moves on without waiting for input."""

    kind: Literal["message"]
    text: Text


class ChoiceNode(_NodeBase):
    """Single choice: one button press answers it."""

    kind: Literal["choice"]
    prompt: Text
    store: str
    options: list[Option] = Field(min_length=1)


class MultiNode(_NodeBase):
    """Multiple choice: buttons toggle, a done button confirms."""

    kind: Literal["multi"]
    prompt: Text
    store: str
    options: list[Option] = Field(min_length=1)
    min_selected: int = 1


class TextNode(_NodeBase):
    """Free text answer in the leader's own words."""

    kind: Literal["text"]
    prompt: Text
    store: str
    max_length: int = Field(default=1500, ge=1, le=4000)
    skippable: bool = False


class ScaleNode(_NodeBase):
    """A 1-5 rating answered with buttons (or the digit typed)."""

    kind: Literal["scale"]
    prompt: Text
    store: str
    low: Text
    high: Text
    skippable: bool = False


class DateNode(_NodeBase):
    """A date: quick buttons in days from today, or a typed date."""

    kind: Literal["date"]
    prompt: Text
    store: str
    quick_days: list[int] = Field(default_factory=lambda: [7, 14, 30])
    quick_labels: dict[str, Text] = Field(default_factory=dict)
    max_days: int = 366


class Case(_Strict):
    """One branch of a conditional jump: a Jinja2 expression over answers."""

    when: str
    next: str
    set: dict[str, Any] = Field(default_factory=dict)


class BranchNode(_NodeBase):
    """Conditional jump on collected answers; may also set derived values."""

    kind: Literal["branch"]
    cases: list[Case] = Field(min_length=1)
    default: str
    set: dict[str, Any] = Field(default_factory=dict)


class SummaryNode(_NodeBase):
    """Renders a Jinja2 template from templates/<lang>/ and records it."""

    kind: Literal["summary"]
    template: str
    headline: str | None = None


class EffectNode(_NodeBase):
    """Asks the app to do something, such as schedule a follow-up."""

    kind: Literal["effect"]
    effect: Literal["schedule_followup", "cancel_followups"]
    conversation: str | None = None
    days: int | None = Field(default=None, ge=0, le=400)
    date_from: str | None = None
    offset_days: int = 0
    tag: str | None = None


class EndNode(_Strict):
    """Finishes the conversation, optionally with a last word."""

    kind: Literal["end"]
    source: str | None = None
    text: Text | None = None
    next: None = None
    start_conversation: str | None = None


Node = Annotated[
    MessageNode
    | ChoiceNode
    | MultiNode
    | TextNode
    | ScaleNode
    | DateNode
    | BranchNode
    | SummaryNode
    | EffectNode
    | EndNode,
    Field(discriminator="kind"),
]

INPUT_KINDS = ("choice", "multi", "text", "scale", "date")


class Definition(_Strict):
    """A whole conversation: metadata plus its nodes."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")
    version: int = Field(ge=1)
    title: Text
    description: Text | None = None
    menu: bool = True
    command: str | None = Field(default=None, pattern=r"^[a-z]{1,32}$")
    start: str
    context: list[str] = Field(default_factory=list)
    nodes: dict[str, Node]
    file: str = ""

    def node(self, node_id: str) -> Node:
        """Return a node by id (KeyError if absent)."""
        return self.nodes[node_id]


def successors(node: Node) -> list[str]:
    """Every node id a node can jump to."""
    found: list[str] = []
    if node.next is not None:
        found.append(node.next)
    if isinstance(node, ChoiceNode | MultiNode):
        found.extend(o.next for o in node.options if o.next is not None)
    if isinstance(node, BranchNode):
        found.extend(c.next for c in node.cases)
        found.append(node.default)
    return found


def texts_of(node: Node) -> list[tuple[str, Text]]:
    """Every piece of wording in a node, labelled for error messages."""
    out: list[tuple[str, Text]] = []
    for field in ("text", "prompt", "low", "high"):
        value = getattr(node, field, None)
        if isinstance(value, dict):
            out.append((field, value))
    if isinstance(node, ChoiceNode | MultiNode):
        out.extend((f"option {o.value}", o.label) for o in node.options)
    if isinstance(node, DateNode):
        out.extend((f"quick label {k}", v) for k, v in node.quick_labels.items())
    return out
