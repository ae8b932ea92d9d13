"""Fewer messages per step: a conversation's lead-in text rides on the question after it.

A leader sees one message where one will do: the opening of a conversation (its message
nodes) and its first question, a nudge with its snooze buttons and the reflection it opens,
and (`merge`, applied by the inbound pipeline to every reply, so each channel benefits) the
interface's plain notes (a welcome, a confirmation, a history header) on top of the message
after them. Each message costs a Bot API call and, under Telegram's per-chat limits, time.
Summaries, errors, files and the edit of a toggled prompt stay messages of their own.
"""

from __future__ import annotations

from bot.dialogue.state import OutMessage

MAX_TEXT = 4096  # one Telegram message, in UTF-16 code units
JOIN = "\n\n"


def units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _can_lead(message: OutMessage) -> bool:
    """A conversation's plain message-node text, which can go on top of its next question."""
    return (message.kind == "info" and message.node is not None and not message.buttons
            and not message.attachments and not message.replace and bool(message.text.strip()))


def _prefixed(lead: str, message: OutMessage) -> OutMessage:
    """The message with a lead-in text above its own."""
    return message.model_copy(update={"text": f"{lead}{JOIN}{message.text}"})


def coalesce(messages: list[OutMessage], limit: int = MAX_TEXT) -> list[OutMessage]:
    """Join each run of lead-in texts onto the message after it when the result fits."""
    out: list[OutMessage] = []
    pending: list[OutMessage] = []
    for message in messages:
        if _can_lead(message):
            pending.append(message)
            continue
        lead = JOIN.join(m.text for m in pending)
        if (pending and message.kind == "prompt" and message.node is not None
                and not message.attachments
                and not message.replace and units(f"{lead}{JOIN}{message.text}") <= limit):
            out.append(_prefixed(lead, message))
        else:
            out.extend(pending)
            out.append(message)
        pending = []
    out.extend(pending)
    return out


def _is_note(message: OutMessage) -> bool:
    """Plain text of the interface or a conversation, which can go on top of what follows."""
    return (message.kind == "info" and not message.buttons and not message.attachments
            and not message.replace and bool(message.text.strip()))


def _can_carry(message: OutMessage) -> bool:
    """A message that can take notes on top of its own text (a question, the menu, a note)."""
    return message.kind in ("prompt", "info") and not message.attachments and not message.replace


def merge(messages: list[OutMessage], limit: int = MAX_TEXT) -> list[OutMessage]:
    """Each run of plain notes joined together and onto the message after them, as long as
    the text fits one message; what follows keeps its own kind, buttons, node and step."""
    out: list[OutMessage] = []
    for message in coalesce(messages, limit):
        last = out[-1] if out else None
        if (last is not None and _is_note(last) and _can_carry(message)
                and units(f"{last.text}{JOIN}{message.text}") <= limit):
            out[-1] = _prefixed(last.text, message)
        else:
            out.append(message)
    return out


def with_header(header: OutMessage, messages: list[OutMessage],
                limit: int = MAX_TEXT) -> list[OutMessage]:
    """A header with buttons (a nudge's snooze options) and what follows as one message: the
    header's text on top, the question's buttons first, then the header's."""
    joined = coalesce(messages, limit)
    if len(joined) != 1 or joined[0].attachments or joined[0].replace:
        return [header, *joined]
    body = joined[0]
    text = f"{header.text}{JOIN}{body.text}"
    if units(text) > limit:
        return [header, *joined]
    return [body.model_copy(update={"text": text, "buttons": [*body.buttons, *header.buttons]})]
