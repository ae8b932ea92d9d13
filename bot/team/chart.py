"""The team's trust score over its past pulses as a PNG (matplotlib, headless)."""

from __future__ import annotations

import io
from collections.abc import Sequence


def trust_chart(labels: Sequence[str], means: Sequence[float | None], title: str,
                ylabel: str, hidden_note: str, decimal: str = ".") -> bytes:
    """A line of mean trust (1-5) per pulse; pulses with too few answers show as gaps.

    A Figure without pyplot keeps no global state, so charts can be drawn concurrently.
    """
    from matplotlib.figure import Figure  # loaded on the first chart, not at start-up
    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    axes = figure.subplots()
    xs = list(range(len(labels)))
    shown = [(x, m) for x, m in zip(xs, means, strict=True) if m is not None]
    # Gaps stay gaps: a pulse below the anonymity threshold has no score to draw.
    segment_x: list[int] = []
    segment_y: list[float] = []
    for x, mean in zip(xs, means, strict=True):
        if mean is None:
            if segment_x:
                axes.plot(segment_x, segment_y, color="#2f6f4f", linewidth=2)
            segment_x, segment_y = [], []
            continue
        segment_x.append(x)
        segment_y.append(mean)
    if segment_x:
        axes.plot(segment_x, segment_y, color="#2f6f4f", linewidth=2)
    if shown:
        axes.scatter([x for x, _ in shown], [m for _, m in shown], color="#2f6f4f", zorder=3)
        for x, mean in shown:
            axes.annotate(f"{mean:.1f}".replace(".", decimal), (x, mean),
                          textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    if any(m is None for m in means):
        axes.text(0.01, 0.02, hidden_note, transform=axes.transAxes, fontsize=7, color="#666666")
    axes.set_ylim(0.8, 5.4)
    axes.set_yticks([1, 2, 3, 4, 5])
    axes.set_xticks(xs)
    axes.set_xticklabels(list(labels), fontsize=8)
    axes.set_xlim(-0.5, max(len(labels) - 0.5, 0.5))
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=11)
    axes.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
