"""Playing Teams in tests: the real `tillidsbot run` in Teams test mode, and Teams-shaped
activities posted to its /api/messages with the connector stand-in as serviceUrl."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.connector_standin import ConnectorStandIn
from tests.tgkit import bot_command

TENANT = "7c1e2f3a-0000-4000-8000-00000000a001"
OTHER_TENANT = "7c1e2f3a-0000-4000-8000-00000000b002"
BOT_ID = "28:9a1b2c3d-0000-4000-8000-0000000000b0"
CARD = "application/vnd.microsoft.card.adaptive"
_ids = itertools.count(1)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def query(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Read the bot's database from outside the process."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


class TeamsBot:
    """`tillidsbot run` with TEAMS_TEST_MODE=1 as a subprocess."""

    def __init__(self, connector: ConnectorStandIn, db: Path, **env: str) -> None:
        """Configure; start() runs it."""
        self.connector = connector
        self.db = db
        self.port = free_port()
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("TELEGRAM_", "TEAMS_", "WEBHOOK_"))}
        self.env = {**base, "PYTHONUNBUFFERED": "1", "TILLIDSBOT_DB": str(db),
                    "TEAMS_TEST_MODE": "1", "TEAMS_TENANT_ID": TENANT,
                    "TEAMS_PORT": str(self.port), **env}
        self.proc: asyncio.subprocess.Process | None = None
        self.output = ""
        self._reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Its /api/messages."""
        return f"http://127.0.0.1:{self.port}/api/messages"

    async def start(self) -> TeamsBot:
        """Start and wait until it listens."""
        self.proc = await asyncio.create_subprocess_exec(
            *bot_command(), "run", env=self.env, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.create_task(self._read())
        deadline = time.monotonic() + 30
        while "receiving Teams activities" not in self.output:
            assert self.proc.returncode is None, f"the bot exited:\n{self.output}"
            assert time.monotonic() < deadline, f"the bot did not listen:\n{self.output}"
            await asyncio.sleep(0.05)
        return self

    async def health(self) -> tuple[int, dict[str, Any]]:
        """`tillidsbot health --json` against its database: the exit code and the figures."""
        proc = await asyncio.create_subprocess_exec(
            *bot_command(), "health", "--json", env=self.env, cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, json.loads(out)

    async def _read(self) -> None:
        """Collect the log output."""
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.output += line.decode(errors="replace")

    async def stop(self) -> None:
        """SIGTERM and wait (a clean shutdown)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader

    async def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader


@dataclass
class Member:
    """A Teams user in a personal chat with the bot."""

    connector: ConnectorStandIn
    bot: TeamsBot
    aad: str
    name: str
    locale: str = "da-DK"
    tenant: str = TENANT
    statuses: list[int] = field(default_factory=list)

    @property
    def conversation_id(self) -> str:
        """Their 1:1 conversation with the bot."""
        return f"a:personal-{self.aad}"

    def activity(self, **content: Any) -> dict[str, Any]:
        """A Teams-shaped activity from this member in their personal chat."""
        return {
            "type": "message", "id": f"1700000{next(_ids):06d}",
            "timestamp": "2026-12-02T05:00:00.000Z", "locale": self.locale,
            "from": {"id": f"29:{self.aad}", "name": self.name, "aadObjectId": self.aad},
            "recipient": {"id": BOT_ID, "name": "Tillidsbot"},
            "conversation": {"id": self.conversation_id, "conversationType": "personal",
                             "tenantId": self.tenant},
            "channelData": {"tenant": {"id": self.tenant}}, **content}

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        """POST it to the bot."""
        self.bot.url  # noqa: B018 - fail early if misconfigured
        status, body = await self.connector.post_activity(self.bot.url, activity)
        self.statuses.append(status)
        return status, body

    def mark(self) -> int:
        """How many activities the bot has in this conversation now."""
        return len(self.connector.messages(self.conversation_id))

    async def _wait_after(self, mark: int, activity: dict[str, Any]) -> int:
        """Post and wait until the bot has answered with at least one new activity."""
        status, _ = await self.post(activity)
        assert status in (200, 201, 202), status
        await self.connector.wait_for(lambda: self.mark() > mark)
        return status

    async def install(self) -> None:
        """The app is installed for them: Teams sends conversationUpdate."""
        await self.post(self.activity(type="conversationUpdate", membersAdded=[
            {"id": BOT_ID}], text=None))

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Write a message; the bot's new activities in reply."""
        mark = self.mark()
        await self._wait_after(mark, self.activity(text=text, textFormat="plain"))
        return self.connector.messages(self.conversation_id)[mark:]

    async def press(self, label: str | None = None, card_index: int = -1,
                    value: Any = None) -> list[dict[str, Any]]:
        """Press a button of a card (the last card by default) by label (or the first);
        value overrides what is submitted (a forged press)."""
        ids = self.connector.ids(self.conversation_id)
        card_ids = [i for i in ids if card_of(self.connector.sent[i].activity)]
        card_id = card_ids[card_index]
        actions = buttons(card_of(self.connector.sent[card_id].activity))
        if value is None:
            chosen = next((a for a in actions if label is None or a["title"] == label), None)
            assert chosen is not None, (label, [a["title"] for a in actions])
            value = chosen["data"]
        mark = self.mark()
        await self._wait_after(mark, self.activity(value=value, replyToId=card_id, text=None))
        return self.connector.messages(self.conversation_id)[mark:]

    def last(self) -> dict[str, Any]:
        """The bot's last activity here."""
        return self.connector.messages(self.conversation_id)[-1]


def card_of(activity: dict[str, Any]) -> dict[str, Any] | None:
    """The Adaptive Card an activity carries, if any."""
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") == CARD:
            return dict(attachment["content"])
    return None


def buttons(content: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every Action.Submit of a card, in order."""
    if content is None:
        return []
    return [a for element in content.get("body", []) if element.get("type") == "ActionSet"
            for a in element["actions"]]


def shown_text(activity: dict[str, Any]) -> str:
    """What the leader reads: the text, or the card's TextBlocks (escapes undone)."""
    import re

    content = card_of(activity)
    texts = [activity.get("text") or ""] if content is None else [
        e["text"] for e in content.get("body", []) if e.get("type") == "TextBlock"]
    joined = "\n".join(t for t in texts if t)
    joined = joined.replace("  \n", "\n")
    unescaped = re.sub(r"\\(.)", r"\1", joined)
    return unescaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
