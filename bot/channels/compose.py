"""Fewer messages per step: a conversation's lead-in text rides on the question after it.

A leader sees one message where one will do: the opening of a conversation (its message
nodes) and its first question, a nudge with its snooze buttons and the reflection it opens.
Each message costs a Bot API call and, under Telegram's per-chat limits, time. Summaries and
the interface's own messages (welcome, confirmations, errors) stay messages of their own.
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
