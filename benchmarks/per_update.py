"""Cost of one conversation step: the real `tillidsbot run` beside a bare PTB v22 echo bot.

    .venv/bin/python benchmarks/per_update.py [--runs 3] [--blocks 4] [--users 30]
    .venv/bin/python benchmarks/per_update.py --quick        # a smoke run, a few seconds

Both bots are real processes polling one lean fake Bot API on 127.0.0.1
(benchmarks/fake_botapi.py). Every step of the scenario is a *turn*: a group of fresh leaders
each send one update, spread over the turn at a steady rate, and the turn ends when every
update is handled (Tillidsbot: its telegram_updates row is 'done'; echo: the reply arrived).
Turns take place A B B A (A = Tillidsbot, B = the echo bot, each with its own group of leaders)
for every step of every block, so drift on this shared machine hits both alike.

The scenario, per leader: `/start` as a new leader (workload "start"), the language and the
time-zone buttons ("button"), `/delegate` with its first answer typed as soon as the first
message of the reply arrives ("fast answer": the answer sent while the previous reply is still
arriving), a typed answer ("typed"), a button answer ("button"), another typed answer, and
`/history` ("history"). The echo bot gets a text message at every step (an echo bot has no
buttons), so its figures are the bare cost of one text update and one reply.

Figures per workload: CPU per update (the bot process's CPU time from /proc, all threads),
Bot API calls per update (getUpdates not counted), reply latency p50/p95 from the update being
handed out to the last message of its reply; per process: peak RSS (VmHWM) and the time from
spawn to the first getUpdates. The ratio Tillidsbot / echo is reported per run, then the median
and spread (min-max) over the runs. bot/ is byte-compiled first (see precompile()), so
start-up is timed as the installed bot starts. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_botapi import Bot, Call, FakeBotApi  # noqa: E402

TILLIDSBOT_TOKEN = "1001:AAbenchTillidsbotTokenForTheFakeApi00000"
ECHO_TOKEN = "1002:AAbenchEchoTokenForTheFakeApi000000000000"
ANSWERS = [
    "Ugeplanen for stuen til KL (pædagog)",
    "Børnene skal møde voksne, der selv har planlagt dagen og kan forklare hvorfor",
    "MH sidder med ved den første plan, og vi tager ti minutter sammen hver torsdag",
]


@dataclass(frozen=True)
class Step:
    """One turn's action: a text, or a press of the newest buttons' row; maybe a fast follow."""

    workload: str
    text: str | None = None
    row: int = 0
    fast: str | None = None  # typed as soon as the first message of the reply arrives


SCENARIO = [
    Step("start", text="/start"),
    Step("button", row=0),  # language: dansk
    Step("button", row=0),  # time zone
    Step("fast answer", text="/delegate", fast=ANSWERS[0]),
    Step("typed", text=ANSWERS[1]),
    Step("button", row=1),  # competences: partly
    Step("typed", text=ANSWERS[2]),
    Step("history", text="/history"),
]
ECHO_TEXT_FOR_BUTTON = "Delvist"


@dataclass
class Injection:
    """One update handed to a bot."""

    chat: int
    update_id: int
    at: float
    workload: str


@dataclass
class Figures:
    """What one bot accumulated over a run, per workload."""

    cpu: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    updates: Counter[str] = field(default_factory=Counter)
    calls: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    latency: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    peak_rss: int = 0
    startup: float = 0.0


def process_cpu(pid: int) -> float:
    """CPU seconds of every thread of a process (ns-precise schedstat, else utime+stime)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (FileNotFoundError, PermissionError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int) -> int:
    """VmHWM of a process in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Runner:
    """One bot process, its fake-API state and its figures."""

    def __init__(self, name: str, api: FakeBotApi, bot: Bot, command: list[str],
                 env: dict[str, str], db: Path | None) -> None:
        """Remember how to start it."""
        self.name = name
        self.api = api
        self.bot = bot
        self.command = command
        self.env = env
        self.db = db
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.figures = Figures()
        self.pending_fast: dict[int, tuple[str, str]] = {}
        self.injections: list[Injection] = []
        self.next_user = 0
        bot.on_call = self._on_call

    async def start(self) -> None:
        """Spawn and wait for its first getUpdates."""
        spawned = time.monotonic()
        # stderr to a file: a pipe nobody reads would stall a chatty bot once it is full.
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - the spawn is what is timed
            self.command, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log)
        while self.bot.first_get_updates is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self._log_text()}")
            await asyncio.sleep(0.005)
        self.figures.startup = self.bot.first_get_updates - spawned

    async def stop(self) -> None:
        """Note the peak RSS, then SIGTERM."""
        assert self.proc is not None
        self.figures.peak_rss = peak_rss(self.proc.pid)
        self.proc.send_signal(signal.SIGINT)
        for _ in range(200):
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        else:
            self.proc.kill()
        bad = [line for line in self._log_text().splitlines()
               if " ERROR " in line or "Traceback" in line]
        if bad:
            print(f"  [{self.name} logged errors: {bad[:3]}]", file=sys.stderr)

    def _log_text(self) -> str:
        """What the process wrote to stderr."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def group(self, size: int) -> list[int]:
        """Fresh leaders for one scenario."""
        base = 10_000_000 * (1 if self.name == "tillidsbot" else 2)
        users = [base + self.next_user + i for i in range(size)]
        self.next_user += size
        return users

    def _inject(self, chat: int, step: Step, text: str | None, workload: str) -> None:
        """Hand one update to the bot."""
        if text is not None:
            update_id = self.api.text(self.bot, chat, text)
        elif self.name == "echo":
            update_id = self.api.text(self.bot, chat, ECHO_TEXT_FOR_BUTTON)
        else:
            update_id = self.api.press(self.bot, chat, step.row)
        self.injections.append(Injection(chat, update_id, time.monotonic(), workload))

    def _on_call(self, call: Call) -> None:
        """Type the fast answer as soon as the first message of a reply arrives."""
        if call.method == "sendMessage" and call.chat_id in self.pending_fast:
            text, workload = self.pending_fast.pop(call.chat_id)
            self._inject(call.chat_id, Step(workload), text, workload)

    async def turn(self, users: list[int], step: Step, rate: float) -> None:
        """Every leader of the group takes the step; wait until all are handled."""
        assert self.proc is not None
        first_call = len(self.bot.calls)
        first_injection = len(self.injections)
        cpu_before = process_cpu(self.proc.pid)
        for chat in users:
            if step.fast is not None:
                self.pending_fast[chat] = (step.fast, "fast answer")
            self._inject(chat, step, step.text, "command" if step.fast else step.workload)
            await asyncio.sleep(1 / rate)
        await self._until_handled(first_injection, first_call)
        cpu = process_cpu(self.proc.pid) - cpu_before
        injections = self.injections[first_injection:]
        calls = self.bot.calls[first_call:]
        self._account(step.workload, cpu, injections, calls)

    async def _until_handled(self, first_injection: int, first_call: int) -> None:
        """Until every update of the turn is handled (and every fast answer typed)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not self.pending_fast:
                ids = [i.update_id for i in self.injections[first_injection:]]
                if self._handled(ids, first_call):
                    return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"{self.name}: a turn did not finish")

    def _handled(self, ids: list[int], first_call: int) -> bool:
        """Tillidsbot: its update rows are 'done'; echo: one reply per update."""
        if self.db is None:
            replies = sum(1 for c in self.bot.calls[first_call:] if c.method == "sendMessage")
            return replies >= len(ids)
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1) as conn:
                tables = {r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "inbound_events" in tables:  # the one inbound pipeline's record
                    keys = [f"{self.bot.bot_id}:{i}" for i in ids]
                    marks = ",".join("?" * len(keys))
                    (done,) = conn.execute(
                        "SELECT count(*) FROM inbound_events WHERE channel = 'telegram' "
                        f"AND status = 'done' AND event_id IN ({marks})", keys).fetchone()
                else:  # versions before it
                    (done,) = conn.execute(
                        "SELECT count(*) FROM telegram_updates WHERE status = 'done' "
                        "AND update_id BETWEEN ? AND ?", (min(ids), max(ids))).fetchone()
        except sqlite3.OperationalError:
            return False
        return bool(done >= len(ids))

    def _account(self, workload: str, cpu: float, injections: list[Injection],
                 calls: list[Call]) -> None:
        """Add a turn's figures: CPU and calls per update, latency to the reply's last call."""
        fig = self.figures
        fig.cpu[workload] += cpu
        fig.updates[workload] += len(injections)
        for call in calls:
            fig.calls[workload][call.method] += 1
        by_chat: defaultdict[int, list[Injection]] = defaultdict(list)
        for injection in injections:
            by_chat[injection.chat].append(injection)
        chat_calls: defaultdict[int, list[float]] = defaultdict(list)
        for call in calls:
            if call.chat_id is not None:
                chat_calls[call.chat_id].append(call.at)
        for chat, items in by_chat.items():
            items.sort(key=lambda i: i.at)
            for n, item in enumerate(items):
                end = items[n + 1].at if n + 1 < len(items) else float("inf")
                times = [t for t in chat_calls[chat] if item.at <= t < end]
                if times and (item.workload != "command"):
                    fig.latency[item.workload].append(max(times) - item.at)


def precompile() -> None:
    """Byte-compile this checkout's bot/ (into its ignored __pycache__ folders) before spawning:
    installed from the wheel, as the image and an operator run it, the bot starts from
    bytecode, as the echo bot's PTB does from site-packages; an editable checkout under
    PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module again at every spawn."""
    compileall.compile_dir(ROOT / "bot", quiet=1)


def tillidsbot_command(profile: str | None = None) -> list[str]:
    """`tillidsbot run` of this checkout (the module, so a copy of the tree runs its own code);
    under cProfile writing to `profile` when given."""
    wrap = ["-m", "cProfile", "-o", profile] if profile else []
    return [sys.executable, *wrap, "-m", "bot.cli", "run"]


async def one_run(blocks: int, users: int, rate: float,
                  profile: str | None = None) -> dict[str, Figures]:
    """Both bots, fresh, through `blocks` blocks of A B B A turns."""
    api = FakeBotApi()
    await api.start()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TELEGRAM_", "TILLIDSBOT_", "ACCESS_", "WEBHOOK_"))}
        tb_env = {**base_env, "TELEGRAM_BOT_TOKEN": TILLIDSBOT_TOKEN,
                  "TELEGRAM_API_BASE_URL": api.base_url, "TILLIDSBOT_DB": str(db),
                  "ACCESS_MODE": "open"}
        echo_env = {**base_env, "TELEGRAM_BOT_TOKEN": ECHO_TOKEN,
                    "TELEGRAM_API_BASE_URL": api.base_url}
        a = Runner("tillidsbot", api, api.add_bot(TILLIDSBOT_TOKEN, 1001),
                   tillidsbot_command(profile), tb_env, db)
        b = Runner("echo", api, api.add_bot(ECHO_TOKEN, 1002),
                   [sys.executable, str(ROOT / "benchmarks" / "echo_bot.py")], echo_env, None)
        await a.start()
        await b.start()
        await asyncio.sleep(0.5)  # let both settle (menus set, first polls open)
        try:
            for _ in range(blocks):
                groups = {(r.name, k): r.group(users) for r in (a, b) for k in (0, 1)}
                for step in SCENARIO:
                    for runner, k in ((a, 0), (b, 0), (b, 1), (a, 1)):
                        await runner.turn(groups[(runner.name, k)], step, rate)
        finally:
            await a.stop()
            await b.stop()
            await api.stop()
    return {"tillidsbot": a.figures, "echo": b.figures}


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


WORKLOADS = ["start", "button", "fast answer", "typed", "history"]


def summarise(fig: Figures) -> dict[str, dict[str, float]]:
    """Per workload (and 'all'): ms CPU per update, calls per update, latency p50/p95 in ms."""
    out: dict[str, dict[str, float]] = {}
    for w in [*WORKLOADS, "all"]:
        keys = WORKLOADS if w == "all" else [w]
        n = sum(fig.updates[k] for k in keys)
        if not n:
            continue
        cpu = sum(fig.cpu[k] for k in keys)
        calls: Counter[str] = Counter()
        for k in keys:
            calls.update(fig.calls[k])
        lat = [x for k in keys for x in fig.latency[k]]
        out[w] = {"cpu_ms": 1000 * cpu / n, "calls": sum(calls.values()) / n,
                  "send": calls["sendMessage"] / n,
                  "p50": 1000 * pct(lat, 0.5), "p95": 1000 * pct(lat, 0.95), "n": n,
                  "methods": dict(calls)}  # type: ignore[dict-item]
    return out


def spread(values: list[float]) -> str:
    """'median (min-max)'."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def report(runs: list[dict[str, Figures]]) -> None:
    """The table: per workload, median and spread over runs."""
    sums = [{name: summarise(fig) for name, fig in run.items()} for run in runs]
    print(f"\n{len(runs)} run(s); figures are median (min-max) over runs\n")
    print("| workload | echo CPU ms/upd | Tillidsbot CPU ms/upd | ratio | echo calls/upd | "
          "Tillidsbot calls/upd (sendMessage) | echo p50/p95 ms | Tillidsbot p50/p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for w in [*WORKLOADS, "all"]:
        rows = [(s["echo"].get(w), s["tillidsbot"].get(w)) for s in sums]
        if any(e is None or t is None for e, t in rows):
            continue
        e_cpu = [e["cpu_ms"] for e, _ in rows]  # type: ignore[index]
        t_cpu = [t["cpu_ms"] for _, t in rows]  # type: ignore[index]
        ratio = [t / e for t, e in zip(t_cpu, e_cpu, strict=True)]
        e_calls = [e["calls"] for e, _ in rows]  # type: ignore[index]
        t_calls = [t["calls"] for _, t in rows]  # type: ignore[index]
        t_send = [t["send"] for _, t in rows]  # type: ignore[index]
        e_lat = (statistics.median(e["p50"] for e, _ in rows),  # type: ignore[index]
                 statistics.median(e["p95"] for e, _ in rows))  # type: ignore[index]
        t_lat = (statistics.median(t["p50"] for _, t in rows),  # type: ignore[index]
                 statistics.median(t["p95"] for _, t in rows))  # type: ignore[index]
        print(f"| {w} | {spread(e_cpu)} | {spread(t_cpu)} | **{spread(ratio)}×** | "
              f"{statistics.median(e_calls):.2f} | {statistics.median(t_calls):.2f} "
              f"({statistics.median(t_send):.2f}) | {e_lat[0]:.0f} / {e_lat[1]:.0f} | "
              f"{t_lat[0]:.0f} / {t_lat[1]:.0f} |")
    print()
    for name in ("echo", "tillidsbot"):
        rss = [run[name].peak_rss / 2**20 for run in runs]
        start = [run[name].startup for run in runs]
        print(f"{name:>10}: peak RSS {spread(rss)} MB; spawn to first getUpdates "
              f"{spread(start)} s")
    print("\nBot API calls per method (Tillidsbot, last run):")
    for w, s in sums[-1]["tillidsbot"].items():
        methods = s["methods"]
        n = s["n"]
        print(f"  {w:>12}: " + ", ".join(f"{m} {c / n:.2f}"  # type: ignore[union-attr]
                                          for m, c in sorted(methods.items())))  # type: ignore[union-attr]


def main() -> int:
    """Parse, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--users", type=int, default=30, help="leaders per group and turn")
    parser.add_argument("--rate", type=float, default=40.0, help="updates per second in a turn")
    parser.add_argument("--quick", action="store_true", help="one short run (a smoke test)")
    parser.add_argument("--profile", metavar="PATH",
                        help="run Tillidsbot under cProfile, stats to PATH (figures inflated)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.blocks, args.users = 1, 1, 3
    precompile()
    runs = []
    for n in range(args.runs):
        started = time.monotonic()
        runs.append(asyncio.run(one_run(args.blocks, args.users, args.rate, args.profile)))
        print(f"run {n + 1}/{args.runs} took {time.monotonic() - started:.0f} s", flush=True)
    report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
