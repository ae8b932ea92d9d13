"""Team check-ins in Microsoft Teams group chats and team channels: the gateway (posts and
in-place updates through the paced connector sender, 1:1 chats opened with POST
/v3/conversations, the bot-kept admins) and the hooks that route @mention commands, card presses
and members' private examples to the channel's TeamService (bot/team/service.py).

Teams does not tell a bot who owns a chat or a team without Microsoft Graph, so the bot keeps the
check-in admins of each group itself (migration 0021, scoped keyed hashes only): whoever
installed the app in the group (the install's `from`), or, when that is not known, whoever first
runs `checkin setup`; an admin names co-admins (`checkin admin @colleague`) or hands the task
over (`checkin handover @colleague`). Everyone else changes nothing and hears so privately, at
most once a minute per group.

Members stay anonymous as on Telegram: the TeamService sees a member only as an opaque address,
the member's AAD object id sealed (AES-SIV, deterministic, under a key derived from the team
salt), so the hashes it computes are stable and what it keeps until a round's result is told
(the admin's address) is not an AAD id. Group conversation references are kept without the
member who happened to write. Card presses in a group are Action.Execute invokes, answered with
a confirmation only the presser sees; the pulse card is updated in place (PUT) with the live
count.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from cachetools import LRUCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    ConversationAccount,
    ConversationReference,
)
from microsoft_agents.hosting.core import TurnContext

from bot import identity
from bot.channels import teams_cards as cards
from bot.channels.teams_send import TeamsSendError
from bot.clock import iso
from bot.dialogue.state import OutMessage
from bot.store import team as repo
from bot.store import team_admins as admins
from bot.team.delivery import GroupGone
from bot.team.service import Team, TeamService
from bot.team.views import member_language

if TYPE_CHECKING:
    from bot.channels.teams import TeamsChannel

log = logging.getLogger(__name__)

CHANNEL = identity.TEAMS  # the channel name Teams groups are stored under
ROUND_BUTTON = "tgs:"  # the invitation button's data: tgs:<round token>
GROUP_PREFIXES = ("tp", "tv", "tw")  # pulse answers, votes, setup wizard steps
PRIVATE_PREFIX = "tg:"  # red or green, pressed in the member's 1:1 chat
EXECUTE_VERB = "tb"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
GONE = frozenset({403, 404})  # removed from the chat, or the chat is gone
SUBCOMMANDS = ("setup", "now", "close", "pause", "off", "resume", "status", "governance",
               "admin", "handover")
ADDRESS_PREFIX = "m."
_AAD_CONTEXT = [b"tillidsbot teams member"]
T = TypeVar("T")


def group_id(conversation_id: str) -> str:
    """A group chat's or team channel's id; a channel thread's `;messageid=` is not part of
    it (a pulse is posted to the channel, not into whichever thread the command came from)."""
    return conversation_id.split(";", 1)[0]


class Addresses:
    """A member's AAD object id sealed into the opaque address the TeamService sees, and back."""

    def __init__(self, key: bytes) -> None:
        """A 64-byte key (AES-256-SIV)."""
        self._siv = AESSIV(key)

    def seal(self, aad_object_id: str) -> str:
        """The member's address (always the same for the same member)."""
        sealed = self._siv.encrypt(aad_object_id.lower().encode(), _AAD_CONTEXT)
        return ADDRESS_PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, address: str) -> str:
        """The AAD object id behind an address; LookupError for anything else."""
        if not address.startswith(ADDRESS_PREFIX):
            raise LookupError("not a Teams member address")
        body = address[len(ADDRESS_PREFIX):]
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._siv.decrypt(sealed, _AAD_CONTEXT).decode()
        except (ValueError, InvalidTag):
            raise LookupError("not a Teams member address") from None


def admin_hash(team: Team, chat_id: str, address: str) -> str:
    """A member's admin hash, scoped to one group (what team_admins keeps)."""
    return team.key(f"admin:{CHANNEL}:{chat_id}", address)


def group_reference(context: TurnContext) -> ConversationReference:
    """How to reach the turn's group again: its conversation, the bot, the service URL; not
    the member who wrote, nor the chat's name."""
    activity = context.activity
    reference = activity.get_conversation_reference()
    conversation = activity.conversation
    assert conversation is not None and conversation.id
    return reference.model_copy(update={
        "activity_id": None, "user": None, "locale": None,
        "conversation": ConversationAccount(
            id=group_id(conversation.id), conversation_type=conversation.conversation_type,
            tenant_id=conversation.tenant_id, is_group=True)})


def execute_card(content: dict[str, Any]) -> dict[str, Any]:
    """A card whose buttons are Action.Execute (a group's press becomes an invoke, answered
    with a confirmation only the presser sees) instead of Action.Submit."""
    body = []
    for element in content.get("body", []):
        if element.get("type") == "ActionSet":
            element = {**element, "actions": [
                {"type": "Action.Execute", "title": a["title"], "verb": EXECUTE_VERB,
                 "data": a["data"]} for a in element["actions"]]}
        body.append(element)
    return {**content, "body": body}


def group_render(message: OutMessage) -> list[dict[str, Any]]:
    """A team message for a group as activities (cards with Action.Execute buttons); a photo
    carries the text as its caption, in one activity, as the gateway promises."""
    photo = next((a for a in message.attachments if a.kind == "photo"), None)
    if photo is not None and not message.buttons and len(message.text) <= cards.MAX_TEXT:
        return [cards.image_activity(photo.model_copy(update={"caption": message.text}))]
    drawn = cards.render(message)
    for activity in drawn:
        for attachment in activity.get("attachments") or []:
            if attachment.get("contentType") == cards.CARD_TYPE:
                attachment["content"] = execute_card(attachment["content"])
    return drawn


def group_card(message: OutMessage) -> dict[str, Any]:
    """A posted team message redrawn in place: always a card (Teams replaces a card with a
    card), its buttons Action.Execute."""
    return cards.card_activity(execute_card(cards.card(message.text, message.buttons)))


class TeamsTeamGateway:
    """Posts, updates and private messages through the Teams channel's connector sender."""

    def __init__(self, channel: TeamsChannel, team: Team, addresses: Addresses) -> None:
        """Send through the channel; read group references from the team's store."""
        self.channel = channel
        self.team = team
        self.store = team.store
        self.addresses = addresses
        self.tenant_id = channel.tenant_id
        self.app_id = channel.settings.teams_app_id or ""
        # Member address -> their 1:1 conversation id; after a restart POST /v3/conversations
        # finds the same conversation again.
        self.chats: LRUCache[str, str] = LRUCache(maxsize=10_000)

    # ---- proactive turns ----

    async def reference(self, chat_id: str | None) -> ConversationReference:
        """A group's stored reference (None: the newest, for the service URL and bot)."""
        async with self.store.read() as conn:
            raw = (await admins.get_reference(conn, CHANNEL, chat_id) if chat_id is not None
                   else await admins.latest_reference(conn, CHANNEL))
        if raw is None:
            raise GroupGone("no conversation reference")
        return ConversationReference.model_validate_json(raw)

    async def in_turn(self, reference: ConversationReference,
                      work: Callable[[TurnContext], Awaitable[T]]) -> T:
        """Run work inside a proactive turn for the reference (its connector client)."""
        results: list[T] = []
        failures: list[BaseException] = []

        async def callback(context: TurnContext) -> None:
            """Inside the turn: a failure is carried out (the SDK would swallow it)."""
            try:
                results.append(await work(context))
            except BaseException as exc:
                failures.append(exc)

        await self.channel.proactive(reference, callback)
        if failures:
            raise failures[0]
        return results[0]

    async def post_all(self, context: TurnContext, reference: ConversationReference,
                       drawn: list[dict[str, Any]]) -> str | None:
        """Send activities to the reference's conversation; the id of the card among them (the
        one later edits replace), else of the first."""
        client = self.channel.client(context)
        conversation = reference.conversation.id if reference.conversation else ""
        first: str | None = None
        card: str | None = None
        for body in drawn:
            activity = Activity.model_validate(body)
            activity.apply_conversation_reference(reference)
            sent = await self.channel.sender.send(client.conversations, conversation,
                                                  self.tenant_id, activity)
            first = first or sent
            if card is None and any(a.get("contentType") == cards.CARD_TYPE
                                    for a in body.get("attachments") or []):
                card = sent
        return card or first

    # ---- the TeamGateway ----

    async def send(self, chat_id: str, message: OutMessage) -> str | None:
        """Post in the group (GroupGone when the bot was removed or the chat is gone)."""
        reference = await self.reference(chat_id)
        try:
            return await self.in_turn(reference, lambda context: self.post_all(
                context, reference, group_render(message)))
        except TeamsSendError as exc:
            if exc.status in GONE:
                raise GroupGone(f"connector {exc.status}") from None
            raise

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        """PUT the posted card with the new content (the live count, the closed pulse)."""
        reference = await self.reference(chat_id)

        async def work(context: TurnContext) -> None:
            """Update inside the turn."""
            activity = Activity.model_validate({**group_card(message), "id": message_id})
            activity.apply_conversation_reference(reference)
            conversation = reference.conversation.id if reference.conversation else ""
            await self.channel.sender.update(self.channel.client(context).conversations,
                                             conversation, self.tenant_id, message_id,
                                             activity)

        await self.in_turn(reference, work)

    async def private(self, to: str, message: OutMessage) -> None:
        """A 1:1 with the member behind an address, opened (or found again) with POST
        /v3/conversations with their AAD object id and the tenant."""
        aad = self.addresses.open(to)
        template = await self.reference(None)

        async def work(context: TurnContext) -> None:
            """Open or reuse the chat, then send."""
            conversation = self.chats.get(to)
            if conversation is None:
                conversation = await self.channel.open_personal_chat(context, aad)
                if not conversation:
                    raise LookupError("no 1:1 conversation")
                self.chats[to] = conversation
            personal = template.model_copy(update={
                "conversation": ConversationAccount(id=conversation,
                                                    conversation_type="personal",
                                                    tenant_id=self.tenant_id)})
            await self.post_all(context, personal, cards.render(message))

        await self.in_turn(template, work)

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        """Whether the bot keeps this member as one of the group's check-in admins."""
        async with self.store.read() as conn:
            return await admins.is_admin(conn, CHANNEL, chat_id,
                                         admin_hash(self.team, chat_id, user_id))

    def private_link(self) -> str:
        """The Teams deep link to the chat with the bot."""
        return f"https://teams.microsoft.com/l/chat/0/0?users=28:{self.app_id}"

    def round_link(self, token: str) -> str:
        """The chat with the bot (the invitation's button does the rest)."""
        return self.private_link()

    def round_token(self, payload: str) -> str | None:
        """The token in the invitation button's data."""
        return payload[len(ROUND_BUTTON):] if payload.startswith(ROUND_BUTTON) else None

    def round_button(self, token: str) -> str | None:
        """tgs:<token>: the press makes the bot open (or reuse) a 1:1 with the presser."""
        return ROUND_BUTTON + token


class TeamTeams:
    """Connects a TeamService to the Teams channel: group commands, presses, private
    examples."""

    def __init__(self, team: Team, channel: TeamsChannel) -> None:
        """Attach the gateway and register with the channel."""
        self.core = team
        self.addresses = Addresses(team.derive_key("teams member address"))
        self.gateway = TeamsTeamGateway(channel, team, self.addresses)
        self.team: TeamService = team.attach(CHANNEL, self.gateway)
        self.channel = channel
        self.store = team.store
        self.views = team.views
        self.words = self._words()
        channel.register_groups(self)

    def _words(self) -> dict[str, str]:
        """Every word for the group command ('' -> the command) and its parts, lower-cased."""
        strings = self.views.strings
        languages = self.channel.service.dialogues.languages
        words: dict[str, str] = {}
        for lang in languages:
            for word in strings("teams_team_words", lang).split(","):
                words[word.strip().lower()] = ""
        for sub in SUBCOMMANDS:
            words.setdefault(f"sub:{sub}", sub)
            for lang in languages:
                for word in strings(f"teams_team_sub_{sub}", lang).split(","):
                    words.setdefault(f"sub:{word.strip().lower()}", sub)
        return words

    def admin_hash(self, chat_id: str, user_id: str) -> str:
        """A member's admin hash, scoped to one group."""
        return admin_hash(self.core, chat_id, user_id)

    def ui(self, key: str, lang: str, **variables: Any) -> str:
        """Wording."""
        return self.views.ui(key, lang, **variables)

    async def _language(self, chat_id: str, locale: str | None) -> str:
        """The group's language once set up, else the writer's."""
        async with self.store.read() as conn:
            group = await repo.get_group(conn, CHANNEL, chat_id)
        return group.language if group else member_language(locale)

    async def _remember(self, context: TurnContext) -> str:
        """Keep the group's reference fresh; the group's id."""
        reference = group_reference(context)
        assert reference.conversation is not None
        chat_id = reference.conversation.id
        async with self.store.transaction() as tx:
            await admins.put_reference(tx, CHANNEL, chat_id,
                                       reference.model_dump_json(by_alias=True,
                                                                 exclude_none=True),
                                       iso(self.core.clock.now()))
        return chat_id

    # ---- the channel's hooks ----

    async def on_group_update(self, context: TurnContext) -> None:
        """The app installed in a group (the installer becomes its first admin, if it has
        none) or removed from it (its check-ins stop)."""
        activity = context.activity
        bot = activity.recipient.id if activity.recipient else None
        if any(m.id == bot for m in activity.members_removed or []):
            conversation = activity.conversation
            if conversation is not None and conversation.id:
                chat_id = group_id(conversation.id)
                async with self.store.transaction() as tx:
                    await repo.retire_group(tx, CHANNEL, chat_id, iso(self.core.clock.now()))
                    await admins.forget_group(tx, CHANNEL, chat_id)
                log.info("the app was removed from a Teams group; its check-ins stopped")
            return
        if not any(m.id == bot for m in activity.members_added or []):
            return
        chat_id = await self._remember(context)
        installer = activity.from_property
        aad = (installer.aad_object_id or "").lower() if installer else ""
        if aad:
            async with self.store.transaction() as tx:
                await admins.claim_first(tx, CHANNEL, chat_id,
                                         self.admin_hash(chat_id, self.addresses.seal(aad)),
                                         iso(self.core.clock.now()))
        lang = await self._language(chat_id, activity.locale)
        log.info("the app was installed in a Teams group")
        await self.team.out.post(chat_id, OutMessage(text=self.ui("teams_team_hello", lang)))

    async def on_group(self, context: TurnContext) -> bool:
        """A group message or press for check-ins; False when it is none (the channel
        then answers leader commands with its pointer to the 1:1 chat)."""
        activity = context.activity
        user = activity.from_property
        aad = (user.aad_object_id or "").lower() if user else ""
        if activity.type == ActivityTypes.invoke or activity.value is not None:
            data = cards.submitted_data(activity.value) or ""
            toast = ""
            if aad and (data.startswith(ROUND_BUTTON) or
                        data.partition(":")[0] in GROUP_PREFIXES):
                toast = await self._press(context, aad, data)
            await self._answer(context, toast)
            return True
        if not aad:
            return False
        words = cards.strip_mentions(activity.text or "").split()
        if not words or words[0].lstrip("/").lower() not in self.words or (
                self.words[words[0].lstrip("/").lower()] != ""):
            return False
        await self._command(context, aad, words[1:])
        return True

    async def wants_private(self, context: TurnContext, aad: str) -> bool:
        """Whether a 1:1 message belongs to a governance round (a colour press, or the
        example of a member who chose one); costs nothing for leaders."""
        activity = context.activity
        if activity.type == ActivityTypes.invoke or activity.value is not None:
            return (cards.submitted_data(activity.value) or "").startswith(PRIVATE_PREFIX)
        return bool(activity.text) and await self.team.has_draft(self.addresses.seal(aad))

    async def on_private(self, context: TurnContext, aad: str) -> None:
        """A member's colour choice or example, in their 1:1 chat."""
        activity = context.activity
        address = self.addresses.seal(aad)
        locale = activity.locale
        conversation = activity.conversation
        if conversation is not None and conversation.id:
            self.gateway.chats[address] = conversation.id
        if activity.type == ActivityTypes.invoke or activity.value is not None:
            toast = await self.team.button(address, address,
                                           cards.submitted_data(activity.value) or "", locale)
            await self._answer(context, toast)
            return
        await self.team.private_text(address, address, activity.text, locale)

    # ---- what they do ----

    async def _press(self, context: TurnContext, aad: str, data: str) -> str:
        """A press in a group; the confirmation for the presser alone."""
        chat_id = await self._remember(context)
        address = self.addresses.seal(aad)
        locale = context.activity.locale
        if data.startswith(ROUND_BUTTON):
            # The bot opens (or reuses) a 1:1 with the presser, where the round's intro waits.
            try:
                await self.team.private_start(address, address, data, locale)
            except Exception as exc:
                log.info("could not open a 1:1 for a governance example (%s)",
                         type(exc).__name__)
                return self.ui("team_gov_leader_unreachable",
                               await self._language(chat_id, locale),
                               link=self.gateway.private_link())
            return self.ui("teams_team_private_opened", await self._language(chat_id, locale))
        return await self.team.button(chat_id, address, data, locale)

    async def _answer(self, context: TurnContext, toast: str) -> None:
        """Answer an invoke with a short message only the presser sees (nothing for a
        submit: a group has no private toast)."""
        if context.activity.type != ActivityTypes.invoke:
            return
        body = {"statusCode": 200, "type": MESSAGE_RESPONSE, "value": toast}
        await context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                             value={"status": 200, "body": body}))

    async def _command(self, context: TurnContext, aad: str, words: list[str]) -> None:
        """`@bot checkin <part> …`: admins run it; others are told privately, once a minute
        per group at most."""
        activity = context.activity
        chat_id = await self._remember(context)
        address = self.addresses.seal(aad)
        locale = activity.locale
        sub = self.words.get(f"sub:{words[0].lower()}", words[0].lower()) if words else "help"
        now = iso(self.core.clock.now())
        mine = self.admin_hash(chat_id, address)
        async with self.store.transaction() as tx:
            if sub == "setup":
                # No admin yet (the install was not seen): whoever sets up first is one.
                admin = await admins.claim_first(tx, CHANNEL, chat_id, mine, now)
            else:
                admin = await admins.is_admin(tx, CHANNEL, chat_id, mine)
        lang = await self._language(chat_id, locale)
        if not admin:
            if self.team.out.refusals.ready(chat_id, self.core.clock.now()):
                try:
                    await self.gateway.private(address, OutMessage(
                        text=self.ui("team_admin_only", lang)))
                except Exception as exc:
                    log.info("could not tell a member privately that only admins may "
                             "(%s)", type(exc).__name__)
            return
        if sub in ("admin", "handover"):
            await self._name_admin(context, chat_id, address, lang, handover=sub == "handover")
            return
        await self.team.command(chat_id, address, " ".join([sub, *words[1:]]), locale,
                                is_admin=True)

    async def _name_admin(self, context: TurnContext, chat_id: str, address: str, lang: str,
                          handover: bool) -> None:
        """Make the @mentioned colleague an admin too (or instead: handover)."""
        named = [a for a in await self._mentioned(context) if a != address]
        if not named or (handover and len(named) != 1):
            await self.team.out.reply(chat_id, self.ui("teams_team_admin_whom", lang))
            return
        now = iso(self.core.clock.now())
        added = False
        async with self.store.transaction() as tx:
            for other in named:
                added = await admins.add_admin(tx, CHANNEL, chat_id,
                                               self.admin_hash(chat_id, other), now) or added
            if handover:
                await admins.remove_admin(tx, CHANNEL, chat_id,
                                          self.admin_hash(chat_id, address))
        self.team.out.forget_admins()
        log.info("a Teams group's check-in admins changed (%s)",
                 "handed over" if handover else "co-admin named")
        key = ("teams_team_admin_handed" if handover else
               "teams_team_admin_added" if added else "teams_team_admin_already")
        await self.team.out.reply(chat_id, self.ui(key, lang))

    async def _mentioned(self, context: TurnContext) -> list[str]:
        """The addresses of the people @mentioned in a message, the bot left out. A mention
        names the member's Teams id; their AAD object id comes with it or from the roster
        (GET /v3/conversations/{id}/members/{memberId}, no Graph needed)."""
        activity = context.activity
        bot = activity.recipient.id if activity.recipient else None
        conversation = activity.conversation
        found: list[str] = []
        for entity in activity.entities or []:
            if getattr(entity, "type", None) != "mention":
                continue
            dumped = entity.model_dump(by_alias=True)
            mentioned = dumped.get("mentioned")
            if not isinstance(mentioned, Mapping) or mentioned.get("id") in (None, bot):
                continue
            aad = mentioned.get("aadObjectId")
            if not aad and conversation is not None and conversation.id:
                aad = await self._roster_aad(context, group_id(conversation.id),
                                             str(mentioned["id"]))
            if isinstance(aad, str) and aad:
                address = self.addresses.seal(aad)
                if address not in found:
                    found.append(address)
        return found

    async def _roster_aad(self, context: TurnContext, chat_id: str, member_id: str
                          ) -> str | None:
        """A group member's AAD object id from the connector's roster."""
        try:
            member = await self.channel.client(context).conversations.get_conversation_member(
                chat_id, member_id)
        except Exception as exc:
            log.info("could not look a mentioned member up (%s)", type(exc).__name__)
            return None
        return member.aad_object_id or None


def wire(channel: TeamsChannel, team: Team) -> TeamTeams:
    """Put the core's team check-ins on a Teams channel (the core's scheduler ticks them)."""
    return TeamTeams(team, channel)
