"""The engine's value types: state, inputs, outgoing messages and effects."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict


class TrailEntry(BaseModel):
    """An answered input node and the answer keys set from it until the next question."""

    node: str
    keys: list[str] = Field(default_factory=list)
    # Values those keys held before (a branch may overwrite one), put back by /back.
    restore: dict[str, Any] = Field(default_factory=dict)


class DialogueState(BaseModel):
    """Where one leader is in one conversation; small and JSON-serialisable."""

    model_config = ConfigDict(extra="ignore")

    conversation: str
    version: int
    thread: str
    node: str
    step: int = 0
    answers: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    trail: list[TrailEntry] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list)

    def to_json(self) -> str:
        """Serialise for storage."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str) -> DialogueState:
        """Parse stored state."""
        return cls.model_validate_json(raw)


class TextInput(BaseModel):
    """Free text typed by the leader."""

    kind: Literal["text"] = "text"
    text: str
    # The step of the question the leader saw, when the channel knows it (the terminal chat):
    # text meant for an earlier question is refused instead of filed under the current one.
    step: int | None = None


class ButtonInput(BaseModel):
    """A pressed button, carrying the callback data the engine put on it."""

    kind: Literal["button"] = "button"
    data: str


class Back(BaseModel):
    """Go back one question."""

    kind: Literal["back"] = "back"


class Cancel(BaseModel):
    """Leave the conversation."""

    kind: Literal["cancel"] = "cancel"


Input = TextInput | ButtonInput | Back | Cancel


class Button(BaseModel):
    """A button: what it says and the data it sends back."""

    label: str
    data: str


MessageKind = Literal["prompt", "info", "summary", "error"]


class Attachment(BaseModel):
    """A file to send along (a chart as a photo, an export as a document)."""

    kind: Literal["photo", "document"]
    filename: str
    data: bytes
    caption: str | None = None


class OutMessage(BaseModel):
    """Something to show the leader; channels decide how to draw it."""

    text: str
    kind: MessageKind = "info"
    buttons: list[list[Button]] = Field(default_factory=list)
    replace: bool = False  # edit the previous prompt in place (multi-choice toggles)
    node: str | None = None
    expects: Literal["text", "buttons", "scale", "date", "multi"] | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    key: str | None = None  # the interface wording key of an error, e.g. "stale_button"
    step: int | None = None  # a question's step in its conversation (see TextInput.step)


# ---- effects: work the app must do in the same transaction as the new state --------------
# One model per kind, told apart by `kind`; `params` stays a mapping (a TypedDict) so callers
# read `effect.params["thread"]` as before, now type-checked per kind.


class AnswerParams(TypedDict):
    """An answer to store."""

    thread: str
    conversation: str
    node: str
    name: str
    value: Any
    skipped: bool


class SummaryParams(TypedDict):
    """A thread's summary to store."""

    thread: str
    conversation: str
    text: str
    headline: str
    template: str


class FollowupParams(TypedDict):
    """A follow-up conversation to schedule on a local date."""

    thread: str
    from_conversation: str
    conversation: str | None  # typed as the effect node's field
    date: str  # ISO date
    tag: str | None
    context: dict[str, Any]


class CancelFollowupsParams(TypedDict):
    """Pending follow-ups of a thread to cancel (all, or those with the tag)."""

    thread: str
    tag: str | None


class FinishedParams(TypedDict):
    """A thread that ended normally."""

    thread: str
    conversation: str
    answers: dict[str, Any]


class CancelledParams(TypedDict):
    """A thread the leader cancelled."""

    thread: str


class StartParams(TypedDict):
    """A conversation to start straight after this one."""

    conversation: str
    parent_thread: str
    context: dict[str, Any]


class AnswerEffect(BaseModel):
    """Store an answer."""

    kind: Literal["answer"] = "answer"
    params: AnswerParams


class SummaryEffect(BaseModel):
    """Store a summary."""

    kind: Literal["summary"] = "summary"
    params: SummaryParams


class ScheduleFollowupEffect(BaseModel):
    """Schedule a follow-up."""

    kind: Literal["schedule_followup"] = "schedule_followup"
    params: FollowupParams


class CancelFollowupsEffect(BaseModel):
    """Cancel follow-ups."""

    kind: Literal["cancel_followups"] = "cancel_followups"
    params: CancelFollowupsParams


class FinishedEffect(BaseModel):
    """End a thread as finished."""

    kind: Literal["finished"] = "finished"
    params: FinishedParams


class CancelledEffect(BaseModel):
    """End a thread as cancelled."""

    kind: Literal["cancelled"] = "cancelled"
    params: CancelledParams


class StartConversationEffect(BaseModel):
    """Start another conversation."""

    kind: Literal["start_conversation"] = "start_conversation"
    params: StartParams


Effect = Annotated[
    AnswerEffect | SummaryEffect | ScheduleFollowupEffect | CancelFollowupsEffect
    | FinishedEffect | CancelledEffect | StartConversationEffect,
    Field(discriminator="kind"),
]


Status = Literal["ok", "rejected", "finished", "cancelled"]


class StepResult(BaseModel):
    """What one engine step produced."""

    state: DialogueState | None
    messages: list[OutMessage] = Field(default_factory=list)
    effects: list[Effect] = Field(default_factory=list)
    status: Status = "ok"
