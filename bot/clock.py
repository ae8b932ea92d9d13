"""Injectable clocks: the only place the app reads the time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that says what time it is (UTC, timezone-aware)."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class Timer(Clock, Protocol):
    """A clock that can also wait (the scheduler's pacing waits on it, never on asyncio)."""

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has moved on by seconds."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current instant from the operating system."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Really wait."""
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        """Start at a fixed, timezone-aware instant."""
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """The instant the test set."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self._now += delta

    def set(self, instant: datetime) -> None:
        """Jump to an instant."""
        self._now = instant.astimezone(UTC)

    async def sleep(self, seconds: float) -> None:
        """Virtual waiting: let ready tasks take their step, then move time on at once."""
        await asyncio.sleep(0)
        if seconds > 0:
            self._now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


class _Sleeping:
    """Adds real waiting to a clock that only tells the time."""

    def __init__(self, clock: Clock) -> None:
        """Wrap a clock."""
        self.clock = clock

    def now(self) -> datetime:
        """The wrapped clock's time."""
        return self.clock.now()

    async def sleep(self, seconds: float) -> None:
        """Really wait."""
        await asyncio.sleep(max(0.0, seconds))


def as_timer(clock: Clock) -> Timer:
    """The clock itself if it can wait (SystemClock, ManualClock), else it with real waiting."""
    if callable(getattr(clock, "sleep", None)):
        return clock  # type: ignore[return-value]
    return _Sleeping(clock)


def iso(instant: datetime) -> str:
    """Store instants as UTC ISO 8601 strings (sortable as text)."""
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """Read a stored instant back."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
