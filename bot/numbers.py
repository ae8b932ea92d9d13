"""Whole numbers read from text people type or buttons carry back, which anyone can forge."""

from __future__ import annotations

# SQLite stores integers up to 2**63 - 1; 18 digits always fit.
MAX_DIGITS = 18


def is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and '①', which int() cannot read."""
    return text.isascii() and text.isdigit()


def small_int(text: str, digits: int = MAX_DIGITS) -> int | None:
    """The non-negative number written in at most `digits` ASCII digits, else None."""
    return int(text) if is_number(text) and len(text) <= digits else None
