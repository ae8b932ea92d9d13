"""Telegram settings: parsed from the environment, with clear errors that never echo secrets."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings

TOKEN = "123456789:AAEabcdefghijklmnopqrstuvwxyz_-0123"


def test_defaults_mean_polling_and_invites_only() -> None:
    settings = load_settings(env={"TELEGRAM_BOT_TOKEN": TOKEN})
    assert settings.webhook_url is None
    assert settings.access_mode == "invite"
    assert settings.allowed_user_ids == frozenset()
    assert settings.telegram_chat_interval == 1.0
    assert TOKEN not in repr(settings)


def test_webhook_access_and_base_url_are_read() -> None:
    settings = load_settings(env={
        "TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://bot.example.dk/tg",
        "WEBHOOK_LISTEN": "0.0.0.0", "WEBHOOK_PORT": "8443", "WEBHOOK_SECRET": "abc_DEF-123",
        "ACCESS_MODE": "Open", "ALLOWED_USER_IDS": "12, 34 56",
        "TELEGRAM_API_BASE_URL": "http://localhost:8081/bot"})
    assert (settings.webhook_listen, settings.webhook_port) == ("0.0.0.0", 8443)
    assert settings.access_mode == "open"
    assert settings.allowed_user_ids == frozenset({12, 34, 56})
    assert settings.telegram_api_base_url == "http://localhost:8081/bot"


@pytest.mark.parametrize(("env", "message"), [
    ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN: does not look like a bot token"),
    ({"WEBHOOK_PORT": "70000"}, "WEBHOOK_PORT: must be a port number"),
    ({"WEBHOOK_PORT": "web"}, "WEBHOOK_PORT:"),
    ({"WEBHOOK_URL": "bot.example.dk/tg"}, "WEBHOOK_URL: must be an absolute http"),
    ({"WEBHOOK_SECRET": "has spaces"}, "WEBHOOK_SECRET: must be 1-256 characters"),
    ({"ACCESS_MODE": "closed"}, "ACCESS_MODE:"),
    ({"ALLOWED_USER_IDS": "12,@lene"}, "ALLOWED_USER_IDS: must be a comma-separated list"),
    ({"TELEGRAM_API_BASE_URL": "ftp://x"}, "TELEGRAM_API_BASE_URL: must be an absolute"),
    ({"TELEGRAM_CHAT_INTERVAL": "-1"}, "TELEGRAM_CHAT_INTERVAL: must be between"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"TELEGRAM_BOT_TOKEN": TOKEN, **env})
    assert message in str(caught.value)


def test_the_token_is_never_echoed_in_an_error() -> None:
    bad = "123456789:short"
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"TELEGRAM_BOT_TOKEN": bad})
    assert "short" not in str(caught.value)


def test_a_webhook_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_URL is set but TELEGRAM_BOT_TOKEN is not"):
        load_settings(env={"WEBHOOK_URL": "https://bot.example.dk/tg"})


def test_the_process_environment_is_read_by_the_same_names(
        monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ALLOWED_USER_IDS", "12, 34")
    monkeypatch.setenv("WEBHOOK_PORT", "8444")
    monkeypatch.setenv("RETENTION_DAYS", "")  # empty means unset, as before
    monkeypatch.setenv("telegram_bot_token", "not read: names are exact")
    settings = load_settings(database_path="x.db")  # a flag wins over the environment
    assert settings.telegram_bot_token == TOKEN
    assert settings.allowed_user_ids == frozenset({12, 34})
    assert settings.webhook_port == 8444 and settings.retention_days is None
    assert str(settings.database_path) == "x.db"
    assert TOKEN not in repr(settings)


def test_a_bad_process_variable_is_one_line_naming_it_without_its_value(
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "123456789:leaked-secret-value"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", secret)
    monkeypatch.setenv("TILLIDSBOT_TEAM_SALT", "short-salt")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid configuration:"
    assert any(ln.strip().startswith("TELEGRAM_BOT_TOKEN: does not look like") for ln in lines)
    assert any(ln.strip().startswith("TILLIDSBOT_TEAM_SALT: must be at least") for ln in lines)
    assert "leaked" not in str(caught.value) and "short-salt" not in str(caught.value)
