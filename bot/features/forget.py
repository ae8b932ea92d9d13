"""/forget: after a clear statement and an explicit confirmation, erase everything about a leader.

Rows are found from the schema (bot.store.privacy), so tables added later are covered. The
scheduler's in-memory jobs are dropped through ForgetHooks; the schedules table is the source
of truth and its rows are deleted with everything else. Team-pulse answers are stored without
any leader id (see the team feature), so there is nothing here that could link them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiosqlite

from bot.dialogue.engine import DialogueError
from bot.dialogue.state import Button, OutMessage
from bot.numbers import small_int
from bot.service import BotService, Request
from bot.store import privacy

log = logging.getLogger(__name__)

PREFIX = "fg"
CONFIRM_MINUTES = 60  # an old confirmation button must not erase data added since

ForgetHook = Callable[[str], Awaitable[None]]


class ForgetHooks:
    """Callbacks told a leader's data is gone (e.g. the scheduler dropping their jobs)."""

    def __init__(self) -> None:
        """Start with no hooks."""
        self.hooks: list[ForgetHook] = []

    def add(self, hook: ForgetHook) -> None:
        """Call hook(leader_id) whenever a leader is forgotten."""
        self.hooks.append(hook)

    async def run(self, leader_id: str) -> None:
        """Run every hook; a failing hook is logged and does not undo the erasure."""
        for hook in self.hooks:
            try:
                await hook(leader_id)
            except Exception:
                log.exception("a forget hook failed (leader rows are deleted regardless)")


async def forget_leader(tx: aiosqlite.Connection, leader_id: str,
                        hooks: ForgetHooks | None = None) -> dict[str, int]:
    """Delete every row about the leader (in the caller's transaction) and run the hooks."""
    deleted = await privacy.erase_leader(tx, leader_id)
    if hooks is not None:
        await hooks.run(leader_id)
    log.info("forgot a leader: %d rows in %d tables", sum(deleted.values()), len(deleted))
    return deleted


async def what_is_stored(tx: aiosqlite.Connection, leader_id: str) -> dict[str, int]:
    """Counts for the statement: conversations, answers, scheduled messages, other rows."""
    rows = await privacy.leader_rows(tx, leader_id)
    known = ("leaders", "sessions", "threads", "answers", "schedules")
    return {
        "conversations": len(rows.get("threads", [])),
        "answers": len(rows.get("answers", [])),
        "schedules": sum(1 for s in rows.get("schedules", []) if s.get("status") == "pending"),
        "other": sum(len(v) for k, v in rows.items() if k not in known),
    }


def register(service: BotService, hooks: ForgetHooks) -> None:
    """Add /forget and its confirmation buttons to the service."""

    async def command(request: Request) -> list[OutMessage]:
        return await ask(request)

    async def button(request: Request) -> list[OutMessage]:
        return await confirm(request, hooks)

    service.register_command("forget", command, reprompt=False)
    service.register_buttons(PREFIX, button)


def _minute(instant: datetime) -> int:
    """Minutes since the epoch: the confirmation's timestamp."""
    return int(instant.timestamp() // 60)


async def ask(request: Request) -> list[OutMessage]:
    """State exactly what will be deleted and offer the confirmation button."""
    service, leader = request.service, request.leader
    lang = leader.language
    counts = await what_is_stored(request.tx, leader.leader_id)
    stamp = _minute(service.clock.now())
    buttons = [[Button(label=service.ui("forget_yes", lang), data=f"{PREFIX}:yes:{stamp}")],
               [Button(label=service.ui("forget_no", lang), data=f"{PREFIX}:no")]]
    text = service.ui("forget_statement", lang, **counts)
    return [OutMessage(text=text, kind="prompt", buttons=buttons)]


async def confirm(request: Request, hooks: ForgetHooks) -> list[OutMessage]:
    """The confirmation (or the change of mind) from the button under the statement."""
    service, leader = request.service, request.leader
    lang = leader.language
    verb, _, stamp = request.args.partition(":")
    if verb == "no":
        question: list[OutMessage] = []
        if request.state is not None:  # mid-conversation: show where they were
            with contextlib.suppress(DialogueError):
                question = service.engine.prompt(request.state, lang, service.today(leader))
        return [OutMessage(text=service.ui("forget_kept", lang)), *question]
    now = _minute(service.clock.now())
    minute = small_int(stamp)
    if verb != "yes" or minute is None or not 0 <= now - minute <= CONFIRM_MINUTES:
        return [OutMessage(text=service.ui("forget_expired", lang), kind="error")]
    await forget_leader(request.tx, leader.leader_id, hooks)
    service.store.scrub_after_commit()
    return [OutMessage(text=service.ui("forget_done", lang))]
