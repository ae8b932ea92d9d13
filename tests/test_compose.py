"""One message where one will do: what `compose.merge` joins and what it keeps apart."""

from __future__ import annotations

from bot.channels.compose import JOIN, merge
from bot.dialogue.state import Attachment, Button, OutMessage

BUTTONS = [[Button(label="Ja", data="x:1"), Button(label="Nej", data="x:0")]]


def note(text: str) -> OutMessage:
    """A plain interface note (a welcome, a confirmation)."""
    return OutMessage(text=text)


def question(text: str, **fields: object) -> OutMessage:
    """A question with buttons, at a node and step."""
    return OutMessage(text=text, kind="prompt", buttons=BUTTONS, node="q1", step=3,
                      expects="buttons", **fields)  # type: ignore[arg-type]


def test_notes_ride_on_the_question_after_them_which_keeps_its_own_fields() -> None:
    [one] = merge([note("Velkommen"), note("Sproget er dansk"), question("Hvilken tidszone?")])
    assert one.text == JOIN.join(["Velkommen", "Sproget er dansk", "Hvilken tidszone?"])
    assert (one.kind, one.buttons, one.node, one.step, one.expects) == (
        "prompt", BUTTONS, "q1", 3, "buttons")


def test_notes_alone_become_one_message_and_a_note_goes_on_a_message_with_buttons() -> None:
    assert [m.text for m in merge([note("a"), note("b")])] == [JOIN.join(["a", "b"])]
    listing = OutMessage(text="Dine samtaler", buttons=BUTTONS)  # an info with buttons
    [one] = merge([note("Overskrift"), listing])
    assert one.text == JOIN.join(["Overskrift", "Dine samtaler"]) and one.buttons == BUTTONS


def test_errors_summaries_files_toggles_and_buttoned_messages_stay_apart() -> None:
    error = OutMessage(text="Ukendt kommando", kind="error", key="unknown")
    summary = OutMessage(text="Opsummering", kind="summary")
    photo = OutMessage(text="Graf", attachments=[Attachment(kind="photo", filename="a.png",
                                                             data=b"png")])
    toggled = question("Vælg flere", replace=True)
    cases = [
        [error, question("Q")],  # an error is its own message
        [note("n"), error],  # nothing rides on an error
        [note("n"), summary],  # nor on a summary
        [summary, question("Q")],  # a summary stays a message of its own
        [note("n"), photo],  # a file's caption is short and separate
        [note("n"), toggled],  # the edit of a toggled prompt stays an edit
        [question("Q1"), question("Q2")],  # two sets of buttons stay two messages
    ]
    for messages in cases:
        assert merge(messages) == messages, messages


def test_what_would_not_fit_one_message_is_not_joined() -> None:
    long = note("x" * 4000)
    assert merge([long, question("y" * 200)]) == [long, question("y" * 200)]
    # Telegram counts UTF-16 code units: 2000 emoji are 4000 units.
    emoji = note("🙂" * 2000)
    assert len(merge([emoji, question("z" * 100)])) == 2
