"""SQL cost of one typed answer: transactions and statements, traced through aiosqlite.

    .venv/bin/python benchmarks/typed_answer_trace.py [-v] [--first]

Runs the real bot (PTB Application, pipeline, SQLite) in-process against
tests/botapi_standin.py on 127.0.0.1. A leader in open mode finishes first contact, starts
/delegate and answers until a question wants typed text, answers it, and measures the next typed
answer (--first: measure the process's first typed answer instead, with its one-off loads).
Every statement the bot's connections run from the moment the update is sent until it is
recorded as handled is captured with sqlite3's set_trace_callback: the write connection's
(every BEGIN IMMEDIATE takes the global write lock) and, where the store has one, its
read-only connection's (Store.read: no lock). A transaction is a BEGIN; a statement outside
one runs as its own (implicit) transaction. Prints figures, asserts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.dialogue import load_dialogues  # noqa: E402
from bot.store.db import Store  # noqa: E402
from tests.botapi_standin import BotApiStandIn  # noqa: E402
from tests.tgkit import InProcessBot, Phone, walk  # noqa: E402

TRACE: list[str] = []
RECORDING = False


def _record(statement: str) -> None:
    """sqlite3's trace callback of the write connection (runs on aiosqlite's thread)."""
    if RECORDING:
        TRACE.append(" ".join(statement.split()))


READS: list[str] = []


def _record_read(statement: str) -> None:
    """The trace callback of the store's read-only connection (it takes no write lock)."""
    if RECORDING:
        READS.append(" ".join(statement.split()))


_open = Store.open.__func__  # type: ignore[attr-defined]


async def _traced_open(cls: type[Store], path: Path | str, *args: Any, **kwargs: Any) -> Store:
    """Store.open with the trace callback installed on its connection."""
    store: Store = await _open(cls, path, *args, **kwargs)
    await store.conn.set_trace_callback(_record)
    read = getattr(store, "read", None)
    if read is None:  # a version without the read-only connection
        return store

    @contextlib.asynccontextmanager
    async def traced_read() -> AsyncIterator[aiosqlite.Connection]:
        """Store.read with the read trace installed on the connection it yields."""
        async with read() as conn:
            if conn is not store.conn and conn not in TRACED:
                TRACED.append(conn)
                await conn.set_trace_callback(_record_read)
            yield conn

    store.read = traced_read  # type: ignore[method-assign]
    return store


TRACED: list[aiosqlite.Connection] = []


def summary(statements: list[str]) -> dict[str, Any]:
    """Counts: explicit transactions, statements in and outside them, by leading keyword."""
    begins = sum(1 for s in statements if s.upper().startswith("BEGIN"))
    depth = 0
    implicit = 0
    for s in statements:
        word = s.split()[0].upper() if s else ""
        if word == "BEGIN":
            depth = 1
        elif word in ("COMMIT", "ROLLBACK"):
            depth = 0
        elif depth == 0:
            implicit += 1
    immediate = sum(1 for s in statements if s.upper().startswith("BEGIN IMMEDIATE"))
    kinds = Counter(s.split()[0].upper() for s in statements if s)
    return {"write_transactions": immediate, "transactions": begins + implicit,
            "implicit": implicit, "statements": len(statements), "kinds": dict(kinds)}


async def main() -> None:
    """Drive the leader to a typed answer mid-/delegate and trace it."""
    global RECORDING
    Store.open = classmethod(_traced_open)  # type: ignore[method-assign,assignment]
    dialogues = load_dialogues(ROOT / "dialogues", ROOT / "templates")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        async with BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open"):
            phone = Phone(api, db, api.user(4242, "Lene", "da"))
            await phone.say("/start")
            await walk(phone, dialogues)  # first contact, to the menu
            await phone.say("/delegate")
            while api.buttons(phone.last()):
                await walk(phone, dialogues, steps=1)
            if "--first" not in sys.argv:
                # Steady state: the process's first private text loads what is cached after it
                # (the team's set of members with a draft, once per process).
                await walk(phone, dialogues, steps=1)
                while api.buttons(phone.last()):
                    await walk(phone, dialogues, steps=1)
            before = phone.step()
            TRACE.clear()
            READS.clear()
            RECORDING = True
            update_id = api.send_text(phone.user, "Budgetopfølgningen for dagtilbud til AB")
            await phone.handled(update_id)
            await asyncio.sleep(0.2)  # the 'done' mark may trail the reply by a statement
            RECORDING = False
            assert phone.step() != before, "the typed answer was not taken"
    figures = summary(TRACE)
    print("one typed answer mid-/delegate:")
    print(f"  write transactions (BEGIN IMMEDIATE): {figures['write_transactions']}")
    print(f"  transactions incl. implicit ones:     {figures['transactions']}")
    print(f"  statements (incl. BEGIN/COMMIT):      {figures['statements']}")
    print(f"  by keyword: {figures['kinds']}")
    print(f"  reads on the read-only connection (no write lock): {len(READS)}")
    if "-v" in sys.argv:
        for statement in TRACE:
            print("   ", statement[:140])
        for statement in READS:
            print("    read:", statement[:134])


if __name__ == "__main__":
    asyncio.run(main())
