"""SQL cost of every step of benchmarks/per_update.py's scenario, traced through aiosqlite.

    .venv/bin/python benchmarks/scenario_trace.py [-v]

The real bot (PTB Application, pipeline, SQLite) runs in-process against
tests/botapi_standin.py on 127.0.0.1. One new leader in open mode takes per_update.py's steps
(/start, the language and time-zone buttons, /delegate, typed and button answers, /history);
for each step the statements of the write connection are counted (as in
benchmarks/typed_answer_trace.py, whose tracing this reuses) with the Bot API calls it made.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import typed_answer_trace as trace  # noqa: E402
from benchmarks.per_update import ANSWERS, SCENARIO  # noqa: E402
from bot.store.db import Store  # noqa: E402
from tests.botapi_standin import BotApiStandIn  # noqa: E402
from tests.tgkit import InProcessBot, Phone  # noqa: E402


async def main() -> None:
    """Take the scenario's steps, tracing each."""
    Store.open = classmethod(trace._traced_open)  # type: ignore[method-assign,assignment]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        async with BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open"):
            phone = Phone(api, db, api.user(4242, "Lene", "da"))
            steps = list(SCENARIO)
            print("| step | statements | SELECT | INSERT/UPDATE/DELETE | transactions | "
                  "Bot API calls |")
            print("|---|---|---|---|---|---|")
            for n, step in enumerate(steps):
                calls_before = len(api.calls)
                trace.TRACE.clear()
                trace.RECORDING = True
                if step.text is not None:
                    await phone.say(step.text)
                    if step.fast:
                        await phone.say(ANSWERS[0])
                else:
                    buttons = api.buttons(phone.last())
                    await phone.press(phone.last(), label=buttons[step.row]["text"])
                await asyncio.sleep(0.1)  # the 'done' mark may trail the reply
                trace.RECORDING = False
                kinds = Counter(s.split()[0].upper() for s in trace.TRACE if s)
                calls = Counter(c.method for c in api.calls[calls_before:]
                                if not c.method.startswith(("getUpdates", "_")))
                writes = kinds["INSERT"] + kinds["UPDATE"] + kinds["DELETE"]
                name = step.text or f"button row {step.row}"
                print(f"| {n + 1}. {step.workload}: {name[:24]} | {len(trace.TRACE)} | "
                      f"{kinds['SELECT']} | {writes} | {kinds['BEGIN']} | "
                      f"{', '.join(f'{m} {c}' for m, c in sorted(calls.items()))} |")
                if "-v" in sys.argv:
                    for statement in trace.TRACE:
                        print("    ", statement[:150])


if __name__ == "__main__":
    asyncio.run(main())
