"""Channel-qualified identities: the one place that knows what a leader id looks like.

A leader id is ``<prefix><raw id>``: the channel's prefix, then the id the platform gives the
person (kept as text; it need not be a number). Telegram keeps the prefix ``tg:`` its stored
rows already use; every other channel's prefix is its name and a colon (``console:local``,
``teams:29:1a…``). Nothing outside this module builds or splits a leader id by hand.

A *conversation reference* is different: an opaque text the channel stores on the leader row
(``leaders.chat_id``) to message that person later on its own (a Telegram chat id; for Teams a
JSON conversation reference). Only the channel that wrote it reads it.
"""

from __future__ import annotations

TELEGRAM = "telegram"
CONSOLE = "console"
TEAMS = "teams"

# Channel -> the prefix of its leader ids. Telegram's is short for the rows stored before.
PREFIXES: dict[str, str] = {TELEGRAM: "tg:", CONSOLE: "console:", TEAMS: "teams:"}


def prefix(channel: str) -> str:
    """The leader-id prefix of a channel ('tg:' for Telegram, '<name>:' for any other)."""
    return PREFIXES.get(channel, f"{channel}:")


def leader_id(channel: str, raw_id: str | int) -> str:
    """The leader id of the person a channel knows as raw_id: leader_id('telegram', 7) == 'tg:7'."""
    raw = str(raw_id)
    if not raw:
        raise ValueError("a platform id cannot be empty")
    return f"{prefix(channel)}{raw}"


def split(leader: str) -> tuple[str, str]:
    """(channel, raw id) of a leader id; ValueError when no known channel's prefix fits."""
    for channel, start in PREFIXES.items():
        if leader.startswith(start) and len(leader) > len(start):
            return channel, leader[len(start):]
    channel, sep, raw = leader.partition(":")
    if not sep or not channel or not raw:
        raise ValueError("not a channel-qualified leader id")
    return channel, raw


def channel_of(leader: str) -> str | None:
    """The channel of a leader id, or None for a malformed one."""
    try:
        return split(leader)[0]
    except ValueError:
        return None


def raw_id(leader: str) -> str | None:
    """The platform's own id inside a leader id, or None for a malformed one."""
    try:
        return split(leader)[1]
    except ValueError:
        return None


def resolve(user: str, channel: str = TELEGRAM) -> str:
    """An operator-typed id: a full leader id as it is, a bare id as one of `channel`'s."""
    return user if ":" in user else leader_id(channel, user)
