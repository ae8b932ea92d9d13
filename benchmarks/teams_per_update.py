"""Cost of one conversation step on Teams: the real `tillidsbot run` against the connector stand-in.

    .venv/bin/python benchmarks/teams_per_update.py [--runs 3] [--blocks 3] [--users 20]
    .venv/bin/python benchmarks/teams_per_update.py --quick    # a smoke run, a few seconds

The Teams sibling of benchmarks/per_update.py (it reuses that scenario and its accounting):
the bot runs as a subprocess in TEAMS_TEST_MODE with tests/connector_standin.py as serviceUrl
on 127.0.0.1 (an aiohttp recorder that answers at once, so it is not the bottleneck). Every
step of the scenario is a *turn*: a group of fresh leaders each post one activity to
/api/messages, spread over the turn at a steady rate, and the turn ends when every POST has
been answered (the SDK answers once the turn, and so the reply, is done). Steps per leader:
`/start` as a new leader ("start"), the language and time-zone card presses ("button"),
`/delegate` with its first answer typed as soon as the first connector call of the reply
arrives ("fast answer"), a typed answer ("typed"), a card press ("button"), another typed
answer, `/history` ("history").

Figures per workload: ms of the bot process's CPU per activity (/proc, all threads), connector
calls per activity, and activity -> reply latency p50/p95 (from the POST leaving here to the last
connector call of its reply); per run the peak RSS. There is no peer to compare with on Teams:
the figures are absolute. All leaders share one tenant, so the rate stays under Teams' 50
requests/s per tenant (--rate): above it the bot paces by design. Prints figures, asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.per_update import (  # noqa: E402
    SCENARIO,
    WORKLOADS,
    Figures,
    Step,
    peak_rss,
    precompile,
    process_cpu,
    spread,
    summarise,
)
from tests.connector_standin import ConnectorStandIn  # noqa: E402
from tests.teamskit import Member, TeamsBot, card_of  # noqa: E402


class TeamsRunner:
    """The bot process, the stand-in and the figures of one run."""

    def __init__(self, connector: ConnectorStandIn, bot: TeamsBot) -> None:
        """Bind to a started bot."""
        self.connector = connector
        self.bot = bot
        self.figures = Figures()
        self.next_user = 0
        # (conversation, posted at, workload) of every activity posted
        self.posted: list[tuple[str, float, str]] = []

    @property
    def pid(self) -> int:
        """The bot's process id."""
        assert self.bot.proc is not None
        return self.bot.proc.pid

    def group(self, size: int) -> list[Member]:
        """Fresh leaders for one scenario."""
        members = [Member(self.connector, self.bot,
                          f"0f0e0d0c-7777-4000-8000-{self.next_user + i:012d}", "Leder", "da-DK")
                   for i in range(size)]
        self.next_user += size
        return members

    def _press_value(self, member: Member, row: int) -> tuple[str, Any]:
        """The newest card of the member's chat and the data of the first button of a row."""
        for activity_id in reversed(self.connector.ids(member.conversation_id)):
            content = card_of(self.connector.sent[activity_id].activity)
            rows = [e["actions"] for e in (content or {}).get("body", [])
                    if e.get("type") == "ActionSet"]
            if rows:
                return activity_id, rows[min(row, len(rows) - 1)][0]["data"]
        raise LookupError("no card to press")

    async def _post(self, member: Member, step: Step, text: str | None,
                    workload: str) -> None:
        """One activity from a member; returns once the bot answered the POST."""
        if text is not None:
            activity = member.activity(text=text, textFormat="plain")
        else:
            card_id, value = self._press_value(member, step.row)
            activity = member.activity(value=value, replyToId=card_id, text=None)
        self.posted.append((member.conversation_id, time.monotonic(), workload))
        status, _ = await member.post(activity)
        if status not in (200, 202):
            raise RuntimeError(f"the bot answered {status}")

    async def _take(self, member: Member, step: Step) -> None:
        """A member takes the step (with the fast answer after the first reply call)."""
        if step.fast is None:
            await self._post(member, step, step.text, step.workload)
            return
        calls = len(self.connector.calls)
        first = asyncio.create_task(self._post(member, step, step.text, "command"))
        await self.connector.wait_for(lambda: any(
            c.conversation_id == member.conversation_id
            for c in self.connector.calls[calls:]), within=60)
        await self._post(member, Step("fast answer"), step.fast, "fast answer")
        await first

    async def turn(self, members: list[Member], step: Step, rate: float) -> None:
        """Every member takes the step at a steady rate; wait until all are answered."""
        first_call = len(self.connector.calls)
        first_post = len(self.posted)
        cpu_before = process_cpu(self.pid)
        tasks = []
        for member in members:
            tasks.append(asyncio.create_task(self._take(member, step)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
        cpu = process_cpu(self.pid) - cpu_before
        self._account(step.workload, cpu, self.posted[first_post:],
                      self.connector.calls[first_call:])

    def _account(self, workload: str, cpu: float, posted: list[tuple[str, float, str]],
                 calls: list[Any]) -> None:
        """CPU and connector calls per activity; latency to the last call of each reply."""
        fig = self.figures
        fig.cpu[workload] += cpu
        fig.updates[workload] += len(posted)
        for call in calls:
            fig.calls[workload][f"{call.method} {_shape(call.path)}"] += 1
        by_chat: defaultdict[str, list[tuple[float, str]]] = defaultdict(list)
        for conversation, at, kind in posted:
            by_chat[conversation].append((at, kind))
        chat_calls: defaultdict[str, list[float]] = defaultdict(list)
        for call in calls:
            if call.conversation_id is not None:
                chat_calls[call.conversation_id].append(call.at)
        for conversation, items in by_chat.items():
            items.sort()
            for n, (at, kind) in enumerate(items):
                end = items[n + 1][0] if n + 1 < len(items) else float("inf")
                times = [t for t in chat_calls[conversation] if at <= t < end]
                if times and kind != "command":
                    fig.latency[kind].append(max(times) - at)


def _shape(path: str) -> str:
    """A connector path with its ids replaced by placeholders."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[:2] == ["v3", "conversations"]:
        parts[2] = "{id}"
    if len(parts) >= 5:
        parts[4] = "{activityId}"
    return "/" + "/".join(parts)


async def one_run(blocks: int, users: int, rate: float) -> Figures:
    """A fresh bot and stand-in through `blocks` groups of the scenario."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        async with ConnectorStandIn() as connector:
            spawned = time.monotonic()
            bot = await TeamsBot(connector, db, ACCESS_MODE="open").start()
            runner = TeamsRunner(connector, bot)
            runner.figures.startup = time.monotonic() - spawned
            try:
                for _ in range(blocks):
                    members = runner.group(users)
                    for step in SCENARIO:
                        await runner.turn(members, step, rate)
                runner.figures.peak_rss = peak_rss(runner.pid)
            finally:
                await bot.stop()
            bad = [line for line in bot.output.splitlines()
                   if " ERROR " in line or "Traceback" in line]
            if bad:
                print(f"  [the bot logged errors: {bad[:3]}]", file=sys.stderr)
    return runner.figures


def report(runs: list[Figures]) -> None:
    """The table: per workload, median and spread over runs."""
    sums = [summarise(fig) for fig in runs]
    print(f"\n{len(runs)} run(s); figures are median (min-max) over runs\n")
    print("| workload | activities/run | CPU ms/activity | connector calls/activity | "
          "reply p50 ms | reply p95 ms |")
    print("|---|---|---|---|---|---|")
    for w in [*WORKLOADS, "all"]:
        rows = [s.get(w) for s in sums]
        if any(r is None for r in rows):
            continue
        got = [r for r in rows if r is not None]
        print(f"| {w} | {statistics.median(r['n'] for r in got):.0f} | "
              f"{spread([r['cpu_ms'] for r in got])} | {spread([r['calls'] for r in got])} | "
              f"{spread([r['p50'] for r in got])} | {spread([r['p95'] for r in got])} |")
    rss = [fig.peak_rss / 2**20 for fig in runs]
    start = [fig.startup for fig in runs]
    print(f"\npeak RSS {spread(rss)} MB; spawn to listening {spread(start)} s")
    print("\nConnector calls per activity and method (last run):")
    for w, s in sums[-1].items():
        methods: dict[str, int] = s["methods"]  # type: ignore[assignment]
        n = s["n"]
        print(f"  {w:>12}: " + ", ".join(f"{m} {c / n:.2f}" for m, c in sorted(methods.items())))


def main() -> int:
    """Parse, run, print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--users", type=int, default=20, help="leaders per group and turn")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="activities per second in a turn (one tenant: keep under 50)")
    parser.add_argument("--quick", action="store_true", help="one short run (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.blocks, args.users = 1, 1, 3
    runs = []
    precompile()  # as the installed bot starts (see benchmarks/per_update.py)
    for n in range(args.runs):
        started = time.monotonic()
        runs.append(asyncio.run(one_run(args.blocks, args.users, args.rate)))
        print(f"run {n + 1}/{args.runs} took {time.monotonic() - started:.0f} s", flush=True)
    report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
