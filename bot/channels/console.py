"""The terminal chat: numbered buttons, free text and slash commands on stdin/stdout."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot import identity
from bot.config import Settings
from bot.dialogue.engine import SKIP
from bot.dialogue.state import OutMessage
from bot.inbound import EventKind, Inbound, InEvent, Reply
from bot.private_files import write_private
from bot.runtime import Background
from bot.service import BotService, Who, language_for

CONSOLE_PREFIX = identity.prefix(identity.CONSOLE)
CONSOLE_REFERENCE = "console"  # the terminal needs no address: it is the one on screen
CONSOLE_LEADER = Who(leader_id=identity.leader_id(identity.CONSOLE, "local"),
                     chat_id=CONSOLE_REFERENCE, language_code="da")
SKIP_KEY = "-"


class ConsoleChannel:
    """The terminal chat: one local leader, every typed line an event of the inbound pipeline
    (so a new leader is onboarded once and a repeated event id is a no-op)."""

    name = identity.CONSOLE
    can_edit = False  # an old button or answer gets where the conversation is now instead

    def __init__(
        self,
        service: BotService,
        who: Who = CONSOLE_LEADER,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        files_dir: Path = Path("tillidsbot-files"),
        inbound: Inbound | None = None,
        new_event_id: Callable[[], str] | None = None,
    ) -> None:
        """Bind the pipeline to input and output streams; attachments go to files_dir."""
        self.service = service
        self.inbound = inbound or Inbound(service, _console_settings(service), service.clock)
        self.files_dir = files_dir
        self.who = who
        self.user_id = identity.raw_id(who.leader_id) or "local"
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.keys: dict[str, str] = {}
        self.step: int | None = None  # the step of the question on screen, for typed answers
        self.background: list[Background] = []
        session, counter = uuid.uuid4().hex, itertools.count(1)
        self.new_event_id = new_event_id or (lambda: f"{session}:{next(counter)}")
        self._unread = b""
        self._lock = asyncio.Lock()

    async def run(self, on_ready: Callable[[], Awaitable[None]] | None = None) -> int:
        """Read lines until /quit or end of input; on_ready runs once the chat is on screen."""
        async with self.running():
            if on_ready is not None:
                await on_ready()
            return await self.wait(asyncio.Event())

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ConsoleChannel]:
        """Show the banner and where the conversation stands (a new leader: onboarding)."""
        self.write(self.service.ui("console_banner", await self._leader_language()))
        await self.send(await self._through(self._event("open")))
        yield self

    async def wait(self, stop: asyncio.Event) -> int:
        """Read lines until /quit, the end of input or stop; 0."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
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
        return 0

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
        """One typed line through the pipeline; the messages to show (not yet shown)."""
        return await self._through(self.event(text))

    def event(self, text: str) -> InEvent:
        """What one typed line stands for: a numbered button, a command or text."""
        stripped = text.strip()
        if stripped in self.keys:
            return replace(self._event(), kind="button", data=self.keys[stripped])
        if stripped.startswith("/") and len(stripped) > 1:
            command, _, args = stripped[1:].partition(" ")
            return replace(self._event(), kind="command", command=command.lower(),
                           text=args.strip())
        return replace(self._event(), kind="text", text=text, step=self.step)

    def _event(self, kind: EventKind = "open") -> InEvent:
        """A new event of the local leader, with a fresh event id."""
        return InEvent(channel=identity.CONSOLE, event_id=self.new_event_id(),
                       user_id=self.user_id, reference=self.who.chat_id, kind=kind,
                       language=self.who.language_code)

    async def _through(self, event: InEvent) -> list[OutMessage]:
        """Hand one event to the pipeline and collect the reply it renders."""
        collected = _Collected()
        await self.inbound.handle(event, collected)
        return collected.messages

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

    async def deliver(self, reference: str, messages: list[OutMessage]) -> None:
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
        """The local leader's current language (read only: a new leader is created by the
        pipeline, which onboards them)."""
        known = await self.service.known_language(self.who.leader_id)
        return known or language_for(self.who.language_code, self.service.dialogues.languages)


class _Collected:
    """The pipeline's channel for one console event: keeps the reply for the caller to show."""

    can_edit = False

    def __init__(self) -> None:
        """Nothing rendered yet."""
        self.messages: list[OutMessage] = []

    async def render(self, event: InEvent, reply: Reply) -> None:
        """Keep the messages (a terminal has no toasts and edits nothing)."""
        self.messages.extend(reply.messages)


def _console_settings(service: BotService) -> Settings:
    """Settings for a console made without the app's pipeline (tests): defaults."""
    from bot.config import load_settings

    return load_settings(env={}, database_path=service.store.path)


def _resolve(future: asyncio.Future[str], line: str) -> None:
    """Hand a line read in the reader thread to the waiting chat (unless it stopped)."""
    if not future.done():
        future.set_result(line)
