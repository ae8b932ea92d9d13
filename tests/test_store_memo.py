"""The rows a write transaction keeps (bot/store/memo.py): each read once per transaction,
writes seen at once, nothing kept past the transaction, a rollback or an erasure. Real SQLite
file; every statement the connection runs is traced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import buttons as tokens
from bot.store import privacy, repo
from bot.store import telegram as tgrepo
from bot.store.db import Store

NOW = "2026-11-23T09:00:00+00:00"


SEEN: dict[int, list[str]] = {}  # statements traced per store (by id)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store with one leader in an active conversation, its statements traced."""
    opened = await Store.open(tmp_path / "bot.db")
    async with opened.transaction() as tx:
        await repo.create_leader(tx, "tg:1", "1", "da", NOW)
        await repo.save_session(tx, "tg:1", '{"step": 1}', NOW)
    seen = SEEN.setdefault(id(opened), [])
    await opened.conn.set_trace_callback(seen.append)
    yield opened
    await opened.close()
    SEEN.pop(id(opened), None)


def reads(store: Store, table: str) -> int:
    """SELECTs on one table traced so far."""
    return sum(1 for s in SEEN[id(store)] if s.startswith("SELECT") and f"FROM {table} " in s)


async def test_a_transaction_reads_each_row_once_and_sees_its_own_writes(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tgrepo.admitted_via(tx, "tg:1") == (True, None)
        leader = await repo.get_leader(tx, "tg:1")
        assert leader is not None and leader.language == "da"
        leader.language = "nb"  # a changed copy is not the kept row until it is saved
        again = await repo.get_leader(tx, "tg:1")
        assert again is not None and again.language == "da" and again is not leader
        await repo.update_leader(tx, leader, NOW)
        saved = await repo.get_leader(tx, "tg:1")
        assert saved is not None and saved.language == "nb"
        assert await repo.load_session(tx, "tg:1") == '{"step": 1}'
        await repo.save_session(tx, "tg:1", '{"step": 2}', NOW)
        assert await repo.load_session(tx, "tg:1") == '{"step": 2}'
        await repo.save_session(tx, "tg:1", None, NOW)
        assert await repo.load_session(tx, "tg:1") is None
        assert await tokens.current(tx, "tg:1") is None
        assert await tokens.put(tx, "tg:1", "abc")
        assert await tokens.current(tx, "tg:1") == "abc"
    assert reads(store, "leaders") == 1  # the gate's read serves the step's
    assert reads(store, "sessions") == 1
    assert reads(store, "button_tokens") == 1
    async with store.transaction() as tx:  # what was committed, read afresh
        fresh = await repo.get_leader(tx, "tg:1")
        assert fresh is not None and fresh.language == "nb"
        assert await repo.load_session(tx, "tg:1") is None
        assert await tokens.current(tx, "tg:1") == "abc"
    assert (reads(store, "leaders"), reads(store, "sessions"),
            reads(store, "button_tokens")) == (2, 2, 2)


async def test_nothing_is_kept_past_a_rollback_or_outside_a_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await repo.save_session(tx, "tg:1", '{"step": 9}', NOW)
            assert await repo.load_session(tx, "tg:1") == '{"step": 9}'
            raise RuntimeError("the step failed")
    async with store.transaction() as tx:
        assert await repo.load_session(tx, "tg:1") == '{"step": 1}'
    for _ in range(2):  # no transaction: every read goes to the database
        assert await repo.load_session(store.conn, "tg:1") == '{"step": 1}'
    assert reads(store, "sessions") == 3


async def test_an_erased_leader_is_gone_within_the_same_transaction(store: Store) -> None:
    async with store.transaction() as tx:
        assert await repo.get_leader(tx, "tg:1") is not None
        assert await repo.load_session(tx, "tg:1") is not None
        await privacy.erase_leader(tx, "tg:1")
        assert await repo.get_leader(tx, "tg:1") is None
        assert await repo.load_session(tx, "tg:1") is None
        assert not await tokens.put(tx, "tg:1", "abc")
        assert await tokens.current(tx, "tg:1") is None


async def test_a_new_leader_is_kept_as_inserted_and_an_existing_one_as_stored(
        store: Store) -> None:
    async with store.transaction() as tx:
        assert await repo.get_leader(tx, "tg:2") is None
        created = await repo.create_leader(tx, "tg:2", "2", "en", NOW)
        assert (created.leader_id, created.chat_id, created.language, created.settings,
                created.created_at) == ("tg:2", "2", "en", {}, NOW)
        existing = await repo.create_leader(tx, "tg:1", "other", "en", "later")
        assert (existing.chat_id, existing.language, existing.created_at) == ("1", "da", NOW)
