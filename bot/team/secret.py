"""The deployment secret that keys team members' hashes, kept outside the database."""

from __future__ import annotations

import secrets
from pathlib import Path

from bot.config import ConfigError, Settings
from bot.private_files import publish_private, read_private

SECRET_BYTES = 32
# Fewer bytes could be guessed, and then every hash in a copy of the database reversed.
MIN_SECRET_BYTES = 16


def secret_path(database_path: Path) -> Path:
    """Where the generated secret lives when none is configured: beside the database file."""
    return database_path.with_name(database_path.name + ".team-salt")


def load_secret(settings: Settings) -> bytes:
    """TILLIDSBOT_TEAM_SALT if set, else a random secret created once in a private file.

    Kept out of SQLite on purpose: a copy or export of the database alone cannot turn the
    stored hashes back into user ids by trying every possible id.
    """
    if settings.team_salt:
        return _long_enough(settings.team_salt.encode("utf-8"), "TILLIDSBOT_TEAM_SALT")
    if str(settings.database_path) == ":memory:":
        return secrets.token_bytes(SECRET_BYTES)
    path = secret_path(settings.database_path)
    if not path.exists():
        # Two first starts at once: only one salt lands, and the other process reads it
        # (the file appears complete, so there is nothing half-written to read).
        publish_private(path, secrets.token_bytes(SECRET_BYTES))
    return _long_enough(read_private(path), f"the team salt file {path}")


def _long_enough(secret: bytes, source: str) -> bytes:
    """The secret, or a ConfigError naming where it came from (never what it holds)."""
    if len(secret) < MIN_SECRET_BYTES:
        # An empty file is what an older version left when it died while creating it.
        raise ConfigError(
            f"{source} holds {len(secret)} bytes; a team salt needs at least {MIN_SECRET_BYTES}. "
            "Restore the salt from where you keep it, or, if no team check-in or round was "
            "open, remove it so that a new one is generated")
    return secret
