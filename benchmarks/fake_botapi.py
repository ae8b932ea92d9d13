"""A lean fake Telegram Bot API on 127.0.0.1 for benchmarks: raw asyncio HTTP/1.1, keep-alive.

Fast enough not to be the bottleneck (no framework, no per-request logging), and enough of the
API for a polling bot: getMe, getUpdates (long poll), sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, sendChatAction, sendPhoto, sendDocument and the
set-up calls. Several tokens share one server; each token has its own update queue and call log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

CHAT_ID = re.compile(rb'name="chat_id"\r\n\r\n(-?\d+)')


@dataclass
class Call:
    """One Bot API request as the server saw it."""

    method: str
    chat_id: int | None
    at: float
    params: dict[str, Any]


@dataclass
class Bot:
    """One token's state: its updates waiting to be fetched and the calls it made."""

    token: str
    bot_id: int
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update: int = 1
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[Call] = field(default_factory=list)
    first_get_updates: float | None = None
    # chat -> message_id -> the message as the bot last left it (for callback queries)
    messages: defaultdict[int, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict))
    next_message: int = 1
    on_call: Callable[[Call], None] | None = None


class FakeBotApi:
    """The server; `bots` by token."""

    def __init__(self) -> None:
        """No server yet; call start()."""
        self.bots: dict[str, Bot] = {}
        self.server: asyncio.Server | None = None
        self.port = 0

    def add_bot(self, token: str, bot_id: int) -> Bot:
        """Serve this token."""
        bot = Bot(token, bot_id)
        self.bots[token] = bot
        return bot

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        """Listen on a free port."""
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()

    # ---- feeding updates ----

    def push(self, bot: Bot, update: dict[str, Any]) -> int:
        """Queue an update; returns its update_id."""
        update_id = bot.next_update
        bot.next_update += 1
        bot.updates.append({"update_id": update_id, **update})
        bot.arrived.set()
        return update_id

    def text(self, bot: Bot, user: int, text: str) -> int:
        """A leader writes text (a command gets its bot_command entity)."""
        message: dict[str, Any] = {
            "message_id": 1_000_000 + bot.next_update, "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": "L"},
            "from": _user(user), "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
        return self.push(bot, {"message": message})

    def press(self, bot: Bot, user: int, row: int, col: int = 0) -> int:
        """A leader presses a button on the newest message in their chat that has buttons."""
        for message in reversed(list(bot.messages[user].values())):
            markup = message.get("reply_markup") or {}
            rows = markup.get("inline_keyboard") or []
            if rows:
                button = rows[min(row, len(rows) - 1)][col]
                return self.push(bot, {"callback_query": {
                    "id": str(bot.next_update), "from": _user(user), "chat_instance": "c",
                    "data": button["callback_data"], "message": message}})
        raise LookupError(f"no message with buttons in chat {user}")

    # ---- HTTP ----

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        """Serve requests on one keep-alive connection."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                _, path, _ = lines[0].split(b" ", 2)
                headers = {}
                for line in lines[1:]:
                    if b":" in line:
                        k, v = line.split(b":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get(b"content-length", b"0"))
                body = await reader.readexactly(length) if length else b""
                status, payload = await self._handle(path.decode(), headers, body)
                data = json.dumps(payload).encode()
                writer.write(b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (status, len(data), data))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            pass  # the bot hung up, or the benchmark is over
        finally:
            writer.close()

    async def _handle(self, path: str, headers: dict[bytes, bytes],
                      body: bytes) -> tuple[int, dict[str, Any]]:
        """Route /bot<token>/<method>."""
        try:
            _, token_part, method = path.split("/", 2)
        except ValueError:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        bot = self.bots.get(token_part[3:])
        if bot is None:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        ctype = headers.get(b"content-type", b"")
        if ctype.startswith(b"multipart/"):
            found = CHAT_ID.search(body)
            params: dict[str, Any] = {"chat_id": found.group(1).decode() if found else None}
        elif ctype.startswith(b"application/json"):
            params = json.loads(body or b"{}")
        else:
            params = dict(parse_qsl(body.decode()))
        if method == "getUpdates":
            return 200, {"ok": True, "result": await self._get_updates(bot, params)}
        chat = params.get("chat_id")
        call = Call(method, int(chat) if chat not in (None, "") else None, time.monotonic(),
                    params)
        bot.calls.append(call)
        result = self._result(bot, method, params, call.chat_id)
        if bot.on_call is not None:
            bot.on_call(call)
        return 200, {"ok": True, "result": result}

    async def _get_updates(self, bot: Bot, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long poll: updates from offset on, waiting up to `timeout` seconds for some."""
        if bot.first_get_updates is None:
            bot.first_get_updates = time.monotonic()
        offset = int(params.get("offset") or 0)
        if offset:
            bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
        if not bot.updates:
            bot.arrived.clear()
            timeout = float(params.get("timeout") or 0)
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(bot.arrived.wait(), timeout)
        limit = int(params.get("limit") or 100)
        return bot.updates[:limit]

    def _result(self, bot: Bot, method: str, params: dict[str, Any],
                chat: int | None) -> Any:
        """What each method returns."""
        if method == "getMe":
            return {"id": bot.bot_id, "is_bot": True, "first_name": "Bench",
                    "username": f"bench{bot.bot_id}_bot", "can_join_groups": True,
                    "can_read_all_group_messages": False, "supports_inline_queries": False}
        if method in ("sendMessage", "sendPhoto", "sendDocument") and chat is not None:
            message = self._message(bot, chat, bot.next_message, params)
            bot.next_message += 1
            return message
        if method in ("editMessageText", "editMessageReplyMarkup") and chat is not None:
            message_id = int(params.get("message_id") or 0)
            old = bot.messages[chat].get(message_id, {})
            merged = {"text": old.get("text", ""), **params}
            if "reply_markup" not in params:  # an edit without buttons removes them
                merged.pop("reply_markup", None)
            return self._message(bot, chat, message_id, merged)
        if method == "getMyCommands":
            return []
        return True

    def _message(self, bot: Bot, chat: int, message_id: int,
                 params: dict[str, Any]) -> dict[str, Any]:
        """Store and return a bot message."""
        message: dict[str, Any] = {
            "message_id": message_id, "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "L"},
            "from": {"id": bot.bot_id, "is_bot": True, "first_name": "Bench"},
            "text": params.get("text") or "",
        }
        markup = params.get("reply_markup")
        if markup:
            message["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
        bot.messages[chat][message_id] = message
        return message


def _user(user: int) -> dict[str, Any]:
    """A leader as Telegram describes them."""
    return {"id": user, "is_bot": False, "first_name": "L", "language_code": "da"}
