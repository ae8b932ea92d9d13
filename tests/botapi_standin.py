"""A stand-in for the Telegram Bot API: a real aiohttp server on 127.0.0.1 for tests.

It speaks the Bot API's HTTP shape (`POST /bot<token>/<method>`, form, multipart or JSON
parameters, `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description"}`),
keeps the chats' messages as Telegram would show them (edits applied), and records every call.
Tests play the users: `send_text`, `press`, `send_sticker`... queue updates that the bot
fetches with getUpdates (offset confirms, long-poll timeout honoured) or, after setWebhook,
receives as POSTs with the secret token header. `fail_next` injects errors (429 with
retry_after, 500, ...). `upgrade_group` turns a group into a supergroup with a new id, after
which calls to the old id fail as Telegram's do (400 with parameters.migrate_to_chat_id).
Waits are event-driven: `wait_for(predicate, timeout)`.

    async with BotApiStandIn() as api:
        env = {"TELEGRAM_API_BASE_URL": api.base_url, "TELEGRAM_BOT_TOKEN": api.token}
        alice = api.user(1001, "Alice")
        api.send_text(alice, "/start")
        reply = await api.wait_for(lambda: api.bot_messages(alice.id))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")

DEFAULT_TOKEN = "123456789:TEST-standin-token_abcdefghijklmnop"
JSON_FIELDS = frozenset({"reply_markup", "commands", "scope", "link_preview_options",
                         "allowed_updates", "entities", "caption_entities", "reply_parameters",
                         "media"})
INT_FIELDS = frozenset({"message_id", "user_id", "offset", "limit", "timeout", "cache_time",
                        "max_connections", "message_thread_id"})
BOOL_FIELDS = frozenset({"show_alert", "drop_pending_updates", "disable_notification",
                         "protect_content"})
MESSAGE_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})


@dataclass(frozen=True)
class User:
    """A simulated Telegram user."""

    id: int
    first_name: str
    language_code: str | None = "da"
    username: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the Bot API shows a user."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class Call:
    """One request the bot made, and how the stand-in answered."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: Any = None
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # field -> (name, size)

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.status == 200


@dataclass
class Failure:
    """An error to return instead of processing a matching call."""

    method: str
    status: int
    description: str
    retry_after: int | None
    remaining: int


class BotApiStandIn:
    """The Bot API for one bot, on 127.0.0.1 with a free port."""

    def __init__(self, token: str = DEFAULT_TOKEN, username: str = "tillidsbot_test_bot",
                 first_name: str = "Tillidsbot") -> None:
        """A bot whose id is the token's number."""
        self.token = token
        self.bot = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": first_name,
                    "username": username, "can_join_groups": True,
                    "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.calls: list[Call] = []
        self.pending: list[dict[str, Any]] = []  # updates not yet confirmed by an offset
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, id) -> message
        self.chats: dict[int, dict[str, Any]] = {}
        self.users: dict[int, User] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.members: dict[tuple[int, int], str] = {}
        self.webhook: dict[str, Any] | None = None
        self.webhook_responses: list[int] = []
        self.failures: list[Failure] = []
        self.migrated: dict[int, int] = {}  # old group id -> its supergroup's id
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._files = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._delivering: set[asyncio.Task[None]] = set()
        self.port = 0
        self.polls = 0  # getUpdates requests received (a running bot polls continuously)
        self.closing = False
        # Seconds to wait before answering a method (network jitter), e.g. lambda m: 0.01.
        self.latency: Callable[[str], float] | None = None

    # ---- server ----

    async def start(self) -> BotApiStandIn:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def close(self) -> None:
        """Stop the server (and any webhook deliveries); open long polls return at once."""
        self.closing = True
        await self._notify_now()
        for task in list(self._delivering):
            task.cancel()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> BotApiStandIn:
        """Start on entering."""
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        """Close on leaving."""
        await self.close()

    @property
    def base_url(self) -> str:
        """What to give the bot as TELEGRAM_API_BASE_URL (the token is appended)."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ---- failures ----

    def fail_next(self, method: str, status: int, description: str | None = None,
                  retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next `times` calls of method with an error instead of processing them."""
        if description is None:
            description = {429: f"Too Many Requests: retry after {retry_after}",
                           500: "Internal Server Error", 502: "Bad Gateway"}.get(status, "Error")
        self.failures.append(Failure(method, status, description, retry_after, times))

    # ---- users and updates ----

    def user(self, user_id: int, first_name: str, language_code: str | None = "da",
             username: str | None = None) -> User:
        """A user with a private chat to the bot."""
        user = User(user_id, first_name, language_code, username)
        self.users[user_id] = user
        self.chats[user_id] = {"id": user_id, "type": "private", "first_name": first_name}
        return user

    def group(self, chat_id: int, title: str, kind: str = "supergroup") -> dict[str, Any]:
        """A group chat (negative id) the bot is a member of."""
        chat = {"id": chat_id, "type": kind, "title": title}
        self.chats[chat_id] = chat
        return chat

    def upgrade_group(self, old_id: int, new_id: int, title: str | None = None
                      ) -> dict[str, Any]:
        """The group becomes a supergroup with a new id (members and admins carried over);
        from now on any call naming the old id is refused with migrate_to_chat_id. No service
        message is sent: deliver migrate_to_message / migrate_from_message for that."""
        old = self.chats[old_id]
        self.migrated[old_id] = new_id
        for (chat_id, user_id), status in list(self.members.items()):
            if chat_id == old_id:
                self.members[(new_id, user_id)] = status
        return self.group(new_id, title or str(old.get("title", "")))

    def migrate_to_message(self, old_id: int, user: User) -> dict[str, Any]:
        """The service message in the old group: "upgraded to a supergroup", from the admin."""
        return {"message": {"message_id": self._next_message_id(old_id), "date": int(time.time()),
                            "chat": self.chats[old_id], "from": user.to_dict(),
                            "migrate_to_chat_id": self.migrated[old_id]}}

    def migrate_from_message(self, old_id: int) -> dict[str, Any]:
        """The service message in the new supergroup, sent as the group itself."""
        chat = self.chats[self.migrated[old_id]]
        return {"message": {"message_id": self._next_message_id(chat["id"]),
                            "date": int(time.time()), "chat": chat, "sender_chat": chat,
                            "from": {"id": 1087968824, "is_bot": True, "first_name": "Group",
                                     "username": "GroupAnonymousBot"},
                            "migrate_from_chat_id": old_id}}

    def set_member(self, chat_id: int, user: User, status: str) -> None:
        """A user's status in a group, for getChatMember ('administrator', 'member', ...)."""
        self.members[(chat_id, user.id)] = status

    def send_text(self, user: User, text: str, chat: dict[str, Any] | None = None) -> int:
        """The user sends a text (a command when it starts with '/'); returns the update id."""
        message = self._user_message(user, chat, text=text)
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.deliver({"message": message})

    def send_sticker(self, user: User) -> int:
        """The user sends a sticker."""
        return self.deliver({"message": self._user_message(user, None, sticker={
            "file_id": f"sticker{next(self._files)}", "file_unique_id": "s1", "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False})})

    def send_photo(self, user: User) -> int:
        """The user sends a photo."""
        return self.deliver({"message": self._user_message(user, None, photo=[{
            "file_id": f"photo{next(self._files)}", "file_unique_id": "p1", "width": 90,
            "height": 90}])})

    def send_voice(self, user: User) -> int:
        """The user sends a voice note."""
        return self.deliver({"message": self._user_message(user, None, voice={
            "file_id": f"voice{next(self._files)}", "file_unique_id": "v1", "duration": 3})})

    def send_document(self, user: User, file_name: str = "notes.pdf") -> int:
        """The user sends a file."""
        return self.deliver({"message": self._user_message(user, None, document={
            "file_id": f"doc{next(self._files)}", "file_unique_id": "d1",
            "file_name": file_name})})

    def edit_text(self, user: User, message_id: int, text: str) -> int:
        """The user edits a message they sent earlier."""
        original = self.messages[(user.id, message_id)]
        edited = {**original, "text": text, "edit_date": int(time.time())}
        self.messages[(user.id, message_id)] = edited
        return self.deliver({"edited_message": edited})

    def channel_post(self, chat_id: int, text: str) -> int:
        """A post in a channel the bot is in."""
        chat = self.chats.setdefault(chat_id, {"id": chat_id, "type": "channel",
                                               "title": "Kanal"})
        post = {"message_id": self._next_message_id(chat_id), "date": int(time.time()),
                "chat": chat, "text": text}
        return self.deliver({"channel_post": post})

    def press(self, user: User, message: dict[str, Any], data: str | None = None,
              label: str | None = None, as_shown: bool = False) -> int:
        """The user presses a button (by callback data or label) on a message as shown now;
        as_shown: on the message exactly as given (a double tap's second press still shows
        the buttons the first one is about to remove)."""
        if data is None:
            data = self.button_data(message, label)
        query_id = str(next(self._callback_ids))
        shown = message if as_shown else self.messages.get(
            (message["chat"]["id"], message["message_id"]), message)
        self.callback_queries[query_id] = {"answered": False, "text": None, "chat_id": None}
        return self.deliver({"callback_query": {
            "id": query_id, "from": user.to_dict(), "message": shown,
            "chat_instance": f"ci{message['chat']['id']}", "data": data}})

    def press_inline(self, user: User, data: str) -> int:
        """A callback query from an inline message (only an inline_message_id, no message):
        the bot sends none, so such a press is forged."""
        query_id = str(next(self._callback_ids))
        self.callback_queries[query_id] = {"answered": False, "text": None, "chat_id": None}
        return self.deliver({"callback_query": {
            "id": query_id, "from": user.to_dict(), "inline_message_id": f"im{query_id}",
            "chat_instance": "ci-inline", "data": data}})

    def deliver(self, payload: dict[str, Any], update_id: int | None = None) -> int:
        """Queue an update (or POST it to the webhook); returns its update id."""
        update = {"update_id": next(self._update_ids) if update_id is None else update_id,
                  **payload}
        self._log_update(update)
        self._enqueue([update])
        return int(update["update_id"])

    def deliver_twice(self, payload: dict[str, Any]) -> int:
        """Deliver one update twice with the same update_id, as at-least-once delivery may."""
        update = {"update_id": next(self._update_ids), **payload}
        self._log_update(update)
        self._enqueue([update, dict(update)])
        return int(update["update_id"])

    async def post_webhook(self, update: dict[str, Any], secret_token: str | None,
                           url: str | None = None) -> int:
        """POST an update to the bot's webhook with any (or no) secret; the HTTP status."""
        target = url or (self.webhook or {}).get("url")
        assert target, "no webhook set"
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(target, data=json.dumps(update),
                                      headers=headers) as response:
            return response.status

    def note(self, chat_id: int, text: str) -> None:
        """Put a remark into the call log (shown in transcripts), e.g. that the bot was killed."""
        self.calls.append(Call("_note", {"chat_id": chat_id, "text": text}, time.monotonic()))

    def _log_update(self, update: dict[str, Any]) -> None:
        """Record what a user did, so the call log reads as a conversation."""
        if "callback_query" in update:
            query = update["callback_query"]
            if "message" not in query:  # an inline message's button: no chat to log it in
                self.callback_queries[query["id"]].update(update_id=update["update_id"])
                return
            label = next((b["text"] for b in self.buttons(query["message"])
                          if b.get("callback_data") == query["data"]), query["data"])
            chat_id, text = query["message"]["chat"]["id"], f"[presses “{label}”]"
            self.callback_queries[query["id"]].update(chat_id=chat_id,
                                                      update_id=update["update_id"])
        elif "edited_message" in update:
            message = update["edited_message"]
            chat_id, text = message["chat"]["id"], f"[edits a message: {message.get('text')}]"
        elif "message" in update:
            message = update["message"]
            kind = next((k for k in ("sticker", "photo", "voice", "document",
                                     "migrate_to_chat_id", "migrate_from_chat_id")
                         if k in message), None)
            chat_id, text = message["chat"]["id"], message.get("text") or f"[{kind}]"
        else:
            return
        self.calls.append(Call("_user", {"chat_id": chat_id, "text": text,
                                         "update_id": update["update_id"]}, time.monotonic()))

    def _enqueue(self, updates: list[dict[str, Any]]) -> None:
        """Add updates to the queue or push them to the webhook, and wake waiters."""
        if self.webhook is not None:
            for update in updates:
                task = asyncio.get_running_loop().create_task(self._post_webhook(update))
                self._delivering.add(task)
                task.add_done_callback(self._delivering.discard)
            return
        self.pending.extend(updates)
        self._notify()

    async def _post_webhook(self, update: dict[str, Any]) -> None:
        """POST an update to the bot's webhook with the secret token, as Telegram does."""
        assert self.webhook is not None
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self.webhook["url"], data=json.dumps(update),
                                      headers=headers) as response:
            self.webhook_responses.append(response.status)
        await self._notify_now()

    def _user_message(self, user: User, chat: dict[str, Any] | None, **content: Any
                      ) -> dict[str, Any]:
        """A message from a user, stored like any other."""
        if user.id not in self.users:
            self.user(user.id, user.first_name, user.language_code, user.username)
        chat = chat or self.chats[user.id]
        message = {"message_id": self._next_message_id(chat["id"]), "date": int(time.time()),
                   "chat": chat, "from": user.to_dict(), **content}
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, as in Telegram."""
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    # ---- what the user sees ----

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat as they look now (edits applied), oldest first."""
        return [m for (c, _), m in sorted(self.messages.items())
                if c == chat_id and m.get("from", {}).get("id") == self.bot["id"]]

    def last_bot_message(self, chat_id: int) -> dict[str, Any] | None:
        """The newest message from the bot in a chat."""
        messages = self.bot_messages(chat_id)
        return messages[-1] if messages else None

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
        """The inline buttons a message shows now, row by row flattened."""
        markup = message.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def button_data(self, message: dict[str, Any], label: str | None) -> str:
        """Callback data of the button whose label contains label (the first when None)."""
        for button in self.buttons(message):
            if label is None or label in button["text"]:
                return str(button["callback_data"])
        raise AssertionError(f"no button {label!r} on message {message.get('text')!r}")

    def calls_of(self, method: str, ok_only: bool = True) -> list[Call]:
        """Recorded calls of one method."""
        return [c for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def sent_texts(self, chat_id: int) -> list[str]:
        """Every text the bot sent to a chat with sendMessage, in order (not edits)."""
        return [str(c.params.get("text")) for c in self.calls_of("sendMessage")
                if c.params.get("chat_id") == chat_id]

    def answered(self, query_id: str) -> bool:
        """Whether a callback query was answered."""
        return bool(self.callback_queries.get(query_id, {}).get("answered"))

    def transcript(self, chat_id: int) -> list[str]:
        """The conversation in a chat as recorded: user updates and the bot's calls."""
        lines: list[str] = []
        for call in self.calls:
            if not call.ok or call.method in ("getUpdates", "getMe", "setMyCommands",
                                              "deleteWebhook", "setWebhook"):
                continue
            params = call.params
            if call.method == "answerCallbackQuery":
                query = self.callback_queries.get(str(params.get("callback_query_id")), {})
                if query.get("chat_id") == chat_id:
                    text = params.get("text")
                    lines.append(f"  bot answerCallbackQuery{f': {text}' if text else ''}")
                continue
            if params.get("chat_id") != chat_id:
                continue
            if call.method == "_user":
                lines.append(f"user: {params['text']}")
                continue
            if call.method == "_note":
                lines.append(f"--- {params['text']} ---")
                continue
            text = params.get("text") or params.get("caption") or ""
            buttons = [b["text"] for row in (params.get("reply_markup") or {}).get(
                "inline_keyboard", []) for b in row]
            shown = f" [{' | '.join(buttons)}]" if buttons else ""
            if call.method == "editMessageReplyMarkup":
                lines.append(f"  bot {call.method} #{params.get('message_id')}{shown}")
                continue
            first_line = " / ".join(str(text).splitlines())
            lines.append(f"  bot {call.method}: {first_line}{shown}")
        return lines

    # ---- waiting ----

    async def _notify_now(self) -> None:
        """Wake every waiter (from async code)."""
        async with self._changed:
            self._changed.notify_all()

    def _notify(self) -> None:
        """Wake every waiter (from sync code: soon, on the loop)."""

        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        loop = asyncio.get_running_loop()
        task = loop.create_task(notify())
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    async def wait_for(self, predicate: Callable[[], T], within: float = 20.0,
                       what: str = "condition") -> T:
        """Wait until predicate() is truthy (re-checked on every call the bot makes)."""
        async with self._changed:
            try:
                return await asyncio.wait_for(self._changed.wait_for(predicate), within)
            except TimeoutError:
                raise AssertionError(f"timed out after {within} s waiting for {what}") from None

    # ---- the Bot API ----

    async def _handle(self, request: web.Request) -> web.Response:
        """One Bot API request."""
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params, files = await _params(request)
        if self.latency is not None and method != "getUpdates":
            await asyncio.sleep(self.latency(method))
        call = Call(method, params, time.monotonic(), files=files)
        failure = next((f for f in self.failures if f.method == method and f.remaining > 0),
                       None)
        if failure is not None:
            failure.remaining -= 1
            call.status = failure.status
            self.calls.append(call)
            await self._notify_now()
            return _error(failure.status, failure.description, failure.retry_after)
        moved_to = self.migrated.get(params.get("chat_id"))  # type: ignore[arg-type]
        if moved_to is not None:
            call.status = 400
            self.calls.append(call)
            await self._notify_now()
            return _error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                          parameters={"migrate_to_chat_id": moved_to})
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            call.status = 404
            self.calls.append(call)
            await self._notify_now()
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params, files) if method == "getUpdates" else handler(
                params, files)
        except ApiError as exc:
            call.status = exc.status
            self.calls.append(call)
            await self._notify_now()
            return _error(exc.status, exc.description)
        call.result = result
        if method != "getUpdates" or result:
            self.calls.append(call)
        await self._notify_now()
        return web.json_response({"ok": True, "result": result})

    def _api_getMe(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        """Who the bot is."""
        return self.bot

    async def _api_getUpdates(self, params: dict[str, Any], files: dict[str, Any]
                              ) -> list[dict[str, Any]]:
        """Updates from offset on; waits up to timeout seconds when there are none."""
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                "active; use deleteWebhook to delete the webhook first")
        self.polls += 1
        offset = params.get("offset")
        if offset:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        if not self.pending and timeout > 0:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self.pending) or self.closing),
                        timeout)
        return [dict(u) for u in self.pending[:limit]]

    def _api_deleteWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        """Back to getUpdates."""
        if params.get("drop_pending_updates"):
            self.pending.clear()
        self.webhook = None
        return True

    def _api_setWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        """Deliver updates to a URL from now on (pending ones are pushed there too)."""
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        queued, self.pending = self.pending, []
        if queued:
            self._enqueue(queued)
        return True

    def _api_getWebhookInfo(self, params: dict[str, Any], files: dict[str, Any]
                            ) -> dict[str, Any]:
        """The webhook, if any."""
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.pending)}

    def _api_setMyCommands(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        """Remember the command menu per scope and language."""
        scope = (params.get("scope") or {"type": "default"})["type"]
        commands = params.get("commands") or []
        for command in commands:
            if not 1 <= len(command["command"]) <= 32 or not command["description"]:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[(scope, params.get("language_code") or "")] = commands
        return True

    def _api_getMyCommands(self, params: dict[str, Any], files: dict[str, Any]
                           ) -> list[dict[str, Any]]:
        """The command menu for a scope and language."""
        scope = (params.get("scope") or {"type": "default"})["type"]
        return self.commands.get((scope, params.get("language_code") or ""), [])

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        """The chat a request names, or 400 chat not found."""
        chat = self.chats.get(params.get("chat_id"))  # type: ignore[arg-type]
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _new_bot_message(self, chat: dict[str, Any], **content: Any) -> dict[str, Any]:
        """Store and return a message from the bot."""
        message = {"message_id": self._next_message_id(chat["id"]), "date": int(time.time()),
                   "chat": chat, "from": self.bot, **content}
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _api_sendMessage(self, params: dict[str, Any], files: dict[str, Any]
                         ) -> dict[str, Any]:
        """A text message (1-4096 characters)."""
        chat = self._chat(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _tg_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        content: dict[str, Any] = {"text": text}
        if params.get("reply_markup"):
            _check_markup(params["reply_markup"])
            content["reply_markup"] = params["reply_markup"]
        return self._new_bot_message(chat, **content)

    def _media(self, params: dict[str, Any], files: dict[str, tuple[str, int]], kind: str
               ) -> dict[str, Any]:
        """sendPhoto and sendDocument."""
        chat = self._chat(params)
        caption = params.get("caption")
        if caption and _tg_len(str(caption)) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        name, size = files.get(kind, (str(params.get(kind, "")), 0))
        file_id = f"{kind}{next(self._files)}"
        content: dict[str, Any] = {}
        if kind == "photo":
            content["photo"] = [{"file_id": file_id, "file_unique_id": file_id, "width": 800,
                                 "height": 600, "file_size": size}]
        else:
            content["document"] = {"file_id": file_id, "file_unique_id": file_id,
                                   "file_name": name, "file_size": size}
        if caption:
            content["caption"] = caption
        if params.get("reply_markup"):
            _check_markup(params["reply_markup"])
            content["reply_markup"] = params["reply_markup"]
        return self._new_bot_message(chat, **content)

    def _api_sendPhoto(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        """A photo upload."""
        return self._media(params, files, "photo")

    def _api_sendDocument(self, params: dict[str, Any], files: dict[str, Any]
                          ) -> dict[str, Any]:
        """A document upload."""
        return self._media(params, files, "document")

    def _own_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """A message of the bot named by chat_id and message_id, or 400."""
        key = (params.get("chat_id"), params.get("message_id"))
        message = self.messages.get(key)  # type: ignore[arg-type]
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _api_editMessageText(self, params: dict[str, Any], files: dict[str, Any]
                             ) -> dict[str, Any]:
        """Change a message's text (and buttons)."""
        message = self._own_message(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _tg_len(text) > 4096:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = params.get("reply_markup")
        if text == message.get("text") and markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")
        updated = {k: v for k, v in message.items() if k != "reply_markup"}
        updated.update(text=text, edit_date=int(time.time()))
        if markup:
            _check_markup(markup)
            updated["reply_markup"] = markup
        self.messages[(message["chat"]["id"], message["message_id"])] = updated
        return updated

    def _api_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, Any]
                                    ) -> dict[str, Any]:
        """Change (or remove) a message's buttons."""
        message = self._own_message(params)
        markup = params.get("reply_markup")
        if markup == message.get("reply_markup") or (not markup and not message.get(
                "reply_markup")):
            raise ApiError(400, "Bad Request: message is not modified")
        updated = {k: v for k, v in message.items() if k != "reply_markup"}
        if markup:
            _check_markup(markup)
            updated["reply_markup"] = markup
        self.messages[(message["chat"]["id"], message["message_id"])] = updated
        return updated

    def _api_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        """Answer a button press once; a second answer or an unknown id is an error."""
        query = self.callback_queries.get(str(params.get("callback_query_id")))
        if query is None or query["answered"]:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        text = params.get("text")
        if text and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query.update(answered=True, text=text)
        return True

    def _api_getChatMember(self, params: dict[str, Any], files: dict[str, Any]
                           ) -> dict[str, Any]:
        """A user's membership of a chat (set with set_member; default 'member')."""
        chat = self._chat(params)
        user_id = params.get("user_id")
        user = self.users.get(user_id)  # type: ignore[arg-type]
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        status = self.members.get((chat["id"], user.id), "member")
        member: dict[str, Any] = {"status": status, "user": user.to_dict()}
        if status == "administrator":
            member.update({k: True for k in (
                "can_be_edited", "can_manage_chat", "can_delete_messages",
                "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                "can_change_info", "can_invite_users", "can_post_stories",
                "can_edit_stories", "can_delete_stories")}, is_anonymous=False)
            member["can_be_edited"] = False
        if status == "restricted":
            member.update({"is_member": True, "until_date": 0})
        if status == "kicked":
            member["until_date"] = 0
        return member

    def _api_deleteMessage(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        """Delete one of the bot's messages."""
        message = self._own_message(params)
        del self.messages[(message["chat"]["id"], message["message_id"])]
        return True

    def _api_sendChatAction(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        """'typing…' and friends."""
        self._chat(params)
        return True


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, status: int, description: str) -> None:
        """HTTP status (= error_code) and the description Telegram would give."""
        super().__init__(description)
        self.status = status
        self.description = description


def _error(status: int, description: str, retry_after: int | None = None,
           parameters: dict[str, Any] | None = None) -> web.Response:
    """An error in the Bot API's shape (parameters: retry_after, migrate_to_chat_id)."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        parameters = {**(parameters or {}), "retry_after": retry_after}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


async def _params(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, int]]]:
    """Parameters from a query string, a form, a multipart body or JSON, typed like the API."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, tuple[str, int]] = {}
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        raw.update(body or {})
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = (value.filename, len(value.file.read()))
            else:
                raw[key] = value
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and key in JSON_FIELDS:
            params[key] = json.loads(value)
        elif isinstance(value, str) and key in INT_FIELDS | {"chat_id"}:
            params[key] = int(value) if value.lstrip("-").isdigit() else value
        elif isinstance(value, str) and key in BOOL_FIELDS:
            params[key] = value.lower() == "true"
        else:
            params[key] = value
    # Attached files referenced as attach://name count as the field's file.
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name in files:
                files[key] = files[name]
    return params, files


def _check_markup(markup: dict[str, Any]) -> None:
    """Telegram's checks on inline keyboards: 1-64 bytes of callback data, a label."""
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: BUTTON_TEXT_EMPTY")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _tg_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2

