"""A flooding leader harms only themself: other leaders' reply latency with and without a flood.

    .venv/bin/python benchmarks/flood.py [--runs 3] [--windows 6] [--window 20] [--others 20]
    .venv/bin/python benchmarks/flood.py --quick        # a smoke run, about half a minute

The real `tillidsbot run` (default settings: TILLIDSBOT_CHAT_BACKLOG=16, per-chat pacing ~1/s)
polls the lean fake Bot API on 127.0.0.1 (benchmarks/fake_botapi.py). `--others` leaders
converse the whole run: each types an answer (and now and then /delegate), waits for the
bot's reply, thinks for --think seconds and goes on. After a warm-up window (not reported) the
run is cut into windows that take turns, quiet and flood (Q F Q F ...): in a flood window one
more admitted leader sends texts at 500 a minute, each a different text (`--burst N`: and N
at once at the window's start, a paste). So drift on this shared machine hits both alike.

Figures per run: the others' reply latency p50/p95 (from the update being handed out to the
first message of its reply) in quiet and in flood windows; for the flooder: messages sent,
updates shed, the peak backlog of one conversation (both from the bot's own /metrics), rows
stored, and rows stored twice (answers opened with the bot's key store). Prints a table,
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_botapi import Bot, Call, FakeBotApi  # noqa: E402
from bot.store import crypto  # noqa: E402

TOKEN = "1001:AAbenchTillidsbotTokenForTheFakeApi00000"
FLOODER = 90_000_001
FLOOD_PER_MINUTE = 500
ANSWERS = [
    "Ugeplanen for stuen til KL (pædagog)",
    "Børnene skal møde voksne, der selv har planlagt dagen og kan forklare hvorfor",
    "MH sidder med ved den første plan, og vi tager ti minutter sammen hver torsdag",
    "Vi holder os til budgetrammen og de faglige standarder",
]


@dataclass
class Run:
    """What one run measured."""

    latency: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    flood_sent: int = 0
    flood_ids: list[int] = field(default_factory=list)
    shed: float = 0.0
    peak: float = 0.0
    stored: int = 0
    twice: int = 0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """The bot's /metrics: series -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in lines if line and not line.startswith("#")}


class Chats:
    """Per chat: how many messages the bot sent there, and when each arrived."""

    def __init__(self, bot: Bot) -> None:
        """Watch the bot's calls."""
        self.sent: Counter[int] = Counter()
        self.times: defaultdict[int, list[float]] = defaultdict(list)
        bot.on_call = self._on_call

    def _on_call(self, call: Call) -> None:
        """Count a message to a chat."""
        if call.chat_id is not None and call.method == "sendMessage":
            self.sent[call.chat_id] += 1
            self.times[call.chat_id].append(call.at)

    async def reply(self, chat: int, before: int, within: float = 60.0) -> float | None:
        """Wait until the chat has more than `before` messages; the first new one's time."""
        deadline = time.monotonic() + within
        while self.sent[chat] <= before:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.005)
        return self.times[chat][before]


def buttons_at(bot: Bot, chat: int) -> int:
    """The id of the newest message in the chat that shows buttons (0: none)."""
    shown = [i for i, m in bot.messages[chat].items() if m.get("reply_markup")]
    return max(shown, default=0)


async def until(predicate: Callable[[], bool], interval: float = 0.01) -> None:
    """Poll plain state (the fake API's, the bot's database) until predicate holds."""
    while not predicate():  # noqa: ASYNC110 - the state is plain data, there is no event
        await asyncio.sleep(interval)


def all_done(db: Path, update_ids: list[int]) -> bool:
    """Whether the bot recorded every one of these updates as done."""
    keys = [f"1001:{u}" for u in update_ids]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        (done,) = conn.execute(
            "SELECT count(*) FROM inbound_events WHERE channel = 'telegram' AND status = 'done' "
            f"AND event_id IN ({','.join('?' * len(keys))})", keys).fetchone()
    return bool(done == len(keys))


async def onboard(api: FakeBotApi, bot: Bot, chat: int) -> None:
    """/start, the language and the time-zone buttons: a leader at the menu."""
    pressed = 0
    api.text(bot, chat, "/start")
    for _ in range(2):
        seen = pressed
        await until(lambda: buttons_at(bot, chat) > seen)  # noqa: B023 - awaited at once
        pressed = buttons_at(bot, chat)
        api.press(bot, chat, 0)
    await until(lambda: bool(bot.messages[chat]) and max(bot.messages[chat]) > pressed)


async def converse(api: FakeBotApi, bot: Bot, chats: Chats, chat: int, think: float,
                   phase: list[str], stop: asyncio.Event, run: Run) -> None:
    """One other leader: type, wait for the reply, think; record latency by window kind."""
    step = 0
    while not stop.is_set():
        text = "/delegate" if step % 6 == 0 else ANSWERS[step % len(ANSWERS)]
        step += 1
        before = chats.sent[chat]
        window = phase[0]
        sent_at = time.monotonic()
        api.text(bot, chat, text)
        arrived = await chats.reply(chat, before)
        if arrived is not None and window == phase[0]:  # within one window only
            run.latency[window].append(arrived - sent_at)
        await asyncio.sleep(think)


async def flood(api: FakeBotApi, bot: Bot, seconds: float, run: Run, burst: int = 0) -> None:
    """The flooder: `burst` texts at once (a paste), then different texts at FLOOD_PER_MINUTE
    for the window."""
    for _ in range(burst):
        run.flood_ids.append(
            api.text(bot, FLOODER, f"Oversvømmelse nr. {run.flood_sent}: {ANSWERS[1]}"))
        run.flood_sent += 1
    interval = 60 / FLOOD_PER_MINUTE
    start = time.monotonic()
    sent = 0
    while (due := start + sent * interval) < start + seconds:
        await asyncio.sleep(max(0.0, due - time.monotonic()))  # a steady rate, not drifting
        run.flood_ids.append(
            api.text(bot, FLOODER, f"Oversvømmelse nr. {run.flood_sent}: {ANSWERS[0]}"))
        run.flood_sent += 1
        sent += 1


def stored_rows(db: Path, leader_id: str) -> tuple[int, int]:
    """(answers stored for a leader, answers whose text is stored more than once)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT id, leader_id, value FROM answers WHERE leader_id = ?",
                            (leader_id,)).fetchall()
    ring = crypto.open_keyring(db, create=False)
    values = [crypto.open_stored(ring, "answers", "value", {"id": r[0], "leader_id": r[1]}, r[2])
              for r in rows]
    counts = Counter(v for v in values if v is not None)
    return len(rows), sum(n - 1 for n in counts.values() if n > 1)


async def one_run(windows: int, window: float, others: int, think: float, burst: int = 0,
                  log_path: str | None = None) -> Run:
    """A fresh bot; the others converse through Q F Q F ... windows."""
    api = FakeBotApi()
    await api.start()
    bot = api.add_bot(TOKEN, 1001)
    chats = Chats(bot)
    run = Run()
    metrics_port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("TELEGRAM_", "TILLIDSBOT_", "ACCESS_", "WEBHOOK_",
                                     "METRICS_"))}
        env = {**base, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
               "TILLIDSBOT_DB": str(db), "ACCESS_MODE": "open",
               "METRICS_PORT": str(metrics_port)}
        log = (open(log_path, "w+b") if log_path  # noqa: SIM115, ASYNC230 - before timing
               else tempfile.TemporaryFile())  # noqa: SIM115 - lives as long as the process
        command = [sys.executable, "-m", "bot.cli", "run"]
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        try:
            while bot.first_get_updates is None:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the bot exited: {log.read().decode()}")
                await asyncio.sleep(0.01)
            users = [80_000_000 + n for n in range(others)]
            await asyncio.gather(*(onboard(api, bot, u) for u in (*users, FLOODER)))
            before = chats.sent[FLOODER]
            api.text(bot, FLOODER, "/delegate")
            await chats.reply(FLOODER, before)
            phase = ["warm-up"]  # not reported: the first steps of a fresh process are slower
            stop = asyncio.Event()
            talkers = [asyncio.create_task(converse(api, bot, chats, u, think, phase, stop, run))
                       for u in users]
            await asyncio.sleep(window)
            for n in range(windows):
                phase[0] = "flood" if n % 2 else "quiet"
                if phase[0] == "flood":
                    await flood(api, bot, window, run, burst)
                else:
                    await asyncio.sleep(window)
            stop.set()
            await asyncio.gather(*talkers)
            # The flooder's kept updates are worked off (paced ~1/s), the shed ones recorded.
            await until(lambda: all_done(db, run.flood_ids), interval=0.5)
            figures = await asyncio.to_thread(scrape, metrics_port)
            run.shed = figures.get('tillidsbot_updates_shed_total{channel="telegram"}', 0.0)
            run.peak = figures.get('tillidsbot_conversation_backlog_peak{channel="telegram"}',
                                   0.0)
            run.stored, run.twice = stored_rows(db, f"tg:{FLOODER}")
        finally:
            proc.send_signal(signal.SIGINT)
            for _ in range(600):  # the fake API must keep answering while the bot stops
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                proc.kill()
            log.seek(0)
            bad = [line for line in log.read().decode(errors="replace").splitlines()
                   if " ERROR " in line or "Traceback" in line]
            if bad:
                print(f"  [the bot logged errors: {bad[:3]}]", file=sys.stderr)
            await api.stop()
    return run


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(runs: list[Run], args: argparse.Namespace) -> None:
    """One row per run, then the medians."""
    burst = f", plus {args.burst} at once per flood window" if args.burst else ""
    print(f"\n{len(runs)} run(s): {args.others} other leaders (think {args.think} s), "
          f"a warm-up and {args.windows} windows of {args.window:.0f} s (Q F Q F ...), "
          f"flood {FLOOD_PER_MINUTE}/min from one leader{burst}\n")
    print("| run | others' replies quiet (n) | quiet p50 / p95 ms | replies in flood (n) | "
          "flood p50 / p95 ms | flood msgs | shed | peak backlog | flooder rows stored | "
          "stored twice |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, r in enumerate(runs, 1):
        q, f = r.latency["quiet"], r.latency["flood"]
        print(f"| {n} | {len(q)} | {1000 * pct(q, 0.5):.0f} / {1000 * pct(q, 0.95):.0f} | "
              f"{len(f)} | {1000 * pct(f, 0.5):.0f} / {1000 * pct(f, 0.95):.0f} | "
              f"{r.flood_sent} | {r.shed:.0f} | {r.peak:.0f} | {r.stored} | {r.twice} |")
    if len(runs) > 1:
        def med(values: list[float]) -> str:
            """Median over runs, ms."""
            return f"{1000 * statistics.median(values):.0f}"
        print(f"| median | | {med([pct(r.latency['quiet'], .5) for r in runs])} / "
              f"{med([pct(r.latency['quiet'], .95) for r in runs])} | | "
              f"{med([pct(r.latency['flood'], .5) for r in runs])} / "
              f"{med([pct(r.latency['flood'], .95) for r in runs])} | | | | | |")


def main() -> int:
    """Parse, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--windows", type=int, default=6, help="Q F Q F ... windows per run")
    parser.add_argument("--window", type=float, default=20.0, help="seconds per window")
    parser.add_argument("--others", type=int, default=20, help="leaders conversing meanwhile")
    parser.add_argument("--think", type=float, default=2.0, help="seconds between their steps")
    parser.add_argument("--burst", type=int, default=0,
                        help="texts the flooder sends at once at the start of each flood window")
    parser.add_argument("--log", metavar="PATH", help="keep the bot's log output here")
    parser.add_argument("--quick", action="store_true", help="one short run (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.windows, args.window, args.others = 1, 2, 8.0, 5
    runs = []
    for n in range(args.runs):
        started = time.monotonic()
        runs.append(asyncio.run(one_run(args.windows, args.window, args.others, args.think,
                                        args.burst, args.log)))
        print(f"run {n + 1}/{args.runs} took {time.monotonic() - started:.0f} s", flush=True)
    report(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
