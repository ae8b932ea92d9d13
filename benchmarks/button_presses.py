"""What button presses that must change nothing cost: calls and stored changes per press.

    .venv/bin/python benchmarks/button_presses.py

For every kind of leader button (tests/test_buttons_once.py's KINDS) the real PTB application
runs in-process against the Bot API stand-in: one real press, then a double tap (the second
callback still showing the buttons), a stale press (another button of that message as it shows
now), and Alice's data pressed by Bob on his own newest message and on hers. Prints, per press,
how many times it was answered, how many edits and sends it caused and how many tables changed,
then totals, the refused ("message is not modified") edits over all runs, and whether a press
from an inline message (no message) was answered. Run it from another tree's root with
PYTHONPATH pointing at that tree (and this file and the test module copied in) for a baseline.
Asserts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))

from tests import test_buttons_once as t  # noqa: E402
from tests.tgkit import InProcessBot, Phone  # noqa: E402

PRESSES = ("double tap", "stale", "foreign, his chat", "foreign, her message")


async def one(kind: str) -> tuple[list[tuple[str, int, int, int, int]], int]:
    """The four presses of one kind: (press, answers, edits, sends, tables changed)."""
    db = Path(tempfile.mkdtemp()) / "bot.db"
    if kind == "snooze":
        await t.seed_due_nudge(db, f"tg:{t.ALICE}", str(t.ALICE))
    rows = []
    async with t.BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open"):
        alice = Phone(api, db, api.user(t.ALICE, "Alice", "da"))
        bob = Phone(api, db, api.user(t.BOB, "Bob", "da"))
        await t.onboard(bob)
        goal = await t.KINDS[kind](alice, db)
        await t.press(api, db, alice.user, goal.message, goal.data)
        plan = ((alice.user, goal.message, goal.data, True),
                (alice.user, goal.message, goal.other, False),
                (bob.user, bob.last(), goal.data, True),
                (bob.user, goal.message, goal.data, True))
        for name, (user, message, data, shown) in zip(PRESSES, plan, strict=True):
            effect = await t.press(api, db, user, message, data, as_shown=shown)
            rows.append((name, effect.answers, effect.edits, effect.sends, len(effect.changed)))
        refused = sum(1 for c in api.calls if c.method in t.EDITS and not c.ok)
    return rows, refused


async def inline_answered() -> bool:
    """Whether a press from an inline message (no message) is answered."""
    db = Path(tempfile.mkdtemp()) / "bot.db"
    async with t.BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open"):
        alice = Phone(api, db, api.user(t.ALICE, "Alice", "da"))
        await t.onboard(alice)
        update_id = api.press_inline(alice.user, t.target(alice, "m:start:").data)
        await alice.say("/help")  # handled after the press: the chat's updates are in order
        query = next(q for q, v in api.callback_queries.items()
                     if v.get("update_id") == update_id)
        return api.answered(query)


async def main() -> None:
    """Print the table and the totals."""
    logging.disable(logging.CRITICAL)
    totals: dict[str, list[int]] = {}
    refused_edits = 0
    print(f"{'kind':44} {'press':22} answers edits sends tables")
    for kind in t.KINDS:
        rows, refused = await one(kind)
        refused_edits += refused
        for name, answers, edits, sends, changed in rows:
            print(f"{kind:44} {name:22} {answers:7} {edits:5} {sends:5} {changed:6}")
            total = totals.setdefault(name, [0, 0, 0, 0, 0])
            total[0] += 1
            total[1] += answers != 1
            total[2] += edits
            total[3] += sends
            total[4] += changed > 0
    for name, (n, unanswered, edits, sends, changed) in totals.items():
        print(f"total {name}: {n} presses, {unanswered} not answered exactly once, {edits} "
              f"edits, {sends} sends, {changed} with stored changes")
    print("edits refused as 'message is not modified':", refused_edits)
    print("press from an inline message answered:", await inline_answered())


if __name__ == "__main__":
    asyncio.run(main())
