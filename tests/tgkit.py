"""Helpers for Telegram tests: the bot in-process or as a subprocess, and a leader's phone.

Both run the real PTB Application against tests/botapi_standin.py. "The bot finished an
update" is read from its own SQLite file (inbound_events.status = 'done'), polled with a
timeout: the replies the test then inspects are what the stand-in recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.app import run_telegram
from bot.channels.compose import JOIN
from bot.clock import Clock
from bot.config import load_settings
from bot.dialogue import Dialogues
from bot.store import crypto
from tests.botapi_standin import BotApiStandIn, User
from tests.conftest import ROOT

TIMEOUT = 30.0


async def until(predicate: Callable[[], Any], within: float = TIMEOUT,
                what: str = "condition") -> Any:
    """Poll predicate every 10 ms until it is truthy; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the bot's database from the test (WAL lets readers in while it writes)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []  # not migrated yet
    finally:
        conn.close()


def update_status(db: Path, update_id: int) -> str | None:
    """The bot's record of one update: None, 'processing' or 'done'."""
    rows = query(db, "SELECT status FROM inbound_events WHERE channel = 'telegram' "
                     "AND event_id LIKE ?", (f"%:{update_id}",))
    return str(rows[0][0]) if rows else None


def session_state(db: Path, leader_id: str) -> dict[str, Any] | None:
    """A leader's stored conversation state."""
    rows = query(db, "SELECT state FROM sessions WHERE leader_id = ?", (leader_id,))
    if not rows:
        return None
    # Sealed at rest: opened with the bot's own key store, as the store does.
    text = crypto.open_stored(crypto.open_keyring(db, create=False), "sessions", "state",
                              {"leader_id": leader_id}, rows[0][0])
    return None if text is None else dict(json.loads(text))


def answer_values(db: Path) -> list[str]:
    """Every stored answer's JSON text, opened with the bot's own key store."""
    rows = query(db, "SELECT id, leader_id, value FROM answers ORDER BY id")
    if not rows:
        return []
    ring = crypto.open_keyring(db, create=False)
    found = [crypto.open_stored(ring, "answers", "value", {"id": r[0], "leader_id": r[1]}, r[2])
             for r in rows]
    return [v for v in found if v is not None]


def env_for(api: BotApiStandIn, db: Path, **extra: str) -> dict[str, str]:
    """Settings for a bot that talks to the stand-in."""
    return {"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
            "TILLIDSBOT_DB": str(db), "TELEGRAM_CHAT_INTERVAL": "0", **extra}


class InProcessBot:
    """`run_telegram` as a task in the test's event loop."""

    def __init__(self, api: BotApiStandIn, db: Path, clock: Clock | None = None,
                 **env: str) -> None:
        """Configure from the stand-in plus extra environment variables (and a test clock)."""
        self.api = api
        self.db = db
        self.clock = clock
        self.settings = load_settings(env=env_for(api, db, **env))
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> InProcessBot:
        """Start and wait until the bot polls (or has set its webhook)."""
        polls = self.api.polls
        self.task = asyncio.create_task(run_telegram(self.settings, self.stop_event,
                                                     self.clock))
        webhook = bool(self.settings.webhook_url)
        await until(lambda: (self.api.webhook is not None if webhook else self.api.polls > polls)
                    or self.task.done(), what="the bot to start")  # type: ignore[union-attr]
        if self.task.done():
            self.task.result()
        if webhook:
            # PTB sets the webhook just before its server listens: wait for the port too.
            port = self.settings.webhook_port
            await until(lambda: _accepts(self.settings.webhook_listen, port),
                        what="the webhook server to listen")
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop cleanly."""
        self.stop_event.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, TIMEOUT)


def _accepts(host: str, port: int) -> bool:
    """Whether something listens on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def bot_command() -> list[str]:
    """The installed console script, or the module when run from a plain checkout."""
    script = shutil.which("tillidsbot", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "bot.cli"]


class BotProcess:
    """The real `tillidsbot run` as a subprocess pointed at the stand-in."""

    def __init__(self, api: BotApiStandIn, db: Path, args: tuple[str, ...] = ("run",),
                 **env: str) -> None:
        """Configure; start() runs `tillidsbot ARGS` (`run` unless told otherwise)."""
        self.api = api
        self.db = db
        self.args = args
        self.env = {**os.environ, **env_for(api, db, **env), "PYTHONUNBUFFERED": "1"}
        self.proc: asyncio.subprocess.Process | None = None
        self.output = ""
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> BotProcess:
        """Start and wait until it polls."""
        polls = self.api.polls
        self.proc = await asyncio.create_subprocess_exec(
            *bot_command(), *self.args, env=self.env, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.create_task(self._read())
        proc = self.proc
        await until(lambda: self.api.polls > polls or proc.returncode is not None,
                    what="the bot process to poll")
        assert proc.returncode is None, f"the bot exited:\n{self.output}"
        return self

    async def _read(self) -> None:
        """Collect the process's log output."""
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.output += line.decode("utf-8", "replace")

    async def kill(self) -> None:
        """SIGKILL, as a crash would."""
        assert self.proc is not None
        self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, TIMEOUT)

    async def stop(self) -> int:
        """SIGTERM and wait for a clean exit; the exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, TIMEOUT)
        return code


class Phone:
    """A leader's Telegram app: send, press, and wait until the bot has handled it."""

    def __init__(self, api: BotApiStandIn, db: Path, user: User) -> None:
        """Talk to the bot as this user."""
        self.api = api
        self.db = db
        self.user = user
        self.leader_id = f"tg:{user.id}"

    async def handled(self, update_id: int, within: float = TIMEOUT) -> None:
        """Wait until the bot recorded the update as done (its replies are out)."""
        await until(lambda: update_status(self.db, update_id) == "done", within,
                    what=f"update {update_id} to be handled")

    async def say(self, text: str) -> int:
        """Send text and wait for the bot to finish with it."""
        update_id = self.api.send_text(self.user, text)
        await self.handled(update_id)
        return update_id

    async def press(self, message: dict[str, Any] | None = None, label: str | None = None,
                    data: str | None = None) -> int:
        """Press a button (default: the first on the newest message) and wait."""
        target = message or self.last()
        update_id = self.api.press(self.user, target, data=data, label=label)
        await self.handled(update_id)
        return update_id

    def last(self) -> dict[str, Any]:
        """The newest message from the bot."""
        message = self.api.last_bot_message(self.user.id)
        assert message is not None, "the bot has not written yet"
        return message

    def texts_since(self, mark: int) -> list[str]:
        """Texts of the bot's messages with an id above mark (as they look now)."""
        return [str(m.get("text") or m.get("caption") or "")
                for m in self.api.bot_messages(self.user.id) if m["message_id"] > mark]

    def mark(self) -> int:
        """The newest message id in the chat, to look at what comes after."""
        message = self.api.last_bot_message(self.user.id)
        user_ids = [k[1] for k in self.api.messages if k[0] == self.user.id]
        return max([message["message_id"] if message else 0, *user_ids])

    def step(self) -> int | None:
        """The stored dialogue step (None outside a conversation)."""
        state = session_state(self.db, self.leader_id)
        return None if state is None else int(state["step"])


def said(part: str, texts: list[str]) -> bool:
    """Whether `part` was shown: as a message of its own, or joined with others into one."""
    return any(t == part or t.startswith(part + JOIN) or t.endswith(JOIN + part)
               or f"{JOIN}{part}{JOIN}" in t for t in texts)


SAMPLE_ANSWERS = ("Budgetopfølgningen for dagtilbud til AB (souschef)",
                  "Så AB kan prioritere tæt på børnene og familierne",
                  "Ugentlig sparring, indtil AB føler sig tryg",
                  "Vi holder os til budgetrammen og de faglige standarder",
                  "En kort status hver fjortende dag, som AB selv sætter dagsordenen for")
FALLBACK_ANSWERS = ("14", "3")


async def walk(phone: Phone, dialogues: Dialogues, steps: int | None = None,
               lang: str = "da", typed_before: int = 0) -> list[str]:
    """Answer the open conversation generically until the menu shows (or `steps` answers):
    press the first button of a question, 'Done' on a multiple choice, type text otherwise
    (the next of SAMPLE_ANSWERS after `typed_before`). Returns the texts typed."""
    menu = dialogues.strings("menu", lang)
    typed: list[str] = []
    pressed: int | None = None
    for answers in range(100):
        if steps is not None and answers >= steps:
            return typed
        last = phone.last()
        # The menu, maybe with the conversation's closing words on top of it.
        if str(last.get("text", "")).endswith(menu) and answers:
            return typed
        buttons = phone.api.buttons(last)
        if buttons:
            # A multiple choice stays on the same message after a toggle: then press Done.
            label = buttons[-1]["text"] if last["message_id"] == pressed else None
            pressed = last["message_id"]
            await phone.press(last, label=label)
        else:
            before = phone.step()
            sample = SAMPLE_ANSWERS[(typed_before + len(typed)) % len(SAMPLE_ANSWERS)]
            for text in (sample, *FALLBACK_ANSWERS):
                await phone.say(text)
                if phone.step() != before:
                    typed.append(text)
                    break
            else:
                raise AssertionError(f"no answer accepted for {last.get('text')!r}")
    raise AssertionError("the conversation did not end within 100 answers")
