"""The team feature's place in the leader's private chat: /checkin points to the group."""

from __future__ import annotations

from bot.dialogue.state import OutMessage
from bot.service import BotService, Request


async def _checkin_in_private(request: Request) -> list[OutMessage]:
    """Team check-ins live in the team's group chat, not in a leader's private chat."""
    return [OutMessage(text=request.service.ui("team_private_only_groups",
                                               request.leader.language))]


def register(service: BotService) -> None:
    """Answer /checkin in private chats (groups: bot/team/telegram.py, bot/team/teams.py)."""
    service.register_command("checkin", _checkin_in_private)
