"""A stand-in for the Bot Connector service (Teams' serviceUrl): aiohttp on 127.0.0.1 for tests.

The bot sends to `serviceUrl` whatever Teams told it in the activity, so pointing serviceUrl
here makes every reply, card update and proactive message land in this recorder:
- `POST /v3/conversations` creates a 1:1 conversation (returns its id);
- `POST /v3/conversations/{id}/activities[/{activityId}]` sends (or replies), returns an id;
- `PUT /v3/conversations/{id}/activities/{activityId}` updates a sent activity in place;
- `DELETE /v3/conversations/{id}/activities/{activityId}` deletes one;
- `PUT /upload/{conversation}/{name}` plays OneDrive's upload session behind a file-consent
  card: `upload_info(...)` is the uploadInfo a test puts in its `fileConsent/invoke`, and the
  uploadUrl there points here; the bytes land in `uploads` (the Content-Range must cover them);
  `fail_next("UPLOAD", 500)` refuses the next upload, and `hold_uploads()` keeps uploads
  waiting until `release_uploads()` (to see what the bot does before an upload finishes).
Every call is kept in `calls` (method, path, body, status); the conversation as a leader would
see it (updates applied, deletions removed) is `messages(conversation_id)`. `fail_next` makes
the next matching calls answer 429 with Retry-After, or 5xx; a failed call changes nothing
unless `applied=True` (a 5xx after the message went through, the ambiguous case).
The tests play Teams with `post_activity`, which POSTs an activity to the bot's /api/messages.
Waits are event-driven: `wait_for(predicate, timeout)`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")


@dataclass
class Call:
    """One request the bot made."""

    method: str
    path: str
    body: dict[str, Any] | None
    status: int
    at: float  # time.monotonic() when it arrived
    conversation_id: str | None = None
    activity_id: str | None = None


@dataclass
class Failure:
    """An injected failure for the next calls of one method."""

    method: str
    status: int
    retry_after: float | None = None
    times: int = 1
    applied: bool = False  # the call takes effect although it answers with the error


@dataclass
class Sent:
    """An activity in a conversation, as the leader would see it."""

    id: str
    conversation_id: str
    activity: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)  # earlier contents


# ---- file uploads (the OneDrive upload session behind a file-consent card) ----

@dataclass
class Upload:
    """One PUT of a file to an upload session."""

    conversation_id: str
    name: str
    content_range: str | None
    data: bytes
    status: int
    at: float


def _whole_range(header: str | None, size: int) -> bool:
    """Whether a Content-Range header covers exactly all of size bytes in one request."""
    return size > 0 and header == f"bytes 0-{size - 1}/{size}"


class _Uploads:
    """The upload endpoint and its helpers (mixed into ConnectorStandIn)."""

    port: int
    uploads: list[Upload]
    calls: list[Call]
    _changed: asyncio.Condition
    _held: asyncio.Event | None = None
    _waiting: int = 0

    def _failure(self, method: str) -> Failure | None:
        """The injected failure for a call (ConnectorStandIn's)."""
        raise NotImplementedError

    def hold_uploads(self) -> None:
        """Keep the next uploads waiting (unanswered) until release_uploads()."""
        self._held = asyncio.Event()

    def release_uploads(self) -> None:
        """Let held uploads through."""
        if self._held is not None:
            self._held.set()
            self._held = None

    def uploads_waiting(self) -> int:
        """How many uploads are held now."""
        return self._waiting

    def upload_info(self, conversation_id: str, name: str) -> dict[str, Any]:
        """The uploadInfo Teams puts in a fileConsent/invoke accept, pointing here."""
        from urllib.parse import quote

        stem, _, kind = name.rpartition(".")
        return {"contentUrl": f"https://contoso.sharepoint.example/personal/leder/Documents/"
                              f"Applications/{name}",
                "name": name,
                "uploadUrl": f"http://127.0.0.1:{self.port}/upload/"
                             f"{quote(conversation_id, safe='')}/{quote(name, safe='')}",
                "uniqueId": f"standin-{len(self.uploads) + 1}-{stem}",
                "fileType": kind, "etag": "1"}

    def uploaded(self, conversation_id: str) -> dict[str, bytes]:
        """The files stored for a conversation (name -> bytes)."""
        return {u.name: u.data for u in self.uploads
                if u.conversation_id == conversation_id and u.status == 201}

    async def _upload(self, request: web.Request) -> web.Response:
        """PUT /upload/{conversation}/{name}: store the bytes if the range covers them."""
        data = await request.read()
        if self._held is not None:
            held = self._held
            self._waiting += 1
            async with self._changed:
                self._changed.notify_all()
            await held.wait()
            self._waiting -= 1
        header = request.headers.get("Content-Range")
        failure = self._failure("UPLOAD")
        status = (failure.status if failure is not None else
                  201 if _whole_range(header, len(data)) else 400)
        conversation_id = request.match_info["conversation"]
        name = request.match_info["name"]
        self.uploads.append(Upload(conversation_id, name, header, data, status,
                                   time.monotonic()))
        self.calls.append(Call(request.method, request.path, {"bytes": len(data),
                                                               "Content-Range": header},
                               status, time.monotonic(), conversation_id))
        async with self._changed:
            self._changed.notify_all()
        if status != 201:
            return web.json_response({"error": {"code": "invalidRange"}}, status=status)
        return web.json_response({"id": f"item-{len(self.uploads)}", "name": name,
                                  "size": len(data)}, status=201)


class ConnectorStandIn(_Uploads):
    """The recorder; use as `async with ConnectorStandIn() as connector:`."""

    def __init__(self) -> None:
        """Nothing runs until start()."""
        self.calls: list[Call] = []
        self.sent: dict[str, Sent] = {}
        self.order: list[str] = []
        self.failures: list[Failure] = []
        self.inbound: list[tuple[float, dict[str, Any], int]] = []  # what the tests posted
        self.uploads: list[Upload] = []  # files the bot PUT to an upload session
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    async def start(self) -> ConnectorStandIn:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}",
                            self._send)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}",
                           self._update)
        app.router.add_delete("/v3/conversations/{conversation}/activities/{activity}",
                              self._delete)
        app.router.add_put("/upload/{conversation}/{name}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = sockets[0].getsockname()[1]
        self._session = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        """Stop listening."""
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> ConnectorStandIn:
        """Start."""
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        """Close."""
        await self.close()

    @property
    def service_url(self) -> str:
        """What activities carry as serviceUrl."""
        return f"http://127.0.0.1:{self.port}/"

    # ---- test controls ----

    def fail_next(self, method: str, status: int, retry_after: float | None = None,
                  times: int = 1, applied: bool = False) -> None:
        """Answer the next `times` calls of method ('POST', 'PUT', 'DELETE') with status."""
        self.failures.append(Failure(method.upper(), status, retry_after, times, applied))

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """The bot's activities in a conversation, in order, as they look now."""
        return [self.sent[i].activity for i in self.order
                if self.sent[i].conversation_id == conversation_id]

    def sent_record(self, activity_id: str) -> Sent:
        """One sent activity with its earlier versions."""
        return self.sent[activity_id]

    def ids(self, conversation_id: str) -> list[str]:
        """The ids of the bot's activities in a conversation, in order."""
        return [i for i in self.order if self.sent[i].conversation_id == conversation_id]

    async def wait_for(self, predicate: Callable[[], T], within: float = 15.0) -> T:
        """Wait until predicate() is truthy (re-checked after every call); return its value."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within)
            return predicate()

    async def post_activity(self, bot_url: str, activity: dict[str, Any],
                            headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Play Teams: POST an activity to the bot's /api/messages; (status, JSON body)."""
        assert self._session is not None
        body = {"serviceUrl": self.service_url, "channelId": "msteams", **activity}
        posted_at = time.monotonic()
        async with self._session.post(bot_url, json=body, headers=headers or {}) as response:
            self.inbound.append((posted_at, body, response.status))
            text = await response.text()
            try:
                data: Any = await response.json(content_type=None) if text else None
            except ValueError:
                data = text
            return response.status, data

    def transcript(self, conversation_id: str) -> list[str]:
        """The conversation as recorded: what the member posted and every call of the bot."""
        events: list[tuple[float, str]] = []
        for at, body, status in self.inbound:
            if (body.get("conversation") or {}).get("id") != conversation_id:
                continue
            if body.get("name") == "fileConsent/invoke":
                said = f"answers the file consent: {(body.get('value') or {}).get('action')}"
            elif body.get("value") is not None:
                said = f"presses {body['value']}"
            elif body.get("type") != "message":
                said = f"({body.get('type')})"
            else:
                said = repr(body.get("text"))
            events.append((at, f"member {said} -> HTTP {status}"))
        for call in self.calls:
            if call.conversation_id != conversation_id:
                continue
            events.append((call.at, f"  bot {call.method} {call.path} -> {call.status}: "
                                    f"{_brief(call.body)}"))
        return [line for _, line in sorted(events, key=lambda e: e[0])]

    # ---- handlers ----

    def _failure(self, method: str) -> Failure | None:
        """The injected failure for this call, if any (consumed)."""
        for failure in self.failures:
            if failure.method == method and failure.times > 0:
                failure.times -= 1
                if failure.times == 0:
                    self.failures.remove(failure)
                return failure
        return None

    async def _record(self, request: web.Request, status: int, body: dict[str, Any] | None,
                      activity_id: str | None = None) -> None:
        """Keep the call and wake waiters."""
        self.calls.append(Call(request.method, request.path, body, status, time.monotonic(),
                               request.match_info.get("conversation"), activity_id))
        async with self._changed:
            self._changed.notify_all()

    def _error(self, failure: Failure) -> web.Response:
        """The injected error response."""
        headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after else {}
        return web.json_response({"error": {"code": "Injected", "message": "injected failure"}},
                                 status=failure.status, headers=headers)

    async def _create(self, request: web.Request) -> web.Response:
        """POST /v3/conversations: a new 1:1 conversation with one member."""
        body = await request.json()
        failure = self._failure("POST")
        if failure is not None:
            await self._record(request, failure.status, body)
            return self._error(failure)
        members = body.get("members") or [{}]
        conversation_id = f"a:standin-{members[0].get('id', 'x')}"
        await self._record(request, 201, body)
        return web.json_response({"id": conversation_id, "serviceUrl": self.service_url},
                                 status=201)

    async def _send(self, request: web.Request) -> web.Response:
        """POST an activity to a conversation (a reply when an activity id is in the path)."""
        body = await request.json()
        conversation_id = request.match_info["conversation"]
        failure = self._failure("POST")
        activity_id = f"1{next(self._ids):05d}"
        if failure is None or failure.applied:
            self.sent[activity_id] = Sent(activity_id, conversation_id, body)
            self.order.append(activity_id)
        if failure is not None:
            await self._record(request, failure.status, body,
                               activity_id if failure.applied else None)
            return self._error(failure)
        await self._record(request, 201, body, activity_id)
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        """PUT: replace a sent activity's content."""
        body = await request.json()
        activity_id = request.match_info["activity"]
        failure = self._failure("PUT")
        if failure is not None and not failure.applied:
            await self._record(request, failure.status, body, activity_id)
            return self._error(failure)
        sent = self.sent.get(activity_id)
        if sent is None:
            await self._record(request, 404, body, activity_id)
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        sent.versions.append(sent.activity)
        sent.activity = body
        if failure is not None:
            await self._record(request, failure.status, body, activity_id)
            return self._error(failure)
        await self._record(request, 200, body, activity_id)
        return web.json_response({"id": activity_id})

    async def _delete(self, request: web.Request) -> web.Response:
        """DELETE: remove a sent activity."""
        activity_id = request.match_info["activity"]
        failure = self._failure("DELETE")
        if failure is not None:
            await self._record(request, failure.status, None, activity_id)
            return self._error(failure)
        if activity_id in self.sent:
            del self.sent[activity_id]
            self.order.remove(activity_id)
        await self._record(request, 200, None, activity_id)
        return web.Response(status=200)


def _brief(body: dict[str, Any] | None) -> str:
    """One line for an activity: its text, or its card's text blocks and buttons."""
    if not body:
        return ""
    parts: list[str] = []
    if body.get("text"):
        parts.append(repr(str(body["text"])[:90]))
    if "Content-Range" in body:
        return f"{body['bytes']} bytes, Content-Range {body['Content-Range']}"
    for attachment in body.get("attachments") or []:
        content = attachment.get("content")
        kind = str(attachment.get("contentType", ""))
        if kind.startswith("application/vnd.microsoft.teams.card.file."):
            size = content.get("sizeInBytes") if isinstance(content, dict) else None
            parts.append(f"{kind.rsplit('.', 1)[-1]} card {attachment.get('name', '')!r}"
                         + (f" ({size} bytes)" if size else ""))
        elif isinstance(content, dict):
            texts = [e.get("text", "")[:70] for e in content.get("body", [])
                     if e.get("type") == "TextBlock"]
            titles = [a.get("title") for e in content.get("body", [])
                      if e.get("type") == "ActionSet" for a in e.get("actions", [])]
            parts.append(f"card {texts!r}" + (f" buttons {titles!r}" if titles else ""))
        else:
            parts.append(f"{attachment.get('contentType')} {attachment.get('name', '')}")
    return " ".join(parts)
