"""benchmarks/per_update.py works (its --quick smoke run); no timed assertions."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_the_per_update_benchmark_runs_both_bots_and_prints_its_table() -> None:
    out = subprocess.run([sys.executable, "benchmarks/per_update.py", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    for workload in ("| start |", "| button |", "| fast answer |", "| typed |", "| history |"):
        assert workload in out, out
    assert "tillidsbot: peak RSS" in out and "echo: peak RSS" in out, out
    assert "sendMessage" in out, out
