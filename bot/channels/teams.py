"""Microsoft Teams through the Microsoft 365 Agents SDK: a thin adapter onto the core pipeline.

The SDK hosts `/api/messages` on aiohttp (JWT-checked for the configured Entra app, or
anonymous in TEAMS_TEST_MODE, which only listens on 127.0.0.1), turns each POST into a turn,
and gives the turn a connector client for the activity's serviceUrl. This module turns the
turn's activity into an `InEvent` for `core.inbound.handle` (bot/inbound.py: de-duplication,
admission, onboarding, resume after a crash and error recovery live there) and draws the
`Reply` (bot/channels/teams_cards.py) through the paced, retried sender
(bot/channels/teams_send.py).

- Only the configured tenant is served: another tenant's activity is answered 403 before the
  SDK sees it, and nothing about it is stored.
- Leaders talk in their personal (1:1) chat; their id is `teams:<aadObjectId>`; the Teams
  locale chooses a new leader's language; the conversation reference (the SDK's, as JSON) is
  the event's reference, kept by the core on the leader row (`leaders.chat_id`), so nudges and
  follow-ups reach them after a restart (`deliver`).
- A card press (Action.Submit value or an Action.Execute invoke) is a button event; the pressed
  card is updated as the reply's `pressed` hint says; an invoke is always answered (with the
  new card, or an acknowledgement).
- In group chats and channels the bot hears only @mentions; team check-ins (bot/team/teams.py,
  registered with `register_groups`) take their commands, presses and installs there, and
  their members' examples in the 1:1 chat; leader commands there get a pointer to the
  personal chat.
- A conversation's 1:1 activities are handled one at a time in arrival order, its backlog
  bounded (bot/backlog.py, as on Telegram): a shed activity's request is answered at once.
- What the bot cannot take is said so and changes nothing, as on Telegram: an image or file a
  leader sends (with or without a caption), an edited message (`messageUpdate`).
- Files (the two /export documents) go by file-consent card in the 1:1 chat: the file waits
  in memory only, under a random token that only its card carries; the leader's accept
  (a `fileConsent/invoke`) is answered at once, then the file is PUT to the uploadUrl Teams
  gave and a file-info card shown; a decline hears a short message; a token that is unknown,
  used already, or from another conversation or person uploads nothing and hears "closed".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import traceback
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from cachetools import LRUCache, TTLCache
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware
from microsoft_agents.hosting.core import AgentAuthConfiguration, TurnContext
from microsoft_agents.hosting.core.authorization import AuthTypes, ClaimsIdentity
from microsoft_agents.hosting.core.connector import ConnectorClientBase

from bot import identity, metrics
from bot.backlog import Backlog, ChatQueues
from bot.channels import teams_cards as cards
from bot.channels.teams_send import ConnectorSender, TeamsSendError
from bot.config import Settings
from bot.dialogue.state import Attachment, OutMessage
from bot.inbound import Delivered, EventKind, InEvent, Reply, Unreachable
from bot.locale import language_for
from bot.locks import KeyedLocks
from bot.store import repo
from bot.store import telegram as tgrepo

if TYPE_CHECKING:
    from bot.runtime import Background, Core

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"
PERSONAL = "personal"
EXECUTE = "adaptiveCard/action"  # the invoke an Action.Execute press sends
FILE_CONSENT = "fileConsent/invoke"  # the invoke a file-consent card's accept/decline sends
OFFER_SECONDS = 30 * 60  # how long an offered file waits (in memory) for the leader's accept
OFFER_BYTES = 64 * 2**20  # all offered files together; the oldest give way past it
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60)
UNREACHABLE = frozenset({403, 404})  # the app was removed or the conversation is gone


def tenant_of(body: dict[str, Any]) -> str | None:
    """The tenant an activity (as JSON) comes from: conversation.tenantId or channelData."""
    conversation = body.get("conversation")
    tenant = conversation.get("tenantId") if isinstance(conversation, dict) else None
    if not tenant:
        data = body.get("channelData")
        inner = data.get("tenant") if isinstance(data, dict) else None
        tenant = inner.get("id") if isinstance(inner, dict) else None
    return tenant.lower() if isinstance(tenant, str) else None


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The SDK's auth settings: the single-tenant Entra app, or anonymous for a local test."""
    if settings.teams_test_mode:
        return AgentAuthConfiguration(client_id=settings.teams_app_id,
                                      tenant_id=settings.teams_tenant_id,
                                      anonymous_allowed=True)
    if settings.teams_cert_file:
        return AgentAuthConfiguration(auth_type=AuthTypes.certificate,
                                      client_id=settings.teams_app_id,
                                      tenant_id=settings.teams_tenant_id,
                                      cert_pfx_file=str(settings.teams_cert_file),
                                      anonymous_allowed=False)
    return AgentAuthConfiguration(auth_type=AuthTypes.client_secret,
                                  client_id=settings.teams_app_id,
                                  tenant_id=settings.teams_tenant_id,
                                  client_secret=settings.teams_app_password,
                                  anonymous_allowed=False)


class TeamsChannel:
    """The Teams host of the process (bot/app.py `Host`): events into the core's pipeline, its
    replies and the bot's own messages (`deliver`, the Outbox) out through the connector."""

    name = identity.TEAMS
    can_edit = True

    def __init__(self, core: Core, settings: Settings,
                 sender: ConnectorSender | None = None) -> None:
        """Bind the core to the Entra app (or test mode)."""
        if not settings.teams_enabled or not settings.teams_tenant_id:
            raise ValueError("TEAMS_APP_ID (or TEAMS_TEST_MODE=1) and TEAMS_TENANT_ID are "
                             "needed to run on Teams")
        self.core = core
        self.service = core.service
        self.inbound = core.inbound
        self.settings = settings
        self.tenant_id = settings.teams_tenant_id
        self.sender = sender or ConnectorSender()
        self.background: list[Background] = []
        self.auth = auth_configuration(settings)
        connections = MsalConnectionManager(
            connections_configurations={"SERVICE_CONNECTION": self.auth})
        self.adapter = CloudAdapter(connection_manager=connections)
        self.adapter.on_turn_error = self._on_turn_error  # the SDK's default echoes the error
        self.names = cards.command_names(self.service)
        self.words = cards.command_words(self.service, self.names)
        # Cards this process sent, to draw them pressed: (conversation, activity id) -> message.
        self.cards: LRUCache[tuple[str, str], OutMessage] = LRUCache(maxsize=10_000)
        # A conversation's sends in order (replies, proactive messages, consent answers).
        self._locks = KeyedLocks()
        # A conversation's activities one at a time, its backlog bounded (bot/backlog.py).
        self.queues: ChatQueues[_Job] = ChatQueues(
            Backlog(identity.TEAMS, settings.chat_backlog, core.clock), self._settle_shed)
        # Files offered by consent card, waiting for the accept: token -> offer (memory only).
        self.offers: TTLCache[str, _Offer] = TTLCache(
            maxsize=OFFER_BYTES, ttl=OFFER_SECONDS, getsizeof=_Offer.size)
        self._tasks: set[asyncio.Task[None]] = set()  # uploads after an answered invoke
        self.port: int | None = None
        self.groups: GroupFeature | None = None  # team check-ins (bot/team/teams.py)

    # ---- lifecycle ----

    def web_app(self) -> web.Application:
        """The aiohttp app: POST /api/messages behind the SDK's JWT middleware."""
        app = web.Application(middlewares=[jwt_authorization_middleware])
        app["agent_configuration"] = self.auth
        app.router.add_post(MESSAGES_PATH, self._messages)
        return app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TeamsChannel]:
        """Listen on TEAMS_HOST:TEAMS_PORT for the duration of the block."""
        # Before listening: replies a crash held back reach their leaders first.
        await self.inbound.redeliver(identity.TEAMS, self)
        runner = web.AppRunner(self.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.teams_host, self.settings.teams_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.teams_port
        log.info("receiving Teams activities on %s:%d%s%s", self.settings.teams_host, self.port,
                 MESSAGES_PATH, " (TEST MODE: no authentication)"
                 if self.settings.teams_test_mode else "")
        try:
            yield self
        finally:
            if self._tasks:  # an upload under way finishes (bounded by its timeout)
                await asyncio.wait(set(self._tasks), timeout=UPLOAD_TIMEOUT.total)
            await runner.cleanup()

    async def wait(self, stop: asyncio.Event) -> int:
        """Until stop is set (Teams has no end of its own)."""
        await stop.wait()
        return 0

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        """POST /api/messages: refuse other tenants before the SDK sees the activity."""
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "invalid JSON"}, status=400)
        if not isinstance(body, dict) or tenant_of(body) != self.tenant_id:
            log.info("refused an activity from a tenant this bot does not serve")
            return web.json_response({"error": "tenant not served"}, status=403)
        response = await self.adapter.process(request, self)
        return response if response is not None else web.Response(status=202)

    # ---- the Outbox ----

    async def deliver(self, reference: str, messages: list[OutMessage]) -> list[str]:
        """Send messages the bot starts itself (nudges, follow-ups) to the conversation a
        stored reference (JSON) names; raises when it cannot be read or the connector refuses;
        the ids of the activities sent."""
        stored = ConversationReference.model_validate_json(reference)
        conversation = stored.conversation.id if stored.conversation else ""
        if not conversation:
            raise LookupError("a Teams conversation reference without a conversation")
        failures: list[BaseException] = []
        ids: list[str] = []

        async def sent(message: OutMessage, more: list[str]) -> None:
            ids.extend(more)

        async def callback(context: TurnContext) -> None:
            """Inside the proactive turn: send with the turn's connector client."""
            try:
                async with self._locks.hold(conversation):
                    await self._send(context, conversation, messages, stored, sent)
            except BaseException as exc:
                failures.append(exc)

        await self._continue(stored, callback)
        if failures:
            raise failures[0]
        return ids

    async def _continue(self, reference: ConversationReference, callback: Any) -> None:
        """A proactive turn in a stored conversation."""
        continuation = reference.get_continuation_activity()
        if self.settings.teams_test_mode:
            await self.adapter.continue_conversation_with_claims(
                ClaimsIdentity(), continuation, callback)  # anonymous
        else:
            await self.adapter.continue_conversation(self.settings.teams_app_id or "",
                                                     continuation, callback)

    async def open_personal_chat(self, context: TurnContext, aad_object_id: str) -> str | None:
        """Create (or find) the 1:1 conversation with a member of this tenant; its id. For
        proactive messages to someone who never wrote to the bot (e.g. a team member)."""
        parameters = ConversationParameters.model_validate({
            "isGroup": False, "bot": context.activity.recipient,
            "members": [ChannelAccount(id=aad_object_id)], "tenantId": self.tenant_id})
        client = _client(context)
        if client is None:
            return None
        result = await self.sender.create_conversation(client.conversations, self.tenant_id,
                                                       parameters)
        return getattr(result, "id", None)

    # ---- turns ----

    async def on_turn(self, context: TurnContext) -> None:
        """Every activity the SDK accepted (the SDK's Agent protocol)."""
        activity = context.activity
        tenant = tenant_of(activity.model_dump(by_alias=True, mode="json"))
        if tenant != self.tenant_id:  # the route checked already; never trust one check
            return
        conversation = activity.conversation
        user = activity.from_property
        if conversation is None or user is None or not conversation.id:
            return
        aad = (user.aad_object_id or "").lower()
        personal = (conversation.conversation_type or PERSONAL) == PERSONAL
        if activity.type == ActivityTypes.conversation_update:
            if personal and aad and self._bot_added(activity):
                await self._handle(context, conversation.id, self._event(context, aad, "open"))
            elif not personal and self.groups is not None:
                await self.groups.on_group_update(context)
            return
        if activity.type == ActivityTypes.message_update:
            if personal and aad:  # an edited message: the answer was taken as first sent
                await self._handle(context, conversation.id, self._edit_event(context, aad))
            return
        if activity.type not in (ActivityTypes.message, ActivityTypes.invoke) or not aad:
            return
        if personal and activity.type == ActivityTypes.invoke and activity.name == FILE_CONSENT:
            await self._on_file_consent(context, conversation.id, aad)
            return
        if activity.type == ActivityTypes.invoke and activity.name != EXECUTE:
            await self._invoke_response(context, None)  # not a card press: nothing to do
            return
        if not personal:
            if self.groups is None or not await self.groups.on_group(context):
                await self._on_group(context)
            return
        if self.groups is not None and await self.groups.wants_private(context, aad):
            await self.groups.on_private(context, aad)
            return
        event = self._to_event(context, aad)
        if event is not None:
            await self._handle(context, conversation.id, event)

    def _to_event(self, context: TurnContext, aad: str) -> InEvent | None:
        """A 1:1 message, card press or Action.Execute invoke as the core's event."""
        activity = context.activity
        if activity.type == ActivityTypes.invoke or activity.value is not None:
            return self._event(context, aad, "button",
                               data=cards.submitted_data(activity.value) or "")
        attachment = cards.attachment_kind(activity.attachments or [])
        if attachment:  # as on Telegram: words only; a caption is not taken without its file
            return self._event(context, aad, "attachment", attachment=attachment)
        text = cards.strip_mentions(activity.text or "")
        if text:
            command = cards.parse_command(text, self.words)
            if command is not None:
                return self._event(context, aad, "command", command=command[0],
                                   text=command[1])
            return self._event(context, aad, "text", text=text)
        return None

    def _event(self, context: TurnContext, aad: str, kind: EventKind, command: str = "",
               text: str = "", data: str = "", attachment: str = "") -> InEvent:
        """The event with this turn's identity, reference, locale and activity id."""
        activity = context.activity
        # An activity without an id (rare: some invokes) cannot be recognised when repeated.
        event_id = activity.id or f"local:{uuid.uuid4()}"
        return InEvent(channel=identity.TEAMS, event_id=event_id, user_id=aad,
                       reference=_stored_reference(context), kind=kind,
                       language=activity.locale, command=command, text=text, data=data,
                       attachment=attachment)

    def _edit_event(self, context: TurnContext, aad: str) -> InEvent:
        """A messageUpdate as the core's edit event. It carries the edited message's id, which
        the pipeline already claimed for the message itself: the edit's own id adds when."""
        activity = context.activity
        event = self._event(context, aad, "edit")
        stamp = activity.timestamp.isoformat() if activity.timestamp else uuid.uuid4().hex
        return replace(event, event_id=f"{event.event_id}:edit:{stamp}")

    async def _handle(self, context: TurnContext, conversation_id: str, event: InEvent) -> None:
        """The core's pipeline, one event at a time per conversation; an invoke is always
        answered (Teams waits for it)."""
        turn = _Turn(self, context, conversation_id)
        job = _Job(self, event, turn, asyncio.get_running_loop().create_future())
        self.queues.submit(conversation_id, job)
        await job.done  # False: shed by a flood's backlog, answered at once
        if context.activity.type == ActivityTypes.invoke and not turn.answered:
            await self._invoke_response(context, None)

    async def _settle_shed(self, dropped: list[InEvent], notify: bool) -> None:
        """Record shed activities as done and maybe tell the leader (bot/inbound.py)."""
        await self.inbound.shed(dropped, notify, self._say)

    async def _say(self, event: InEvent, messages: list[OutMessage]) -> None:
        """Send messages to the conversation an event came from (its stored reference)."""
        await self.deliver(event.reference, messages)

    async def _on_group(self, context: TurnContext) -> None:
        """Group chats and channels: a leader command gets a pointer to the personal chat."""
        activity = context.activity
        if activity.type != ActivityTypes.message or activity.value is not None:
            return
        command = cards.parse_command(cards.strip_mentions(activity.text or ""), self.words)
        if command is None or command[0] not in self.names:
            return
        lang = language_for(activity.locale, self.service.dialogues.languages)
        conversation = activity.conversation
        assert conversation is not None and conversation.id
        await self._post(context, conversation.id, cards.text_activity(
            self.service.ui("tg_private_only", lang)))

    # ---- team check-ins in groups: bot/team/teams.py registers here and sends through these ----

    def register_groups(self, groups: GroupFeature) -> None:
        """Route group @mentions, group card presses, group installs and the members' 1:1
        governance examples to the team feature."""
        self.groups = groups

    async def proactive(self, reference: ConversationReference, callback: Any) -> None:
        """A proactive turn in a stored conversation (a group's, for team posts)."""
        await self._continue(reference, callback)

    def client(self, context: TurnContext) -> ConnectorClientBase:
        """The turn's connector client (TeamsSendError when the SDK made none)."""
        client = _client(context)
        if client is None:
            raise TeamsSendError("send", None)
        return client

    # ---- errors ----

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        """Log the error's type and place only (its message may quote a leader); the pipeline
        has told the leader already when the failure was in their event."""
        stack = "".join(traceback.format_tb(error.__traceback__))
        log.error("a Teams turn failed with %s\n%s", type(error).__name__, stack)

    # ---- drawing ----

    async def render(self, context: TurnContext, conversation_id: str, reply: Reply,
                     turn: _Turn) -> None:
        """Draw a reply: the toast, the pressed card, then the messages."""
        activity = context.activity
        invoke = activity.type == ActivityTypes.invoke
        origin = activity.reply_to_id
        cached = self.cards.get((conversation_id, origin)) if origin else None
        messages = list(reply.messages)
        content: dict[str, Any] | None = None
        replacement = next((m for m in messages if m.replace), None)
        if reply.pressed == "replace" and replacement is not None:
            messages.remove(replacement)
            content = cards.card(replacement.text, replacement.buttons)
        elif reply.pressed == "mark_chosen" and cached is not None and cached.buttons:
            data = cards.submitted_data(activity.value) or ""
            content = cards.pressed_card(cached.text, cards.label_of(cached, data))
        elif reply.pressed == "clear_buttons" and cached is not None and cached.buttons:
            # A card already drawn pressed (a double press) is not updated again: no change.
            content = cards.pressed_card(cached.text, None)
        if invoke and reply.toast is not None:
            # An Action.Execute press is answered with the card to show in its place.
            await self._invoke_response(context, content)
            turn.answered = True
            updated = content is not None
        elif content is not None and origin:
            updated = await self._update_card(context, conversation_id, origin, content)
        else:
            updated = False
        if updated and origin and cached is not None and reply.pressed in (
                "mark_chosen", "clear_buttons"):
            self.cards[(conversation_id, origin)] = cached.model_copy(update={"buttons": []})
        if replacement is not None and reply.pressed == "replace":
            if updated and origin:
                self.cards[(conversation_id, origin)] = replacement
                await reply.delivered(replacement, [origin])
            else:
                messages.insert(0, replacement)  # the edit was impossible: send it instead
        if reply.toast and not messages:
            # Teams has no toast for a pressed card: the short notice is said as a message.
            messages = [OutMessage(text=reply.toast)]
        await self._send(context, conversation_id, messages, sent=reply.delivered)

    async def _send(self, context: TurnContext, conversation_id: str,
                    messages: list[OutMessage],
                    reference: ConversationReference | None = None,
                    sent: Delivered | None = None) -> None:
        """Draw messages in order; cards are remembered to be drawn pressed later; each one
        out is reported to sent with its activity ids."""
        for message in messages:
            ids: list[str] = []
            for drawn in cards.render(message):
                activity_id = await self._post(context, conversation_id, drawn, reference)
                if activity_id:
                    ids.append(activity_id)
                if activity_id and drawn.get("attachments") and message.buttons and any(
                        a.get("contentType") == cards.CARD_TYPE for a in drawn["attachments"]):
                    self.cards[(conversation_id, activity_id)] = message
            for attachment in message.attachments:
                if attachment.kind == "document":
                    await self._offer_file(context, conversation_id, attachment, reference)
            if sent is not None:
                await sent(message, ids)

    async def _post(self, context: TurnContext, conversation_id: str, drawn: dict[str, Any],
                    reference: ConversationReference | None = None) -> str | None:
        """One activity to the conversation through the paced sender; its id."""
        client = _client(context)
        if client is None:
            raise TeamsSendError("send", None)
        activity = Activity.model_validate(drawn)
        activity.apply_conversation_reference(_unthreaded(reference or _reference(context)))
        try:
            return await self.sender.send(client.conversations, conversation_id,
                                          self.tenant_id, activity)
        except TeamsSendError as exc:
            if exc.status in UNREACHABLE:
                raise Unreachable() from None
            raise

    async def _update_card(self, context: TurnContext, conversation_id: str, activity_id: str,
                           content: dict[str, Any]) -> bool:
        """Replace a sent card; False if the connector refused."""
        client = _client(context)
        if client is None:
            return False
        activity = Activity.model_validate({**cards.card_activity(content), "id": activity_id})
        activity.apply_conversation_reference(_reference(context))
        try:
            await self.sender.update(client.conversations, conversation_id, self.tenant_id,
                                     activity_id, activity)
        except TeamsSendError as exc:
            log.info("could not update a pressed card: %s", exc.status)
            return False
        return True

    async def _invoke_response(self, context: TurnContext, content: dict[str, Any] | None
                               ) -> None:
        """Answer an adaptiveCard/action invoke (within Teams' ~10 s): the card to show, or
        a plain acknowledgement."""
        if context.activity.type != ActivityTypes.invoke:
            return
        if content is None:
            body: dict[str, Any] = {"statusCode": 200,
                                    "type": "application/vnd.microsoft.activity.message",
                                    "value": ""}
        else:
            body = {"statusCode": 200, "type": cards.CARD_TYPE, "value": content}
        await context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                             value={"status": 200, "body": body}))

    # ---- files by consent card (/export) ----

    async def _offer_file(self, context: TurnContext, conversation_id: str,
                          attachment: Attachment,
                          reference: ConversationReference | None = None) -> None:
        """Send a file-consent card for a document; the file waits in memory for the accept."""
        user = (reference.user if reference is not None else context.activity.from_property)
        aad = ((user.aad_object_id if user is not None else None) or "").lower()
        token = secrets.token_urlsafe(24)
        self.offers[token] = _Offer(conversation_id, aad, attachment)
        await self._post(context, conversation_id,
                         cards.file_consent_activity(attachment, token), reference)

    async def _on_file_consent(self, context: TurnContext, conversation_id: str,
                               aad: str) -> None:
        """A fileConsent/invoke: settle the offer now (a token is used once), answer the invoke
        at once (Teams waits for it), then upload and tell the leader in the background."""
        activity = context.activity
        answer = cards.consent_answer(activity.value)
        offer = self.offers.pop(answer[1], None) if answer is not None else None
        if offer is not None and (offer.conversation_id != conversation_id or
                                  (offer.aad and offer.aad != aad)):
            offer = None  # another conversation's card: that offer is void now too
        lang = language_for(activity.locale, self.service.dialogues.languages)
        if offer is not None:
            lang = await self._admitted_language(aad) or ""
            if not lang:
                offer = None  # the leader left (or was shut out) since the card was sent
        lang = lang or language_for(activity.locale, self.service.dialogues.languages)
        await context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                             value={"status": 200}))
        action, upload = (answer[0], answer[2]) if answer is not None and offer else ("", {})
        if action == "accept" and offer is not None and not self._upload_allowed(
                str(upload.get("uploadUrl"))):
            log.warning("a file-consent accept named an upload address that is not allowed")
            offer, action = None, ""
        task = asyncio.create_task(self._settle_offer(
            _reference(context), conversation_id, lang, action, offer, upload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admitted_language(self, aad: str) -> str | None:
        """The language of the Teams leader with this id, if they are still let in."""
        leader_id = identity.leader_id(identity.TEAMS, aad)
        async with self.service.store.read() as conn:
            exists, via = await tgrepo.admitted_via(conn, leader_id)
            leader = await repo.get_leader(conn, leader_id) if exists else None
        return leader.language if leader is not None and via != tgrepo.REVOKED else None

    def _upload_allowed(self, url: str) -> bool:
        """Uploads go to HTTPS (OneDrive); plain HTTP only to loopback in test mode."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return True
        return bool(self.settings.teams_test_mode and parts.scheme == "http"
                    and parts.hostname in ("127.0.0.1", "localhost"))

    async def _settle_offer(self, reference: ConversationReference, conversation_id: str,
                            lang: str, action: str, offer: _Offer | None,
                            upload: dict[str, Any]) -> None:
        """After the invoke was answered: upload and show the file-info card (accept), say
        so (decline, a failed upload), or "closed" (no valid offer)."""
        if action == "accept" and offer is not None:
            uploaded = await self._upload(str(upload["uploadUrl"]), offer.attachment.data)
            drawn = (cards.file_info_activity(upload) if uploaded else
                     cards.text_activity(self.service.ui("teams_export_failed", lang)))
        elif action == "decline":
            drawn = cards.text_activity(self.service.ui("teams_export_declined", lang))
        else:
            drawn = cards.text_activity(self.service.ui("tg_closed", lang))

        async def callback(context: TurnContext) -> None:
            """Inside the proactive turn: post in the conversation's order."""
            async with self._locks.hold(conversation_id):
                await self._post(context, conversation_id, drawn, reference)

        try:
            await self._continue(reference, callback)
        except Exception as exc:  # the leader can ask again; nothing is kept
            log.warning("could not answer a file consent on Teams: %s", type(exc).__name__)

    async def _upload(self, url: str, data: bytes) -> bool:
        """PUT the whole file to the upload session Teams opened (OneDrive's one-request
        upload: Content-Range over every byte); whether it was stored."""
        headers = {"Content-Length": str(len(data)),
                   "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
        try:
            async with aiohttp.ClientSession(timeout=UPLOAD_TIMEOUT) as session, \
                    session.put(url, data=data, headers=headers) as response:
                metrics.api_call("teams", "uploadFile", response.status)
                if response.status not in (200, 201):
                    log.warning("a file upload to Teams was refused with %s", response.status)
                    return False
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("a file upload to Teams failed: %s", type(exc).__name__)
            metrics.api_call("teams", "uploadFile", "network_error")
            return False
        return True

    @staticmethod
    def _bot_added(activity: Activity) -> bool:
        """Whether a conversationUpdate adds the bot itself (an install)."""
        recipient = activity.recipient
        return bool(recipient and any(m.id == recipient.id
                                      for m in activity.members_added or []))


class GroupFeature(Protocol):
    """What the team feature offers the channel (bot/team/teams.py TeamTeams)."""

    async def on_group_update(self, context: TurnContext) -> None:
        """A conversationUpdate in a group chat or team (install, removal)."""
        ...

    async def on_group(self, context: TurnContext) -> bool:
        """A group message or press; False when it is not the feature's."""
        ...

    async def wants_private(self, context: TurnContext, aad: str) -> bool:
        """Whether a 1:1 message belongs to the feature (a member's example)."""
        ...

    async def on_private(self, context: TurnContext, aad: str) -> None:
        """Take that 1:1 message."""
        ...


@dataclass(frozen=True)
class _Offer:
    """A file offered by consent card: whose conversation, whose card, and the file."""

    conversation_id: str
    aad: str
    attachment: Attachment

    def size(self) -> int:
        """What it takes in memory, about (for the bound on all offers)."""
        return len(self.attachment.data) + 1


@dataclass(eq=False)
class _Job:
    """One 1:1 activity waiting in its conversation's queue (bot/backlog.py `Queued`); its
    request waits on done: True when handled, False when shed."""

    channel: TeamsChannel
    event: InEvent
    turn: _Turn
    done: asyncio.Future[bool]

    async def run(self) -> None:
        """The core's pipeline, drawing into the activity's own turn."""
        try:
            async with self.channel._locks.hold(self.turn.conversation_id):
                await self.channel.inbound.handle(self.event, self.turn)
        finally:
            if not self.done.done():
                self.done.set_result(True)

    def drop(self) -> None:
        """Shed: the waiting request is let go without a step."""
        if not self.done.done():
            self.done.set_result(False)


@dataclass
class _Turn:
    """The pipeline's view of one turn (bot/inbound.py `Channel`): draws into this turn."""

    channel: TeamsChannel
    context: TurnContext
    conversation_id: str
    answered: bool = field(default=False)  # whether the invoke got its response

    @property
    def can_edit(self) -> bool:
        """Teams answers presses and updates the pressed card."""
        return True

    async def render(self, event: InEvent, reply: Reply) -> None:
        """Draw the reply in this turn's conversation."""
        await self.channel.render(self.context, self.conversation_id, reply, self)


def _stored_reference(context: TurnContext) -> str:
    """The turn's conversation reference as the core keeps it: JSON, without the activity id
    (proactive messages start new threads, not replies)."""
    reference = _reference(context)
    if reference.user is not None:
        # Only what reaching them needs: their display name is not kept.
        reference.user = reference.user.model_copy(update={"name": None})
    return reference.model_dump_json(by_alias=True, exclude_none=True)


def _client(context: TurnContext) -> ConnectorClientBase | None:
    """The connector client the SDK made for this turn's serviceUrl."""
    client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    return client if isinstance(client, ConnectorClientBase) else None


def _reference(context: TurnContext) -> ConversationReference:
    """The turn's conversation, for activities that are not replies to it."""
    return _unthreaded(context.activity.get_conversation_reference())


def _unthreaded(reference: ConversationReference) -> ConversationReference:
    """A reference without an activity id: what is sent starts its own message, not a reply."""
    return reference.model_copy(update={"activity_id": None})
