"""docker-compose.yml and the Dockerfile agree with the settings the bot actually reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.config import ENV_NAMES, load_settings

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAEabcdefghijklmnopqrstuvwxyz_-0123"


def compose_service() -> dict[str, object]:
    """The bot service of docker-compose.yml."""
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert set(doc["services"]) == {"bot"}
    service = doc["services"]["bot"]
    assert isinstance(service, dict)
    return service


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} with the given .env values."""
    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3) or ""
        if op == ":?" and not env.get(name):
            raise KeyError(f"{name}: {rest}")
        return env.get(name) or (rest if op == ":-" else "")
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, value)


def test_compose_sets_only_variables_the_bot_reads() -> None:
    environment = compose_service()["environment"]
    assert isinstance(environment, dict)
    unknown = set(environment) - set(ENV_NAMES.values())
    assert not unknown, f"docker-compose.yml sets variables the bot ignores: {sorted(unknown)}"


def test_compose_with_only_a_token_gives_valid_settings_and_a_volume_database() -> None:
    service = compose_service()
    environment = service["environment"]
    assert isinstance(environment, dict)
    env = {name: interpolate(str(value), {"TELEGRAM_BOT_TOKEN": TOKEN})
           for name, value in environment.items()}
    settings = load_settings(env=env)
    assert settings.telegram_bot_token == TOKEN
    assert settings.webhook_url is None and settings.retention_days is None
    assert settings.access_mode == "invite"
    volumes = service["volumes"]
    assert isinstance(volumes, list)
    mounts = {str(v).split(":")[1] for v in volumes}
    assert settings.database_path.parent.as_posix() in mounts  # the database survives rebuilds


def test_compose_without_a_token_refuses_to_start() -> None:
    environment = compose_service()["environment"]
    assert isinstance(environment, dict)
    try:
        interpolate(str(environment["TELEGRAM_BOT_TOKEN"]), {})
    except KeyError as exc:
        assert "TELEGRAM_BOT_TOKEN" in str(exc)
    else:
        raise AssertionError("compose would start the bot without a token")


def test_dockerfile_runs_the_bot_unprivileged_with_its_data_on_the_volume() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in dockerfile.splitlines()]
    for needed in ("bot", "dialogues", "templates"):
        assert any(ln.startswith(f"COPY {needed} ") for ln in lines), needed
    user = [ln for ln in lines if ln.startswith("USER ")]
    assert user and user[-1] != "USER root"
    assert 'VOLUME ["/data"]' in lines and "TILLIDSBOT_DB=/data/tillidsbot.db" in dockerfile
    assert lines[-1] == 'CMD ["tillidsbot", "run"]'


def test_compose_and_the_image_check_health_with_the_real_command() -> None:
    from bot.cli import _parser

    check = compose_service()["healthcheck"]
    assert isinstance(check, dict)
    command = check["test"]
    assert command[0] == "CMD" and command[1] == "tillidsbot"
    args = _parser().parse_args(command[2:])  # a command the CLI really has
    assert args.command == "health" and args.quiet
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'CMD ["tillidsbot", "health", "--quiet"]' in dockerfile
