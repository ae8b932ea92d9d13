"""The crash-injection matrix of the reply outbox (issue 17), as counts to quote.

Every event of a whole /delegate conversation (the command, then one per answer: typed words
and button presses) is crashed at every point (before the commit, after the commit before the
send, after the send before the mark, between two messages of a reply), with a patient and an
impatient leader, and with and without the platform delivering the interrupted event again;
the conversation then goes on (tests/crash_kit.py). Prints, per point: scenarios, answers
lost, answers stored under a question not shown, summaries/agreements missing, messages that
reached the leader twice, and texts answered with 'here is where we are'.

    .venv/bin/python benchmarks/crash_matrix.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.crash_kit import POINTS, Result, matrix  # noqa: E402


def table(results: list[Result]) -> str:
    """The matrix as a Markdown table, one row per crash point and a total."""
    lines = ["| crash point | scenarios | lost | misfiled | summary missing | twice | "
             "refused texts | failing |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for point in (*POINTS, "total"):
        rows = [r for r in results if point in (r.point, "total")]
        lost = sum(1 for r in rows for p in r.problems if "lost" in p)
        misfiled = sum(1 for r in rows for p in r.problems if "meant for" in p)
        missing = sum(1 for r in rows for p in r.problems if "never reached" in p)
        twice = sum(r.extra for r in rows)
        refused = sum(r.refused for r in rows)
        failing = sum(1 for r in rows if r.problems)
        lines.append(f"| {point} | {len(rows)} | {lost} | {misfiled} | {missing} | {twice} | "
                     f"{refused} | {failing} |")
    return "\n".join(lines)


async def main() -> int:
    """Run the matrix and print it; 1 when a scenario failed."""
    with tempfile.TemporaryDirectory() as tmp:
        results = await matrix(Path(tmp))
    print(table(results))
    for result in results:
        if result.problems:
            print(f"step {result.step} {result.point} {result.timing} "
                  f"repeat={result.repeat}: {'; '.join(result.problems)}")
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
