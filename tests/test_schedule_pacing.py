"""A Monday-08:30 crowd: all sent, under the global cap, one chat at a time, oldest first."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.clock import ManualClock, iso
from bot.schedule import plan
from bot.store import repo, schedules
from tests.schedule_support import Harness, who

CROWD = 2000
CAP = 25
MONDAY_0830 = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)


async def crowd(h: Harness) -> dict[int, str]:
    """1,000 leaders with the default Monday 08:30 nudge and 1,000 with a follow-up due at some
    second of the same minute, inserted in shuffled order; returns row id -> chat."""
    rng = random.Random(5)
    now = h.clock.now()
    chats: dict[int, str] = {}
    followups = list(range(CROWD // 2, CROWD))
    rng.shuffle(followups)
    async with h.core.store.transaction() as tx:
        for n in range(CROWD // 2):
            leader = await repo.create_leader(tx, f"tg:{n}", str(n), "da", iso(now))
            row = await plan.plan_nudge(tx, leader, now, "reflection")
            assert row is not None
            chats[row.id] = str(n)
        for n in followups:
            leader = await repo.create_leader(tx, f"tg:{n}", str(n), "da", iso(now))
            leader.settings = {"nudges": False}
            await repo.update_leader(tx, leader, iso(now))
            due = MONDAY_0830 + timedelta(seconds=rng.randrange(60))
            row_id = await schedules.add(
                tx, leader.leader_id, "followup", iso(due), iso(now),
                conversation="delegation_followup", thread=f"t{n}",
                payload={"context": {"task": f"Opgave {n}"}})
            chats[row_id] = str(n)
    return chats


async def test_two_thousand_due_in_one_minute_are_paced(tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(MONDAY_0830 - timedelta(hours=1)))
    chats = await crowd(h)
    h.clock.set(MONDAY_0830 + timedelta(minutes=1))
    await h.run()
    sent = h.outbox.sent

    # Everyone got their message.
    assert {s.chat for s in sent} == set(chats.values())
    # Never more than the cap in any one-second window of the injected clock.
    times = [s.at for s in sent]
    assert times == sorted(times)
    assert all(times[i + CAP] - times[i] >= timedelta(seconds=1)
               for i in range(len(times) - CAP))
    # One message per row: a nudge's header and question, a follow-up's opening and question
    # are one message each; any more to one chat would be about one a second.
    per_chat: dict[str, list[datetime]] = defaultdict(list)
    for s in sent:
        per_chat[s.chat].append(s.at)
    assert max(len(v) for v in per_chat.values()) == 1
    assert all(b - a >= timedelta(seconds=1)
               for v in per_chat.values() for a, b in zip(v, v[1:], strict=False))
    # Oldest due first: the first message to each chat comes in (due_at, id) order.
    async with h.core.store.conn.execute(
            "SELECT id FROM schedules WHERE status = 'sent' ORDER BY due_at, id") as cur:
        order = [chats[r[0]] for r in await cur.fetchall()]
    first_seen = list(dict.fromkeys(s.chat for s in sent))
    assert first_seen == order
    assert len(order) == CROWD
    # And it took the time the cap implies, not more than a little over it.
    span = (times[-1] - times[0]).total_seconds()
    assert len(sent) / CAP - 1 <= span <= len(sent) / CAP + 5
    await h.close()


async def test_incoming_messages_are_answered_while_a_crowd_is_being_sent(
        tmp_path: Path) -> None:
    h = await Harness.open(tmp_path / "bot.db", ManualClock(MONDAY_0830 - timedelta(hours=1)))
    await crowd(h)
    h.clock.set(MONDAY_0830 + timedelta(minutes=1))
    await h.dispatcher.tick()
    sending = asyncio.create_task(h.dispatcher.pacer.drain())
    await asyncio.sleep(0)
    reply = await h.service.handle_command(who("busy-reader"), "help")
    assert reply and not sending.done()
    assert 0 < len(h.outbox.sent) < CROWD  # answered mid-crowd, not after it
    await sending
    await h.close()
