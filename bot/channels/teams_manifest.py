"""The Teams app package: manifest (schema 1.17) with the bot, command lists in da/nb/en, and
the two icons, drawn here with Pillow. `tillidsbot teams manifest --out app.zip` writes it;
the operator uploads it in the Teams admin center (README "Running on Microsoft Teams")."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bot.channels import teams_cards as cards
from bot.config import Settings
from bot.service import BotService

MANIFEST_VERSION = "1.17"
SCHEMA = ("https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/"
          "MicrosoftTeams.schema.json")
LOCALIZATION_SCHEMA = ("https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/"
                       "MicrosoftTeams.Localization.schema.json")
# The manifest's own language, then the localization files (Teams language tags).
DEFAULT_LANGUAGE = ("da", "da-dk")
MORE_LANGUAGES = (("nb", "nb-no"), ("en", "en-us"))
MAX_COMMANDS = 10  # Teams shows at most ten commands per command list
ACCENT = "#1F5C55"
APP_VERSION = "0.1.0"
DEVELOPER_URL = "https://github.com/tillidsbot/tillidsbot"  # the operator's own page: --url
GUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")


def command_list(service: BotService, lang: str) -> list[dict[str, str]]:
    """The leader commands as Teams lists them: the first word in the language, its wording."""
    commands = []
    for name in cards.command_names(service)[:MAX_COMMANDS]:
        title = cards.localized_words(service, name, lang)[0]
        commands.append({"title": title[:32],
                         "description": service.ui(f"command_{name}", lang)[:128]})
    return commands


def manifest(service: BotService, app_id: str, developer_url: str) -> dict[str, Any]:
    """manifest.json, in Danish (the localization files add Norwegian and English)."""
    lang = DEFAULT_LANGUAGE[0]
    ui = service.ui
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": APP_VERSION,
        "id": app_id,
        "developer": {"name": "Tillidsbot", "websiteUrl": developer_url,
                      "privacyUrl": developer_url, "termsOfUseUrl": developer_url},
        "name": {"short": ui("teams_app_name", lang)[:30],
                 "full": ui("teams_app_name_full", lang)[:100]},
        "description": {"short": ui("teams_app_description_short", lang)[:80],
                        "full": ui("teams_app_description_full", lang)[:4000]},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [{
            "botId": app_id,
            "scopes": ["personal", "groupChat", "team"],
            "supportsFiles": True,  # /export sends files by consent card
            "isNotificationOnly": False,
            "commandLists": [{"scopes": ["personal"], "commands": command_list(service, lang)}],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [],
        "localizationInfo": {
            "defaultLanguageTag": DEFAULT_LANGUAGE[1],
            "additionalLanguages": [{"languageTag": tag, "file": f"{tag}.json"}
                                    for _, tag in MORE_LANGUAGES],
        },
    }


def localization(service: BotService, lang: str) -> dict[str, Any]:
    """One localization file: the names, descriptions and command list in lang."""
    ui = service.ui
    strings: dict[str, Any] = {
        "$schema": LOCALIZATION_SCHEMA,
        "name.short": ui("teams_app_name", lang)[:30],
        "name.full": ui("teams_app_name_full", lang)[:100],
        "description.short": ui("teams_app_description_short", lang)[:80],
        "description.full": ui("teams_app_description_full", lang)[:4000],
    }
    for index, command in enumerate(command_list(service, lang)):
        prefix = f"bots[0].commandLists[0].commands[{index}]"
        strings[f"{prefix}.title"] = command["title"]
        strings[f"{prefix}.description"] = command["description"]
    return strings


def color_icon() -> bytes:
    """192×192 full-colour icon: two linked rings (trust given and returned) on the accent."""
    from PIL import Image, ImageDraw

    size = 192
    image = Image.new("RGBA", (size, size), ACCENT)
    draw = ImageDraw.Draw(image)
    draw.ellipse((34, 58, 110, 134), outline="white", width=12)
    draw.ellipse((82, 58, 158, 134), outline="#F2C14E", width=12)
    return _png(image)


def outline_icon() -> bytes:
    """32×32 outline icon: white on transparent only, as Teams requires."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 9, 19, 24), outline=(255, 255, 255, 255), width=2)
    draw.ellipse((13, 9, 28, 24), outline=(255, 255, 255, 255), width=2)
    # Anti-aliasing is absent in ImageDraw ellipses: every pixel is white or transparent.
    return _png(image)


def _png(image: Any) -> bytes:
    """An image as PNG bytes."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def package(service: BotService, app_id: str, developer_url: str) -> bytes:
    """The zip Teams takes: manifest.json, the localization files and the two icons."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest(service, app_id, developer_url),
                                                     ensure_ascii=False, indent=2))
        for lang, tag in MORE_LANGUAGES:
            archive.writestr(f"{tag}.json", json.dumps(localization(service, lang),
                                                       ensure_ascii=False, indent=2))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return out.getvalue()


async def _build(settings: Settings, app_id: str, developer_url: str) -> bytes:
    """Assemble the service (on a throwaway database) to read its commands, then package."""
    from bot.app import build_core

    with tempfile.TemporaryDirectory() as tmp:
        core = await build_core(settings.model_copy(
            update={"database_path": Path(tmp) / "manifest.db", "retention_days": None}))
        try:
            return package(core.service, app_id, developer_url)
        finally:
            await core.close()


def manifest_command(settings: Settings, out: Path, app_id: str | None = None,
                     developer_url: str = DEVELOPER_URL) -> int:
    """`tillidsbot teams manifest --out app.zip [--app-id GUID] [--url https://...]`."""
    chosen = (app_id or settings.teams_app_id or "").strip().lower()
    if not GUID.match(chosen):
        print("tillidsbot: the bot's Entra app id is needed as a GUID (TEAMS_APP_ID or "
              "--app-id)", file=sys.stderr)
        return 2
    if not developer_url.startswith("https://"):
        print("tillidsbot: --url must be an https:// address", file=sys.stderr)
        return 2
    data = asyncio.run(_build(settings, chosen, developer_url))
    out.write_bytes(data)
    print(f"Wrote the Teams app package to {out} ({len(data)} bytes); upload it in the Teams "
          "admin center (Teams apps > Manage apps > Upload new app).")
    return 0
