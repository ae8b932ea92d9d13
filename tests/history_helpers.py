"""Shared set-up for the history, trend, export and forget tests: a real core on a real file."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.app import Core, build_core
from bot.clock import ManualClock, iso
from bot.config import Settings
from bot.dialogue.state import ButtonInput, OutMessage
from bot.service import Who
from bot.store import repo
from tests.conftest import ROOT

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ALICE = Who(leader_id="tg:42", chat_id="42", language_code="da")
BOB = Who(leader_id="tg:7", chat_id="7", language_code="da")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def make_core(tmp_path: Path, clock: ManualClock | None = None,
                    **settings: Any) -> Core:
    """The whole bot as app.py wires it, over a file in tmp_path, with a manual clock."""
    config = Settings(database_path=tmp_path / "bot.db", dialogues_dir=ROOT / "dialogues",
                      templates_dir=ROOT / "templates", **settings)
    return await build_core(config, clock or ManualClock(NOW))


async def seed_thread(
    tx: aiosqlite.Connection, leader_id: str, thread: str, conversation: str,
    finished: datetime, headline: str | None = None, summary: str | None = None,
    answers: dict[str, Any] | None = None, status: str = "finished",
) -> None:
    """Store a conversation as the service would have: thread, answers, summary, end."""
    if await repo.get_leader(tx, leader_id) is None:
        await repo.create_leader(tx, leader_id, leader_id.split(":")[-1], "da", iso(finished))
    await repo.start_thread(tx, thread, leader_id, conversation, "da", iso(finished))
    for name, value in (answers or {}).items():
        await repo.add_answer(tx, leader_id, thread, conversation, name, name, value,
                              iso(finished))
    if summary is not None:
        await repo.set_summary(tx, thread, summary, headline or "")
    if status != "active":
        await repo.end_thread(tx, thread, status, iso(finished))


def buttons(messages: list[OutMessage]) -> list[tuple[str, str]]:
    """(label, data) of every button in the messages."""
    return [(b.label, b.data) for m in messages for row in m.buttons for b in row]


def press(messages: list[OutMessage], label: str) -> ButtonInput:
    """The button whose label starts with this text."""
    for text, data in buttons(messages):
        if text.startswith(label):
            return ButtonInput(data=data)
    raise AssertionError(f"no button {label!r} in {buttons(messages)}")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
