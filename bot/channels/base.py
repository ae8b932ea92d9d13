"""What every channel offers the rest of the bot."""

from __future__ import annotations

from typing import Protocol

from bot.dialogue.state import OutMessage


class Outbox(Protocol):
    """Delivers messages the bot initiates (follow-ups, nudges) to a leader's chat."""

    async def deliver(self, chat_id: str, messages: list[OutMessage]) -> None:
        """Send messages to a chat; raise on failure so the caller can retry or record it."""
        ...
