"""Shared fixtures; network access beyond loopback is made impossible for every test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.dialogue import Dialogues, load_dialogues

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TODAY = date(2026, 11, 23)

_LOOPBACK = ("127.", "localhost", "::1")
_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    """Refuse any connection that is not to this machine."""
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family in (socket.AF_INET, socket.AF_INET6) and not str(host).startswith(_LOOPBACK):
        raise RuntimeError(f"tests may not reach the network: {host}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs with outbound connections limited to loopback."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


@pytest.fixture(scope="session")
def real_dialogues() -> Dialogues:
    """The project's own dialogues and templates, validated."""
    return load_dialogues(ROOT / "dialogues", ROOT / "templates")


@pytest.fixture(scope="session")
def sample_dialogues() -> Dialogues:
    """A small conversation that uses every node kind (an engine fixture, in Danish only)."""
    kinds = FIXTURES / "kinds"
    return load_dialogues(kinds, kinds / "templates", ("da",))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A failed test may leave a store open; stop its aiosqlite thread so the run can end."""
    import gc

    import aiosqlite

    for obj in gc.get_objects():
        if isinstance(obj, aiosqlite.Connection) and getattr(obj, "_running", False):
            obj.stop()
