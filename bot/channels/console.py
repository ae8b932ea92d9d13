"""The terminal chat: numbered buttons, free text and slash commands on stdin/stdout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.dialogue.engine import SKIP
from bot.dialogue.state import Back, ButtonInput, Cancel, OutMessage, TextInput
from bot.private_files import write_private
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
        self.step: int | None = None  # the step of the question on screen, for typed answers
        self._unread = b""
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
            try:
                line = await self._readline(loop)
            except asyncio.CancelledError:  # Ctrl-C: all that was said is already committed
                self.write("\n" + self.service.ui("goodbye", await self._leader_language()))
                raise
            if not line:
                self.write("")
                return 0
            text = line.rstrip("\n")
            if text.strip().lower() in ("/quit", "/exit", "/q"):
                self.write(self.service.ui("goodbye", await self._leader_language()))
                return 0
            await self.send(await self.handle(text))

    async def _readline(self, loop: asyncio.AbstractEventLoop) -> str:
        """The next typed line ('' at the end of input). A terminal is read in a daemon thread
        straight from its file descriptor, so Ctrl-C never waits for a blocked read."""
        try:
            fd = self.stdin.fileno()
        except (AttributeError, OSError, ValueError):  # an in-memory stream never blocks
            return self.stdin.readline()
        future: asyncio.Future[str] = loop.create_future()

        def read() -> None:
            line = self._read_fd(fd)
            with contextlib.suppress(RuntimeError):  # the loop closed: the chat has ended
                loop.call_soon_threadsafe(_resolve, future, line)

        threading.Thread(target=read, name="console-stdin", daemon=True).start()
        return await future

    def _read_fd(self, fd: int) -> str:
        """One line from a file descriptor, decoded as UTF-8; '' at the end of input."""
        while b"\n" not in self._unread:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                line, self._unread = self._unread, b""
                return line.decode("utf-8", errors="replace")
            self._unread += chunk
        line, _, self._unread = self._unread.partition(b"\n")
        return line.decode("utf-8", errors="replace") + "\n"

    async def handle(self, text: str) -> list[OutMessage]:
        """Turn one typed line into a service call; after an old button or an answer meant for
        an earlier question (another window moved on), show where the conversation is now."""
        messages = await self._handle(text)
        if any(m.key in ("stale_button", "moved_on") for m in messages):
            messages = [*messages, *await self.service.current(self.who)]
        return messages

    async def _handle(self, text: str) -> list[OutMessage]:
        """Map one typed line to the service call it stands for."""
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
        return await self.service.handle_input(self.who, TextInput(text=text, step=self.step))

    async def send(self, messages: list[OutMessage]) -> None:
        """Print messages; number the buttons of the last question."""
        async with self._lock:
            for message in messages:
                self.write(self.render(message))

    def render(self, message: OutMessage) -> str:
        """Draw one message as text, remembering which key presses which button."""
        lines = [message.text]
        if message.kind == "prompt":
            self.step = message.step
        for attachment in message.attachments:
            path = write_private(self.files_dir / attachment.filename, attachment.data)
            caption = f" – {attachment.caption}" if attachment.caption else ""
            lines.append(f"[{attachment.kind}: {path}]{caption}")
        if message.buttons:
            self.keys = {}
            flat = [b for row in message.buttons for b in row]
            answers = [b for b in flat if not b.data.endswith(f":{SKIP}")]
            for button in flat:
                # '-' skips any skippable question; the answers are numbered 1, 2, 3 …
                key = str(answers.index(button) + 1) if button in answers else SKIP_KEY
                self.keys[key] = button.data
                lines.append(f"  [{key}] {button.label}")
        elif message.kind == "prompt":
            self.keys = {}
        return "\n".join(lines) + "\n"

    async def deliver(self, chat_id: str, messages: list[OutMessage]) -> None:
        """Show messages the bot starts on its own (a nudge in a running terminal chat)."""
        await self.send(messages)
        # The leader was looking at an empty prompt: offer it again under the new messages.
        self.stdout.write("> ")
        self.stdout.flush()

    def write(self, text: str) -> None:
        """Print and flush (the terminal chat may be driven through a pipe)."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    async def _leader_language(self) -> str:
        """The local leader's current language."""
        return await self.service.language_of(self.who)


def _resolve(future: asyncio.Future[str], line: str) -> None:
    """Hand a line read in the reader thread to the waiting chat (unless it stopped)."""
    if not future.done():
        future.set_result(line)
