"""A tiny conversation driver over the pure engine, for readable tests."""

from __future__ import annotations

from datetime import date

from bot.dialogue import Dialogues
from bot.dialogue.engine import parse_callback
from bot.dialogue.state import (
    Back,
    ButtonInput,
    Cancel,
    DialogueState,
    Input,
    OutMessage,
    StepResult,
    TextInput,
)


class EngineDriver:
    """Holds one state and the last messages, like a leader's phone would."""

    def __init__(self, dialogues: Dialogues, conversation: str, today: date,
                 lang: str = "da", context: dict | None = None) -> None:
        """Start the conversation."""
        self.d = dialogues
        self.lang = lang
        self.today = today
        self.result = dialogues.engine.start(conversation, "thread0001", lang, today, context)
        self.state: DialogueState | None = self.result.state
        self.effects = list(self.result.effects)
        self.messages: list[OutMessage] = list(self.result.messages)

    @property
    def prompt(self) -> OutMessage:
        """The last question asked."""
        return [m for m in self.messages if m.kind == "prompt"][-1]

    def button(self, value: str) -> str:
        """Callback data of the last prompt's button with this value."""
        for row in self.prompt.buttons:
            for button in row:
                parsed = parse_callback(button.data)
                if parsed and parsed[3] == value:
                    return button.data
        raise AssertionError(f"no button {value!r} in {self.prompt}")

    def send(self, event: Input) -> StepResult:
        """Apply one input and keep the new state unless it was rejected."""
        assert self.state is not None, "conversation already over"
        result = self.d.engine.step(self.state, event, self.lang, self.today)
        self.result = result
        self.messages.extend(result.messages)
        if result.status != "rejected":
            self.state = result.state
            self.effects.extend(result.effects)
        return result

    def text(self, text: str) -> StepResult:
        """Type text."""
        return self.send(TextInput(text=text))

    def press(self, value: str) -> StepResult:
        """Press the button with this value."""
        return self.send(ButtonInput(data=self.button(value)))

    def back(self) -> StepResult:
        """/back."""
        return self.send(Back())

    def cancel(self) -> StepResult:
        """/cancel."""
        return self.send(Cancel())
