"""Settings from the environment, validated once at start-up with clear errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is missing or malformed."""


class Settings(BaseModel):
    """Everything configurable; the environment variable is the field name in upper case."""

    telegram_bot_token: str | None = Field(default=None, repr=False)
    database_path: Path = Path("tillidsbot.db")
    dialogues_dir: Path = ROOT / "dialogues"
    templates_dir: Path = ROOT / "templates"
    log_level: str = "INFO"
    # Keys the hashes of team members' ids (see bot/team/secret.py); never logged or exported.
    team_salt: str | None = Field(default=None, repr=False)
    retention_days: int | None = Field(default=None, gt=0)  # unset: keep history

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        """Only the standard logging levels."""
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper


ENV_NAMES = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "database_path": "TILLIDSBOT_DB",
    "dialogues_dir": "TILLIDSBOT_DIALOGUES",
    "templates_dir": "TILLIDSBOT_TEMPLATES",
    "log_level": "LOG_LEVEL",
    "team_salt": "TILLIDSBOT_TEAM_SALT",
    "retention_days": "RETENTION_DAYS",
}


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings from the environment (or a given mapping) plus explicit overrides."""
    source = os.environ if env is None else env
    values: dict[str, object] = {
        field: source[name] for field, name in ENV_NAMES.items() if source.get(name)
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0])
            lines.append(f"{ENV_NAMES.get(field, field)}: {error['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
