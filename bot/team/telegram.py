"""Team check-ins on Telegram: the gateway (posts, edits, private messages, getChatMember,
t.me deep links) and the hooks that route group commands, group buttons (toasts answer the
callback query) and members' private examples to the channel's TeamService."""

from __future__ import annotations

import logging
from typing import Any

from telegram import (
    Bot,
    InputFile,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, ChatMigrated, Forbidden

from bot import identity
from bot.channels.telegram import GroupEvent, TelegramChannel, parse_command
from bot.channels.telegram import keyboard as _keyboard
from bot.dialogue.state import OutMessage
from bot.team.delivery import ChatMoved, GroupGone
from bot.team.service import Team, TeamService

log = logging.getLogger(__name__)

CHANNEL = identity.TELEGRAM  # the channel name team groups on Telegram are stored under
ROUND_PAYLOAD = "gov_"  # a deep link's start payload for a governance round: gov_<token>

ADMIN_STATUSES = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class TelegramTeamGateway:
    """Posts and edits through the application's bot (and so through its rate limiter)."""

    def __init__(self, bot: Bot) -> None:
        """Wrap the running application's bot."""
        self.bot = bot

    async def send(self, chat_id: str, message: OutMessage) -> str | None:
        """One message: a photo carries the text as its caption, else plain text (no markup,
        so nothing a member wrote can turn into formatting)."""
        markup = _keyboard(message.buttons)
        photo = next((a for a in message.attachments if a.kind == "photo"), None)
        try:
            if photo is not None:
                sent = await self.bot.send_photo(
                    int(chat_id), InputFile(photo.data, filename=photo.filename),
                    caption=message.text or None, reply_markup=markup)
            else:
                sent = await self.bot.send_message(int(chat_id), message.text,
                                                   reply_markup=markup,
                                                   link_preview_options=NO_PREVIEW)
        except ChatMigrated as exc:
            raise ChatMoved(str(exc.new_chat_id)) from exc
        except Forbidden as exc:
            raise GroupGone(type(exc).__name__) from exc
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                raise GroupGone(type(exc).__name__) from exc
            raise
        return str(sent.message_id)

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        """Replace a message's text and buttons; an unchanged message is not an error."""
        try:
            await self.bot.edit_message_text(
                message.text, chat_id=int(chat_id), message_id=int(message_id),
                reply_markup=_keyboard(message.buttons), link_preview_options=NO_PREVIEW)
        except ChatMigrated as exc:
            raise ChatMoved(str(exc.new_chat_id)) from exc
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        """getChatMember: the group's creator or an administrator."""
        member = await self.bot.get_chat_member(int(chat_id), int(user_id))
        return member.status in ADMIN_STATUSES

    async def private(self, to: str, message: OutMessage) -> None:
        """A private chat on Telegram has the person's user id; the same as a post."""
        await self.send(to, message)

    def deep_link(self, payload: str | None = None) -> str:
        """t.me/<bot>?start=<payload>: opens the private chat with the bot."""
        return f"https://t.me/{self.bot.username}" + (f"?start={payload}" if payload else "")

    def private_link(self) -> str:
        """t.me/<bot>."""
        return self.deep_link(None)

    def round_link(self, token: str) -> str:
        """t.me/<bot>?start=gov_<token>."""
        return self.deep_link(ROUND_PAYLOAD + token)

    def round_token(self, payload: str) -> str | None:
        """The token in a /start gov_<token> payload."""
        return payload[len(ROUND_PAYLOAD):] if payload.startswith(ROUND_PAYLOAD) else None

    def round_button(self, token: str) -> str | None:
        """None: the t.me link in the invitation opens the private chat."""
        return None


class TeamTelegram:
    """Connects a TeamService to the Telegram channel."""

    def __init__(self, team: Team, channel: TelegramChannel) -> None:
        """Attach the gateway and register the group command, buttons and the private hook."""
        self.gateway = TelegramTeamGateway(channel.app.bot)
        self.team: TeamService = team.attach(CHANNEL, self.gateway)
        self.channel = channel
        channel.register_group_command("checkin", self.on_checkin, "team_command_checkin")
        for prefix in ("tp", "tv", "tw"):
            channel.register_group_buttons(prefix, self.on_group_button)
        channel.register_private_feature(self)
        channel.register_chat_migration(self.team.follow)

    async def on_checkin(self, event: GroupEvent) -> None:
        """/checkin … in a group."""
        update = event.update
        chat, user, message = update.effective_chat, update.effective_user, update.message
        if chat is None or user is None:
            return
        # An anonymous administrator writes as the group itself; Telegram vouches for that.
        admin = True if message is not None and message.sender_chat is not None and (
            message.sender_chat.id == chat.id) else None
        await self.team.command(str(chat.id), str(user.id), event.args, user.language_code,
                                is_admin=admin, anonymous=admin is True)

    async def on_group_button(self, event: GroupEvent) -> None:
        """A pulse answer, a vote or a setup wizard step: the confirmation goes to the presser
        only."""
        query = event.update.callback_query
        if query is None or query.message is None:
            return
        text = await self.team.button(str(query.message.chat.id), str(query.from_user.id),
                                      query.data or "", query.from_user.language_code)
        await _answer(query, text)

    # ---- private chats: members sending governance examples, who need not be leaders ----

    async def wants(self, update: Update) -> bool:
        """Whether a private update belongs to a governance round (read-only check)."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None or chat.type != ChatType.PRIVATE:
            return False
        query = update.callback_query
        if query is not None:
            return (query.data or "").startswith("tg:")
        message = update.message
        if message is None:
            return False
        command = parse_command(message.text) if message.text else None
        if command is not None:
            return command[0] == "start" and self.gateway.round_token(command[2]) is not None
        return await self.team.has_draft(str(user.id))

    async def handle(self, update: Update) -> None:
        """Take a member's deep-link start, colour choice or example."""
        user = update.effective_user
        assert user is not None
        uid, code = str(user.id), user.language_code  # members need not be leaders: no settings
        query = update.callback_query
        if query is not None:
            await _answer(query, await self.team.button(uid, uid, query.data or "", code))
            return
        message = update.message
        if message is None:
            return
        command = parse_command(message.text) if message.text else None
        if command is not None:
            await self.team.private_start(uid, uid, command[2], code)
            return
        await self.team.private_text(uid, uid, message.text, code)


async def _answer(query: Any, text: str) -> None:
    """Answer a callback query; a query too old to answer is not an error."""
    try:
        await query.answer(text=text or None)
    except BadRequest as exc:
        log.info("could not answer a callback query: %s", type(exc).__name__)


def wire(channel: TelegramChannel, team: Team) -> None:
    """Put the core's team check-ins on a Telegram channel (the core's scheduler ticks them)."""
    TeamTelegram(team, channel)
