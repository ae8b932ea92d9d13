"""Settings from the environment, validated once at start-up with clear errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AliasGenerator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import content, identity
from bot.numbers import is_number

# BotFather tokens look like "123456789:AAE...": digits, a colon, then URL-safe characters.
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a webhook secret token.
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# A shorter team salt could be guessed, and then the members' hashes reversed (bot/team/secret.py).
MIN_TEAM_SALT_CHARS = 16
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


# Each setting's environment variable (also its alias: pydantic-settings reads them by it).
ENV_NAMES = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "database_path": "TILLIDSBOT_DB",
    "dialogues_dir": "TILLIDSBOT_DIALOGUES",
    "templates_dir": "TILLIDSBOT_TEMPLATES",
    "log_level": "LOG_LEVEL",
    "team_salt": "TILLIDSBOT_TEAM_SALT",
    "master_key": "TILLIDSBOT_MASTER_KEY",
    "team_tick_seconds": "TILLIDSBOT_TEAM_TICK_SECONDS",
    "retention_days": "RETENTION_DAYS",
    "telegram_api_base_url": "TELEGRAM_API_BASE_URL",
    "webhook_url": "WEBHOOK_URL",
    "webhook_listen": "WEBHOOK_LISTEN",
    "webhook_port": "WEBHOOK_PORT",
    "webhook_secret": "WEBHOOK_SECRET",
    "access_mode": "ACCESS_MODE",
    "allowed_user_ids": "ALLOWED_USER_IDS",
    "telegram_chat_interval": "TELEGRAM_CHAT_INTERVAL",
    "chat_backlog": "TILLIDSBOT_CHAT_BACKLOG",
    "schedule_grace_hours": "TILLIDSBOT_SCHEDULE_GRACE_HOURS",
    "schedule_rate": "TILLIDSBOT_SCHEDULE_RATE",
    "schedule_chat_interval": "TILLIDSBOT_SCHEDULE_CHAT_INTERVAL",
    "schedule_tick_seconds": "TILLIDSBOT_SCHEDULE_TICK_SECONDS",
    "reminder_hours": "TILLIDSBOT_REMINDER_HOURS",
    "nudge_conversation": "TILLIDSBOT_NUDGE_CONVERSATION",
    "backup_dir": "BACKUP_DIR",
    "backup_keep": "BACKUP_KEEP",
    "backup_interval_hours": "BACKUP_INTERVAL_HOURS",
    "metrics_host": "METRICS_HOST",
    "metrics_port": "METRICS_PORT",
    "teams_app_id": "TEAMS_APP_ID",
    "teams_app_password": "TEAMS_APP_PASSWORD",
    "teams_cert_file": "TEAMS_CERT_FILE",
    "teams_tenant_id": "TEAMS_TENANT_ID",
    "teams_host": "TEAMS_HOST",
    "teams_port": "TEAMS_PORT",
    "teams_test_mode": "TEAMS_TEST_MODE",
    "teams_allowed_ids": "TEAMS_ALLOWED_IDS",
}


def _env_name(field: str) -> str:
    """The environment variable a field is read from."""
    return ENV_NAMES.get(field, field.upper())


class ConfigError(Exception):
    """A setting is missing or malformed."""


class Settings(BaseSettings):
    """Everything configurable; ENV_NAMES maps each field to its environment variable."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=_env_name),
        validate_by_name=True, validate_by_alias=True,  # overrides use the field names
        case_sensitive=True, env_ignore_empty=True,  # an empty variable means unset
        extra="ignore",
    )

    telegram_bot_token: str | None = Field(default=None, repr=False)
    database_path: Path = Path("tillidsbot.db")
    # The shipped wording (package data); the two settings point at an organisation's own.
    dialogues_dir: Path = Field(default_factory=content.dialogues_dir)
    templates_dir: Path = Field(default_factory=content.templates_dir)
    log_level: str = "INFO"
    # Keys the hashes of team members' ids (see bot/team/secret.py); never logged or exported.
    team_salt: str | None = Field(default=None, repr=False)
    # Seals the key store of leaders' data keys (bot/store/crypto.py); unset: a generated file.
    master_key: str | None = Field(default=None, repr=False)
    team_tick_seconds: float = Field(default=30.0, gt=0, le=3600)
    retention_days: int | None = Field(default=None, gt=0)  # unset: keep history
    # Telegram: a self-hosted Bot API server (or the tests' stand-in) instead of api.telegram.org.
    telegram_api_base_url: str | None = None
    # Webhook mode when webhook_url is set; polling otherwise.
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str | None = Field(default=None, repr=False)
    # Who may talk to the bot: invited leaders (default) or anyone (explicit open mode).
    access_mode: Literal["invite", "open"] = "invite"
    allowed_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()  # "1,2", not JSON
    # Pause between messages the bot sends in a row to one private chat (Telegram: ~1/s).
    telegram_chat_interval: float = 1.0
    # Most events one conversation may have waiting (README "When one leader floods the bot").
    chat_backlog: int = Field(default=16, ge=1, le=10_000)
    # Scheduling (bot/schedule): see README "Scheduled messages".
    schedule_grace_hours: float = Field(default=12.0, ge=0)
    schedule_rate: int = Field(default=25, ge=1, le=30)
    schedule_chat_interval: float = Field(default=1.0, ge=0)
    schedule_tick_seconds: float = Field(default=30.0, gt=0)
    reminder_hours: int = Field(default=24, ge=0, le=144)
    nudge_conversation: str = "reflection"
    # ---- Microsoft Teams (bot/channels/teams.py; README "Running on Microsoft Teams") ----
    # The Entra app (bot) id, its client secret or a PFX certificate, the one tenant served.
    teams_app_id: str | None = None
    teams_app_password: str | None = Field(default=None, repr=False)
    teams_cert_file: Path | None = None
    teams_tenant_id: str | None = None
    teams_host: str = "127.0.0.1"
    teams_port: int = Field(default=3978, ge=1, le=65535)
    # Anonymous (no JWT) for local tests against tests/connector_standin.py only.
    teams_test_mode: bool = False
    # AAD object ids let in without an invite (ACCESS_MODE=open lets in the whole tenant).
    teams_allowed_ids: Annotated[frozenset[str], NoDecode] = frozenset()  # "a,b", not JSON
    # Backups inside the bot (bot/backups.py): off unless BACKUP_DIR is set.
    backup_dir: Path | None = None
    backup_keep: int = Field(default=7, ge=1, le=1000)
    backup_interval_hours: float = Field(default=24.0, gt=0, le=24 * 31)
    # Prometheus /metrics (bot/metrics.py): off unless METRICS_PORT is set.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    def allowed_ids(self, channel: str) -> frozenset[str]:
        """The platform ids a channel lets in without an invite (Telegram: ALLOWED_USER_IDS)."""
        if channel == identity.TELEGRAM:
            return frozenset(str(user_id) for user_id in self.allowed_user_ids)
        if channel == identity.TEAMS:
            return self.teams_allowed_ids
        return frozenset()

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        """Only the standard logging levels."""
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @field_validator("telegram_bot_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        """A BotFather token; the message never repeats the value (it is a secret)."""
        if value is None:
            return None
        value = value.strip()
        if not _TOKEN.match(value):
            raise ValueError("does not look like a bot token from BotFather "
                             "(expected digits, a colon, then letters, digits, _ or -)")
        return value

    @field_validator("telegram_api_base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An absolute http(s) URL."""
        if value is None:
            return None
        parsed = urlparse(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.strip()

    @field_validator("webhook_port")
    @classmethod
    def _port(cls, value: int) -> int:
        """A TCP port."""
        if not 1 <= value <= 65535:
            raise ValueError("must be a port number between 1 and 65535")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        """What Telegram accepts as secret_token."""
        if value is not None and not _SECRET.match(value):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("team_salt")
    @classmethod
    def _salt(cls, value: str | None) -> str | None:
        """Long enough not to be guessed; the message never repeats the value (it is a secret)."""
        if value is not None and len(value) < MIN_TEAM_SALT_CHARS:
            raise ValueError(f"must be at least {MIN_TEAM_SALT_CHARS} characters "
                             "(a long random string, e.g. from `openssl rand -hex 32`)")
        return value

    @field_validator("access_mode", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        """Case-insensitive."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("allowed_user_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        """A comma- or space-separated list of numeric Telegram user ids."""
        if not isinstance(value, str):
            return value
        parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
        if not all(is_number(p) for p in parts):
            raise ValueError("must be a comma-separated list of numeric Telegram user ids "
                             "(e.g. 12345678,87654321)")
        return frozenset(int(p) for p in parts)

    @field_validator("telegram_chat_interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        """Seconds, small and non-negative."""
        if not 0 <= value <= 10:
            raise ValueError("must be between 0 and 10 seconds")
        return value

    @field_validator("teams_app_id", "teams_tenant_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        """Entra ids are GUIDs."""
        if value is None:
            return None
        if not _GUID.match(value.strip()):
            raise ValueError("must be a GUID like 00000000-0000-0000-0000-000000000000")
        return value.strip().lower()

    @field_validator("teams_allowed_ids", mode="before")
    @classmethod
    def _aad_ids(cls, value: object) -> object:
        """A comma- or space-separated list of AAD object ids (GUIDs)."""
        if not isinstance(value, str):
            return value
        parts = [p.lower() for p in re.split(r"[,\s]+", value.strip()) if p]
        if not all(_GUID.match(p) for p in parts):
            raise ValueError("must be a comma-separated list of AAD object ids (GUIDs)")
        return frozenset(parts)

    @model_validator(mode="after")
    def _teams_complete(self) -> Settings:
        """Teams runs authenticated for one tenant, or anonymous as an explicit local test."""
        if not self.teams_enabled:
            return self
        if not self.teams_tenant_id:
            raise ValueError("TEAMS_TENANT_ID is needed to run on Teams (the one tenant served)")
        if self.teams_test_mode:
            if self.teams_host not in ("127.0.0.1", "::1", "localhost"):
                raise ValueError("TEAMS_TEST_MODE runs without authentication, so TEAMS_HOST "
                                 "must be 127.0.0.1")
            return self
        if not self.teams_app_id:
            raise ValueError("TEAMS_APP_ID is needed to run on Teams (or TEAMS_TEST_MODE=1 "
                             "for a local test)")
        if not self.teams_app_password and not self.teams_cert_file:
            raise ValueError("TEAMS_APP_PASSWORD or TEAMS_CERT_FILE is needed with TEAMS_APP_ID")
        if self.teams_cert_file and not self.teams_cert_file.is_file():
            raise ValueError("TEAMS_CERT_FILE is not a readable file")
        return self

    @property
    def teams_enabled(self) -> bool:
        """Whether to run the Teams channel."""
        return bool(self.teams_app_id or self.teams_test_mode)

    @model_validator(mode="after")
    def _webhook_needs_token(self) -> Settings:
        """Webhook settings only make sense with a token."""
        if self.webhook_url and not self.telegram_bot_token:
            raise ValueError("WEBHOOK_URL is set but TELEGRAM_BOT_TOKEN is not")
        return self




def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings from the environment (or a given mapping) plus explicit overrides.

    With no mapping pydantic-settings reads os.environ itself; a given mapping (tests, tools)
    is passed in by the same variable names, so both are read and checked alike.
    """
    given = {_env_name(k): v for k, v in overrides.items() if v is not None}
    try:
        if env is None:
            return Settings(**given)  # type: ignore[arg-type]  # checked by pydantic
        names = {_env_name(field) for field in Settings.model_fields}
        values: dict[str, object] = {k: v for k, v in env.items() if k in names and v}
        return Settings.model_validate({**values, **given}, by_alias=True)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = error["loc"]
            name = str(loc[0]) if loc else "settings"  # the variable's name (the alias)
            name = ENV_NAMES.get(name, name)
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
