"""The deployment secret that keys team members' hashes, kept outside the database."""

from __future__ import annotations

import secrets
from pathlib import Path

from bot.config import Settings
from bot.private_files import publish_private

SECRET_BYTES = 32


def secret_path(database_path: Path) -> Path:
    """Where the generated secret lives when none is configured: beside the database file."""
    return database_path.with_name(database_path.name + ".team-salt")


def load_secret(settings: Settings) -> bytes:
    """TILLIDSBOT_TEAM_SALT if set, else a random secret created once in a private file.

    Kept out of SQLite on purpose: a copy or export of the database alone cannot turn the
    stored hashes back into user ids by trying every possible id.
    """
    if settings.team_salt:
        return settings.team_salt.encode("utf-8")
    if str(settings.database_path) == ":memory:":
        return secrets.token_bytes(SECRET_BYTES)
    path = secret_path(settings.database_path)
    if not path.exists():
        # Two first starts at once: only one salt lands, and the other process reads it
        # (the file appears complete, so there is nothing half-written to read).
        publish_private(path, secrets.token_bytes(SECRET_BYTES))
    return path.read_bytes()
