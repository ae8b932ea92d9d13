"""Teams settings (one-line errors, anonymous only as a local test, secrets never echoed) and
the app package `tillidsbot teams manifest` builds."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from bot.config import ConfigError, load_settings

APP = "9a1b2c3d-0000-4000-8000-0000000000b0"
TENANT = "7c1e2f3a-0000-4000-8000-00000000a001"
SECRET = "s3cr3t~Value.With-Stuff_0123456789"


def error_of(env: dict[str, str]) -> str:
    """The configuration error for an environment."""
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    return str(raised.value)


def test_production_needs_app_secret_and_tenant() -> None:
    settings = load_settings({"TEAMS_APP_ID": APP.upper(), "TEAMS_APP_PASSWORD": SECRET,
                              "TEAMS_TENANT_ID": TENANT, "TEAMS_PORT": "3978",
                              "TEAMS_HOST": "0.0.0.0"})
    assert settings.teams_enabled and not settings.teams_test_mode
    assert settings.teams_app_id == APP  # GUIDs compared lower-case
    assert SECRET not in repr(settings)
    assert "TEAMS_TENANT_ID is needed" in error_of({"TEAMS_APP_ID": APP,
                                                    "TEAMS_APP_PASSWORD": SECRET})
    assert "TEAMS_APP_PASSWORD or TEAMS_CERT_FILE" in error_of({"TEAMS_APP_ID": APP,
                                                               "TEAMS_TENANT_ID": TENANT})
    assert "TEAMS_CERT_FILE" in error_of({"TEAMS_APP_ID": APP, "TEAMS_TENANT_ID": TENANT,
                                          "TEAMS_CERT_FILE": "/nowhere/bot.pfx"})
    assert "TEAMS_APP_ID: must be a GUID" in error_of({"TEAMS_APP_ID": "my-bot",
                                                      "TEAMS_TENANT_ID": TENANT})
    assert "TEAMS_PORT" in error_of({"TEAMS_TEST_MODE": "1", "TEAMS_TENANT_ID": TENANT,
                                     "TEAMS_PORT": "70000"})


def test_anonymous_is_refused_unless_a_local_test() -> None:
    # Without TEAMS_APP_ID and without test mode, Teams is simply off.
    assert not load_settings({"TEAMS_TENANT_ID": TENANT}).teams_enabled
    local = load_settings({"TEAMS_TEST_MODE": "1", "TEAMS_TENANT_ID": TENANT})
    assert local.teams_enabled and local.teams_host == "127.0.0.1"
    assert "must be 127.0.0.1" in error_of({"TEAMS_TEST_MODE": "1", "TEAMS_TENANT_ID": TENANT,
                                            "TEAMS_HOST": "0.0.0.0"})
    assert "TEAMS_TEST_MODE" in error_of({"TEAMS_TEST_MODE": "perhaps",
                                          "TEAMS_TENANT_ID": TENANT})


def test_errors_never_echo_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of({"TEAMS_APP_ID": APP, "TEAMS_APP_PASSWORD": SECRET})
    assert SECRET not in message
    assert len(message.splitlines()) == 2  # the heading and one line per problem


def test_allowed_ids_are_aad_object_ids() -> None:
    settings = load_settings({"TEAMS_TEST_MODE": "1", "TEAMS_TENANT_ID": TENANT,
                              "TEAMS_ALLOWED_IDS": f"{APP.upper()}, {TENANT}"})
    assert settings.teams_allowed_ids == frozenset({APP, TENANT})
    # The core's gate asks by channel: Teams' list is Teams' alone.
    assert settings.allowed_ids("teams") == frozenset({APP, TENANT})
    assert settings.allowed_ids("telegram") == frozenset()
    assert "AAD object ids" in error_of({"TEAMS_TEST_MODE": "1", "TEAMS_TENANT_ID": TENANT,
                                         "TEAMS_ALLOWED_IDS": "12345"})


def test_the_app_package_has_the_manifest_languages_and_icons(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_dialogues: object) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "app.zip"
    assert main(["teams", "manifest", "--out", str(out), "--app-id", APP]) == 0
    assert not (tmp_path / "tillidsbot.db").exists(), "building the package made a database"
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "en-us.json", "manifest.json",
                                              "nb-no.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        nb = json.loads(archive.read("nb-no.json"))
        en = json.loads(archive.read("en-us.json"))
        color = Image.open(io.BytesIO(archive.read("color.png")))
        outline = Image.open(io.BytesIO(archive.read("outline.png")))
    assert manifest["manifestVersion"] == "1.17" and manifest["id"] == APP
    [bot] = manifest["bots"]
    assert bot["botId"] == APP and bot["scopes"] == ["personal", "groupChat", "team"]
    assert bot["supportsFiles"] is True  # /export sends its files by file-consent card
    commands = bot["commandLists"][0]["commands"]
    assert 1 <= len(commands) <= 10
    assert commands[1] == {"title": "uddeleger",
                           "description": "Tjek før du uddelegerer en opgave"}
    assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in commands)
    assert nb["bots[0].commandLists[0].commands[1].title"] == "deleger"
    assert en["bots[0].commandLists[0].commands[1].title"] == "delegate"
    assert en["bots[0].commandLists[0].commands[1].description"] == \
        "Check before you delegate a task"
    assert len(manifest["name"]["short"]) <= 30
    assert all(len(d["description.short"]) <= 80 for d in (nb, en))
    assert [lang["languageTag"] for lang in manifest["localizationInfo"][
        "additionalLanguages"]] == ["nb-no", "en-us"]
    assert color.size == (192, 192)
    assert outline.size == (32, 32) and outline.mode == "RGBA"
    # The outline icon is white on transparent only.
    pixels = {outline.getpixel((x, y)) for x in range(32) for y in range(32)}
    assert {p for p in pixels if p[3]} == {(255, 255, 255, 255)}  # type: ignore[index]


def test_the_package_needs_an_app_id(capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    assert main(["teams", "manifest", "--out", str(tmp_path / "x.zip"),
                 "--app-id", "nope"]) == 2
    assert "GUID" in capsys.readouterr().err
