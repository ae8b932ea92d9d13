"""What every channel offers the rest of the bot: an Outbox for messages the bot starts itself.

The reference an Outbox gets is the opaque conversation reference the channel stored on the
leader row when the leader last wrote (`leaders.chat_id`; see bot/identity.py): a Telegram chat
id, a Teams conversation reference as JSON. Only the channel that wrote it reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from bot import identity
from bot.dialogue.state import OutMessage


class Outbox(Protocol):
    """Delivers messages the bot initiates (follow-ups, nudges) to a leader's chat."""

    async def deliver(self, reference: str, messages: list[OutMessage]) -> list[str] | None:
        """Send messages to the conversation a stored reference names; raise on failure so
        the caller can retry or record it. The platform's ids of what was sent, if known."""
        ...


class Routes:
    """Every running channel's Outbox, by channel name: a leader's messages go out through
    the channel their leader id names (identity.channel_of)."""

    def __init__(self, outboxes: Mapping[str, Outbox]) -> None:
        """Route to these channels ('telegram', 'console', 'teams' -> its Outbox)."""
        if not outboxes:
            raise ValueError("at least one channel must run")
        self.outboxes = dict(outboxes)

    @property
    def channels(self) -> list[str]:
        """The channels running, in the order given."""
        return list(self.outboxes)

    def prefixes(self) -> list[str]:
        """The leader-id prefixes of the running channels (whose schedules this process sends)."""
        return [identity.prefix(channel) for channel in self.outboxes]

    def for_leader(self, leader_id: str) -> Outbox | None:
        """The Outbox of the leader's channel, or None when that channel is not running."""
        channel = identity.channel_of(leader_id)
        return None if channel is None else self.outboxes.get(channel)

    async def deliver(self, reference: str, messages: list[OutMessage]) -> list[str] | None:
        """An Outbox only while one channel runs (background services that predate routing);
        with several, ask for_leader() which one."""
        if len(self.outboxes) != 1:
            raise ValueError("several channels run: route by leader with for_leader()")
        return await next(iter(self.outboxes.values())).deliver(reference, messages)
