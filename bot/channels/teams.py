"""Microsoft Teams through the Microsoft 365 Agents SDK: a thin adapter around BotService.

The SDK hosts `/api/messages` on aiohttp (JWT-checked for the configured Entra app, or
anonymous in TEAMS_TEST_MODE, which only listens on 127.0.0.1), turns each POST into a turn,
and gives the turn a connector client for the activity's serviceUrl. This module turns the turn
into a BotService call and draws the reply (bot/channels/teams_cards.py) through the paced,
retried sender (bot/channels/teams_send.py).

- Only the configured tenant is served: another tenant's activity is answered 403 before the
  SDK sees it, and nothing about it is stored.
- Leaders talk in their personal (1:1) chat; their id is `teams:<aadObjectId>`; the Teams
  locale chooses a new leader's language; the conversation reference is kept (table
  teams_conversations) so nudges and follow-ups reach them after a restart.
- A card press (Action.Submit value or an Action.Execute invoke) becomes a button input; the
  pressed card is updated to show the chosen answer with no live buttons.
- In group chats and channels the bot hears only @mentions; leader commands there get a
  pointer to the personal chat (team check-ins in Teams come with the core's TeamGateway).

POLICY TO MOVE ONTO THE CORE PIPELINE (bot/inbound.py, issue 12): de-duplication of activity
ids, admission through the Gate, first-contact onboarding and error recovery below are kept
minimal and marked `# pipeline:`; they mirror bot/channels/telegram.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from aiohttp import web
from cachetools import LRUCache
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

from bot.access import Admission, Cooldown, Gate
from bot.channels import teams_cards as cards
from bot.channels.teams_send import ConnectorSender, TeamsSendError
from bot.clock import Clock, iso
from bot.config import Settings
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.service import BotService, Who, language_for
from bot.store import repo
from bot.store import teams as teamsrepo
from bot.store import telegram as tgrepo

log = logging.getLogger(__name__)

TEAMS_PREFIX = "teams:"
MESSAGES_PATH = "/api/messages"
ACTIVITY_MEMORY = timedelta(days=2)
PRUNE_EVERY = 1000
PERSONAL = "personal"


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
    """Runs BotService on Teams; also the Outbox for messages the bot starts itself."""

    def __init__(self, service: BotService, settings: Settings, clock: Clock,
                 sender: ConnectorSender | None = None) -> None:
        """Bind the service to the Entra app (or test mode) and the access rules."""
        if not settings.teams_enabled or not settings.teams_tenant_id:
            raise ValueError("TEAMS_APP_ID (or TEAMS_TEST_MODE=1) and TEAMS_TENANT_ID are "
                             "needed to run on Teams")
        self.service = service
        self.settings = settings
        self.clock = clock
        self.tenant_id = settings.teams_tenant_id
        self.sender = sender or ConnectorSender()
        self.auth = auth_configuration(settings)
        connections = MsalConnectionManager(
            connections_configurations={"SERVICE_CONNECTION": self.auth})
        self.adapter = CloudAdapter(connection_manager=connections)
        self.adapter.on_turn_error = self._on_turn_error  # the SDK's default echoes the error
        # pipeline: the Gate with Teams' own allow-list (AAD object ids) instead of Telegram's.
        self.gate = Gate(service.store, settings.model_copy(
            update={"allowed_user_ids": frozenset()}), clock, service.dialogues.languages)
        self.allowed = settings.teams_allowed_ids
        self.refusals = Cooldown()
        self.names = cards.command_names(service)
        self.words = cards.command_words(service, self.names)
        # Cards this process sent, to draw them pressed: (conversation, activity id) -> message.
        self.cards: LRUCache[tuple[str, str], OutMessage] = LRUCache(maxsize=10_000)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._claims = 0
        self.port: int | None = None

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
        await self._prune()
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
            await runner.cleanup()

    async def reconcile(self) -> int:
        """At start: shut out Teams leaders let in by TEAMS_ALLOWED_IDS whom it no longer
        names (as the Gate does for Telegram's list); return how many."""
        if self.gate.open:
            return 0
        listed = {f"{TEAMS_PREFIX}{aad}" for aad in self.allowed}
        now = iso(self.clock.now())
        async with self.service.store.transaction() as tx:
            gone = await tgrepo.unlisted_leaders(tx, TEAMS_PREFIX, listed)
            for leader_id in gone:
                await tgrepo.set_admission(tx, leader_id, tgrepo.REVOKED, now)
        return len(gone)

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

    async def deliver(self, chat_id: str, messages: list[OutMessage]) -> None:
        """Send messages the bot starts itself (nudges, follow-ups) to a stored conversation;
        raises when there is no reference or the connector refuses."""
        async with self.service.store.transaction() as tx:
            raw = await teamsrepo.reference_for(tx, chat_id)
        if raw is None:
            raise LookupError("no Teams conversation reference for this chat")
        reference = ConversationReference.model_validate_json(raw)
        failures: list[BaseException] = []

        async def callback(context: TurnContext) -> None:
            """Inside the proactive turn: send with the turn's connector client."""
            try:
                async with self._locks[chat_id]:
                    await self._send(context, chat_id, messages, reference)
            except BaseException as exc:
                failures.append(exc)

        continuation = reference.get_continuation_activity()
        if self.settings.teams_test_mode:
            await self.adapter.continue_conversation_with_claims(
                ClaimsIdentity(), continuation, callback)  # anonymous
        else:
            await self.adapter.continue_conversation(self.settings.teams_app_id or "",
                                                     continuation, callback)
        if failures:
            raise failures[0]

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
                await self._on_install(context, aad)
            return
        if activity.type not in (ActivityTypes.message, ActivityTypes.invoke) or not aad:
            return
        if not personal:
            await self._on_group(context)
            return
        who = Who(leader_id=f"{TEAMS_PREFIX}{aad}", chat_id=conversation.id,
                  language_code=activity.locale)
        text = cards.strip_mentions(activity.text or "")
        command = cards.parse_command(text, self.words) if text and activity.value is None \
            else None
        code = command[1] if command and command[0] == "start" and command[1] else None
        admission = await self._admit(who, aad, code)  # pipeline: admission
        if not admission.allowed:
            await self._refuse(context, aad, admission.closed)
            return
        async with self._locks[conversation.id]:
            key = teamsrepo.activity_key(conversation.id, activity.id or "")
            seen = await self._claim(key) if activity.id else None  # pipeline: dedup
            if seen == "done":
                log.info("a Teams activity was already handled; ignoring the repeat")
                return
            await self._remember(who, activity)
            if seen == "processing":
                log.warning("a Teams activity was interrupted earlier; resuming instead")
                await self._send(context, who.chat_id, await self.service.resume(who))
            else:
                await self._on_personal(context, who, text, command, admission.new)
            if activity.id:
                await self._finish(key)

    async def _on_personal(self, context: TurnContext, who: Who, text: str,
                           command: tuple[str, str] | None, new: bool) -> None:
        """A leader's message, card press or invoke in their 1:1 chat."""
        activity = context.activity
        onboarding = new and "onboarding" in self.service.command_handlers  # pipeline
        if activity.type == ActivityTypes.invoke or activity.value is not None:
            await self._on_press(context, who)
        elif command is not None:
            name, args = command
            if name == "start":
                out = await self.service.handle_command(
                    who, "onboarding" if onboarding else "start")
            else:
                out = await self.service.handle_command(who, name, args)
            await self._send(context, who.chat_id, out)
        elif text:
            if onboarding:
                out = await self.service.handle_command(who, "onboarding")
            else:
                out = await self.service.handle_input(who, TextInput(text=text))
            await self._send(context, who.chat_id, out)
        elif activity.attachments:
            await self._say(context, who, "tg_unsupported")

    async def _on_press(self, context: TurnContext, who: Who) -> None:
        """A card button: step the service, then update the pressed card in place."""
        activity = context.activity
        invoke = activity.type == ActivityTypes.invoke
        data = cards.submitted_data(activity.value)
        origin = activity.reply_to_id
        cached = self.cards.get((who.chat_id, origin)) if origin else None
        if invoke and activity.name != "adaptiveCard/action":
            await self._invoke_response(context, None)
            return
        if data is None:  # junk or a forged shape: nothing changes
            await self._closed(context, who, invoke)
            return
        out = await self.service.handle_input(who, ButtonInput(data=data))
        if len(out) == 1 and out[0].key == "stale_button":
            await self._closed(context, who, invoke)
            if cached is not None and origin:
                await self._update_card(context, who.chat_id, origin,
                                        cards.pressed_card(cached.text, None))
            return
        if all(m.kind == "error" for m in out):  # rejected: the question stays open
            if invoke:
                await self._invoke_response(context, None)
            await self._send(context, who.chat_id, out)
            return
        replacement = next((m for m in out if m.replace), None)
        if replacement is not None:
            out = [m for m in out if m is not replacement]
            new_card = cards.card(replacement.text, replacement.buttons)
            if origin and await self._update_or_answer(context, who.chat_id, origin,
                                                       new_card, invoke):
                self.cards[(who.chat_id, origin)] = replacement
            else:
                out.insert(0, replacement)
        elif cached is not None and origin:
            chosen = cards.pressed_card(cached.text, cards.label_of(cached, data))
            await self._update_or_answer(context, who.chat_id, origin, chosen, invoke)
        elif invoke:
            await self._invoke_response(context, None)
        await self._send(context, who.chat_id, out)

    async def _on_install(self, context: TurnContext, aad: str) -> None:
        """The app was installed in a leader's personal scope: welcome an admitted leader and
        keep the reference, so nudges can reach them; nothing is stored about anyone else."""
        conversation = context.activity.conversation
        assert conversation is not None and conversation.id
        who = Who(leader_id=f"{TEAMS_PREFIX}{aad}", chat_id=conversation.id,
                  language_code=context.activity.locale)
        admission = await self._admit(who, aad, None)
        if not admission.allowed:
            return  # an install is not a message: no refusal is sent
        async with self._locks[conversation.id]:
            if admission.new and "onboarding" in self.service.command_handlers:
                out = await self.service.handle_command(who, "onboarding")
            else:
                out = []
                await self.service.language_of(who)  # creates the leader row if needed
            await self._remember(who, context.activity)
            await self._send(context, who.chat_id, out)

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

    # ---- access (pipeline: moves to bot/inbound.py) ----

    async def _admit(self, who: Who, aad: str, code: str | None) -> Admission:
        """The Gate, with TEAMS_ALLOWED_IDS as Teams' list of AAD object ids."""
        if aad in self.allowed:
            async with self.service.store.transaction() as tx:
                exists, via = await tgrepo.admitted_via(tx, who.leader_id)
            if exists:
                return Admission(allowed=via != tgrepo.REVOKED, new=False,
                                 closed=via == tgrepo.REVOKED)
            return Admission(allowed=True, new=True)
        return await self.gate.admit(who.leader_id, -1, who.chat_id, who.language_code, code)

    async def _refuse(self, context: TurnContext, aad: str, closed: bool) -> None:
        """A polite refusal at most once a minute; nothing about the person is stored."""
        activity = context.activity
        lang = language_for(activity.locale, self.service.dialogues.languages)
        log.info("refused a Teams activity from a person who is not an admitted leader")
        if activity.type == ActivityTypes.invoke:
            await self._invoke_response(context, None)
        conversation = activity.conversation
        if conversation is None or not conversation.id:
            return
        if self.refusals.ready(aad, self.clock.now()):
            key = "tg_access_closed" if closed else "tg_refused"
            await self._post(context, conversation.id,
                             cards.text_activity(self.service.ui(key, lang)))

    async def _claim(self, key: str) -> str | None:
        """Record the activity as in progress; its earlier status if it was seen before."""
        async with self.service.store.transaction() as tx:
            seen = await teamsrepo.claim_activity(tx, key, iso(self.clock.now()))
        self._claims += 1
        if self._claims % PRUNE_EVERY == 0:
            await self._prune()
        return seen

    async def _finish(self, key: str) -> None:
        """Record that the activity was handled and its replies sent."""
        async with self.service.store.transaction() as tx:
            await teamsrepo.finish_activity(tx, key)

    async def _prune(self) -> None:
        """Forget activity ids older than Teams could redeliver."""
        async with self.service.store.transaction() as tx:
            await teamsrepo.prune_activities(tx, iso(self.clock.now() - ACTIVITY_MEMORY))

    async def _remember(self, who: Who, activity: Activity) -> None:
        """Keep the leader's conversation reference (for proactive messages)."""
        reference = activity.get_conversation_reference()
        reference.activity_id = None  # proactive messages start new threads, not replies
        raw = reference.model_dump_json(by_alias=True, exclude_none=True)
        async with self.service.store.transaction() as tx:
            if await repo.get_leader(tx, who.leader_id) is None:
                return
            await teamsrepo.save_reference(tx, who.leader_id, who.chat_id, raw,
                                           iso(self.clock.now()))

    # ---- errors ----

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        """Log the error's type and place only (its message may quote a leader), then tell
        the leader and show where the conversation stands."""
        stack = "".join(traceback.format_tb(error.__traceback__))
        log.error("a Teams turn failed with %s\n%s", type(error).__name__, stack)
        activity = context.activity
        user, conversation = activity.from_property, activity.conversation
        if user is None or conversation is None or not conversation.id or not user.aad_object_id:
            return
        if (conversation.conversation_type or PERSONAL) != PERSONAL:
            return
        who = Who(leader_id=f"{TEAMS_PREFIX}{user.aad_object_id.lower()}",
                  chat_id=conversation.id, language_code=activity.locale)
        try:
            async with self.service.store.transaction() as tx:
                leader = await repo.get_leader(tx, who.leader_id)
            if leader is not None:
                sorry = OutMessage(text=self.service.ui("tg_error", leader.language))
                await self._send(context, who.chat_id, [sorry, *await self.service.resume(who)])
        except Exception as exc:  # reporting must never raise out of the error handler
            log.error("could not tell a Teams leader about a failed turn: %s",
                      type(exc).__name__)

    # ---- drawing ----

    async def _closed(self, context: TurnContext, who: Who, invoke: bool) -> None:
        """'This question is closed', changing nothing."""
        if invoke:
            await self._invoke_response(context, None)
        await self._say(context, who, "tg_closed")

    async def _say(self, context: TurnContext, who: Who, key: str) -> None:
        """A short reply from the interface wording."""
        text = self.service.ui(key, await self.service.language_of(who))
        await self._send(context, who.chat_id, [OutMessage(text=text)])

    async def _send(self, context: TurnContext, conversation_id: str,
                    messages: list[OutMessage],
                    reference: ConversationReference | None = None) -> None:
        """Draw messages in order; cards are remembered to be drawn pressed later."""
        for message in messages:
            for drawn in cards.render(message):
                activity_id = await self._post(context, conversation_id, drawn, reference)
                if activity_id and drawn.get("attachments") and message.buttons and any(
                        a.get("contentType") == cards.CARD_TYPE for a in drawn["attachments"]):
                    self.cards[(conversation_id, activity_id)] = message
            if any(a.kind == "document" for a in message.attachments):
                # A 1:1 file needs a file-consent card and an upload: not drawn yet.
                log.info("a document attachment was not sent on Teams (not supported yet)")

    async def _post(self, context: TurnContext, conversation_id: str, drawn: dict[str, Any],
                    reference: ConversationReference | None = None) -> str | None:
        """One activity to the conversation through the paced sender; its id."""
        client = _client(context)
        if client is None:
            raise TeamsSendError("send", None)
        activity = Activity.model_validate(drawn)
        activity.apply_conversation_reference(_unthreaded(reference or _reference(context)))
        return await self.sender.send(client.conversations, conversation_id, self.tenant_id,
                                      activity)

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

    async def _update_or_answer(self, context: TurnContext, conversation_id: str,
                                activity_id: str, content: dict[str, Any], invoke: bool) -> bool:
        """An Action.Execute invoke gets the new card as its answer; a submit an update."""
        if invoke:
            await self._invoke_response(context, content)
            return True
        return await self._update_card(context, conversation_id, activity_id, content)

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

    @staticmethod
    def _bot_added(activity: Activity) -> bool:
        """Whether a conversationUpdate adds the bot itself (an install)."""
        recipient = activity.recipient
        return bool(recipient and any(m.id == recipient.id
                                      for m in activity.members_added or []))


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
