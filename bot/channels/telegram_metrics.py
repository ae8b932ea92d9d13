"""Telegram's part of bot/metrics.py: every Bot API HTTP call counted at PTB's request layer
(so retries by the rate limiter are counted as the calls they are), and the kind of an update."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.error import NetworkError, TimedOut

from bot import metrics
from bot.channels.telegram_request import AiohttpRequest

CHANNEL = "telegram"


class MetricsRequest(AiohttpRequest):
    """The Bot API request (on aiohttp, see bot/channels/telegram_request.py) that records
    each call's method and status (never its URL, which holds the token, nor its parameters,
    which hold chat ids and text)."""

    async def do_request(self, url: str, method: str, *args: Any,
                         **kwargs: Any) -> tuple[int, bytes]:
        """Make the call; count it by Bot API method and status class."""
        endpoint = url.rsplit("/", 1)[-1]
        try:
            code, payload = await super().do_request(url, method, *args, **kwargs)
        except TimedOut:
            metrics.api_call(CHANNEL, endpoint, "timeout")
            raise
        except NetworkError:
            metrics.api_call(CHANNEL, endpoint, "network_error")
            raise
        metrics.api_call(CHANNEL, endpoint, code)
        return code, payload


def requests() -> dict[str, MetricsRequest]:
    """The builder's two requests, sized as PTB's defaults (256 connections; 1 for polling)."""
    return {"request": MetricsRequest(connection_pool_size=256),
            "get_updates_request": MetricsRequest(connection_pool_size=1)}


def update_kind(update: object) -> str:
    """What an update is, in the metrics' fixed vocabulary."""
    if not isinstance(update, Update):
        return "other"
    chat = update.effective_chat
    if chat is not None and chat.type != "private":
        return "group"
    if update.callback_query is not None:
        return "button"
    if update.edited_message is not None:
        return "edit"
    if update.my_chat_member is not None or update.chat_member is not None:
        return "membership"
    if update.message is not None:
        text = update.message.text or ""
        return "command" if text.startswith("/") else "message"
    return "other"
