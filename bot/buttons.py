"""Every press of a button outside a conversation counts once (issue 17).

Conversation buttons carry their thread and step (bot/dialogue/engine.py), so the engine knows
an old one. The other buttons a leader gets (onboarding, the menu, settings, history, forget)
are guarded here instead: the pipeline stamps each with the leader's current token
(`<data>~<token>`) before the reply is committed, and a press is taken only when its token is
the current one; taking it draws a new token in the same transaction as the press's effect.
So a double tap, a press on an older message and a forged or another leader's button change
nothing and are answered "this question is closed". Features whose buttons carry their own
proof (snooze: the schedule row) register them unguarded.
"""

from __future__ import annotations

import hmac
import secrets

import aiosqlite

from bot.dialogue.state import Button, OutMessage
from bot.service import MENU_PREFIX, BotService
from bot.store import buttons as tokens

SEP = "~"  # never in a feature's own button data (prefixes, numbers, zone names, ids)
TOKEN_BYTES = 4  # 6 URL-safe characters: Telegram allows 64 bytes of callback data


def guarded(service: BotService, data: str) -> bool:
    """Whether a button's data is one the pipeline stamps and checks."""
    if data.startswith(MENU_PREFIX):
        return True
    prefix = data.partition(":")[0]
    return prefix in service.button_handlers and prefix not in service.unguarded


def _new_token() -> str:
    """A fresh random token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


async def take(tx: aiosqlite.Connection, leader_id: str, data: str) -> str | None:
    """The pressed data without its token when the token is the leader's current one (and a
    new token drawn, in the caller's transaction); None for a press that must change nothing."""
    payload, sep, token = data.rpartition(SEP)
    if not sep:
        return None
    current = await tokens.current(tx, leader_id)
    if current is None or not hmac.compare_digest(token.encode(), current.encode()):
        return None
    await tokens.put(tx, leader_id, _new_token())
    return payload


async def stamp(tx: aiosqlite.Connection, service: BotService, leader_id: str,
                messages: list[OutMessage]) -> list[OutMessage]:
    """The messages with the leader's current token on every guarded button."""
    if not any(guarded(service, b.data) for m in messages for row in m.buttons for b in row):
        return messages
    token = await tokens.current(tx, leader_id)
    if token is None:
        token = _new_token()
        if not await tokens.put(tx, leader_id, token):
            return messages  # no leader (forgotten in this step): nothing to guard

    def marked(button: Button) -> Button:
        if not guarded(service, button.data):
            return button
        return button.model_copy(update={"data": f"{button.data}{SEP}{token}"})

    return [m.model_copy(update={"buttons": [[marked(b) for b in row] for row in m.buttons]})
            if m.buttons else m for m in messages]
