"""The terminal chat: numbered buttons, free text and slash commands on stdin/stdout."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.dialogue.state import Back, ButtonInput, Cancel, OutMessage, TextInput
from bot.service import BotService, Who

CONSOLE_PREFIX = "console:"
CONSOLE_LEADER = Who(leader_id=f"{CONSOLE_PREFIX}local", chat_id="console", language_code="da")
SKIP_KEY = "-"


class ConsoleChannel:
    """Runs the bot service against a terminal; one local leader."""

    def __init__(
        self,
        service: BotService,
        who: Who = CONSOLE_LEADER,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        files_dir: Path = Path("tillidsbot-files"),
    ) -> None:
        """Bind the service to input and output streams; attachments go to files_dir."""
        self.service = service
        self.files_dir = files_dir
        self.who = who
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.keys: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def run(self, on_ready: Callable[[], Awaitable[None]] | None = None) -> int:
        """Read lines until /quit or end of input; on_ready runs once the chat is on screen."""
        lang = (await self._leader_language())
        self.write(self.service.ui("console_banner", lang))
        await self.send(await self.service.resume(self.who))
        if on_ready is not None:
            await on_ready()
        loop = asyncio.get_running_loop()
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = await loop.run_in_executor(None, self.stdin.readline)
            if not line:
                self.write("")
                return 0
            text = line.rstrip("\n")
            if text.strip().lower() in ("/quit", "/exit", "/q"):
                self.write(self.service.ui("goodbye", await self._leader_language()))
                return 0
            await self.send(await self.handle(text))

    async def handle(self, text: str) -> list[OutMessage]:
        """Turn one typed line into a service call."""
        stripped = text.strip()
        if stripped in self.keys:
            return await self.service.handle_input(self.who, ButtonInput(data=self.keys[stripped]))
        if stripped.startswith("/") and len(stripped) > 1:
            command, _, args = stripped[1:].partition(" ")
            if command.lower() == "back":
                return await self.service.handle_input(self.who, Back())
            if command.lower() == "cancel":
                return await self.service.handle_input(self.who, Cancel())
            return await self.service.handle_command(self.who, command, args.strip())
        return await self.service.handle_input(self.who, TextInput(text=text))

    async def send(self, messages: list[OutMessage]) -> None:
        """Print messages; number the buttons of the last question."""
        async with self._lock:
            for message in messages:
                self.write(self.render(message))

    def render(self, message: OutMessage) -> str:
        """Draw one message as text, remembering which key presses which button."""
        lines = [message.text]
        for attachment in message.attachments:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / attachment.filename
            path.write_bytes(attachment.data)
            caption = f" – {attachment.caption}" if attachment.caption else ""
            lines.append(f"[{attachment.kind}: {path}]{caption}")
        if message.buttons:
            self.keys = {}
            flat = [b for row in message.buttons for b in row]
            for index, button in enumerate(flat, start=1):
                key = SKIP_KEY if message.expects == "text" else str(index)
                self.keys[key] = button.data
                lines.append(f"  [{key}] {button.label}")
        elif message.kind == "prompt":
            self.keys = {}
        return "\n".join(lines) + "\n"

    async def deliver(self, chat_id: str, messages: list[OutMessage]) -> None:
        """Show messages the bot starts on its own (a nudge in a running terminal chat)."""
        await self.send(messages)

    def write(self, text: str) -> None:
        """Print and flush (the terminal chat may be driven through a pipe)."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    async def _leader_language(self) -> str:
        """The local leader's current language."""
        return await self.service.language_of(self.who)
