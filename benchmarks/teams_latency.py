"""Teams channel figures: time from a posted activity to the bot's reply, against the stand-in.

    .venv/bin/python benchmarks/teams_latency.py [messages] [out_dir]

Runs the real `tillidsbot run` as a subprocess in TEAMS_TEST_MODE with tests/connector_standin.py
as serviceUrl on 127.0.0.1. One leader (after first contact, outside the measurement) sends
`messages` activities one after the other, alternating a command typed without a slash
('hjælp'), card presses (the menu, then the conversation it starts) and free-text answers;
each latency is from the POST to /api/messages leaving the test until the stand-in receives the
bot's first connector call for it (per-conversation pacing, 60 operations in 30 s, shows in the
tail of a long run: that is Teams' limit, honoured by design). Prints median, p95 and max,
and writes the stand-in's transcript and one card's JSON to out_dir (default: a temporary
folder). Asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.connector_standin import ConnectorStandIn  # noqa: E402
from tests.teamskit import Member, TeamsBot, buttons, card_of  # noqa: E402

LEADER = "0f0e0d0c-3333-4000-8000-000000000003"


async def measure(count: int, out_dir: Path) -> None:
    """Post `count` activities in turn; print the latency figures."""
    db = out_dir / "bench.db"
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, db, TEAMS_ALLOWED_IDS=LEADER).start()
        try:
            lene = Member(connector, bot, LEADER, "Lene", "da-DK")
            await lene.say("/start")
            await lene.press()
            await lene.press()
            latencies: list[float] = []
            kinds: dict[str, list[float]] = {"command": [], "press": [], "text": []}
            for n in range(count):
                last = lene.last()
                if n % 5 == 4:
                    kind, activity = "command", lene.activity(text="hjælp")
                elif buttons(card_of(last)):
                    kind = "press"
                    card_id = [i for i in connector.ids(lene.conversation_id)
                               if card_of(connector.sent[i].activity)][-1]
                    value = buttons(card_of(last))[0]["data"]
                    activity = lene.activity(value=value, replyToId=card_id)
                else:
                    kind, activity = "text", lene.activity(text="Ugentlig sparring med AB")
                calls = len(connector.calls)
                await lene.post(activity)

                def answered(c: int = calls) -> bool:
                    """The bot made a connector call since the post."""
                    return len(connector.calls) > c

                await connector.wait_for(answered)
                latency = connector.calls[calls].at - connector.inbound[-1][0]
                latencies.append(latency)
                kinds[kind].append(latency)
            transcript = connector.transcript(lene.conversation_id)
            card = next(card_of(a) for a in connector.messages(lene.conversation_id)
                        if buttons(card_of(a)))
        finally:
            await bot.stop()
    (out_dir / "transcript.txt").write_text("\n".join(transcript), encoding="utf-8")
    (out_dir / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=2),
                                       encoding="utf-8")
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"{len(ms)} activities: reply latency median {statistics.median(ms):.1f} ms, "
          f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms")
    for kind, values in kinds.items():
        if values:
            print(f"  {kind:8s} n={len(values):3d} median "
                  f"{statistics.median(values) * 1000:.1f} ms")
    print(f"transcript and card JSON in {out_dir}")


def main() -> None:
    """Parse arguments and run."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    if len(sys.argv) > 2:
        out = Path(sys.argv[2])
        out.mkdir(parents=True, exist_ok=True)
        asyncio.run(measure(count, out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(count, Path(tmp)))


if __name__ == "__main__":
    main()
