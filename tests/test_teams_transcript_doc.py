"""docs/teams-transcript.md is current where it can be checked cheaply: its list of connector
calls is the generator's, and its manifest is what `tillidsbot teams manifest` builds now
(regenerate with `python -m tests.teams_transcript > docs/teams-transcript.md`)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import ROOT
from tests.teams_transcript import APP_ID, CONNECTOR_CALLS

DOC = ROOT / "docs" / "teams-transcript.md"


def test_the_doc_lists_every_connector_call() -> None:
    text = DOC.read_text(encoding="utf-8")
    for method, path, when in CONNECTOR_CALLS:
        assert f"| `{method}` | `{path}` | {when} |" in text, (method, path)
    assert "PUT {uploadUrl}" in text and "[file-info card]" in text


def test_the_doc_shows_the_manifest_the_command_builds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_dialogues: object) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["teams", "manifest", "--out", str(tmp_path / "app.zip"),
                 "--app-id", APP_ID]) == 0
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        built = json.loads(archive.read("manifest.json"))
    shown = DOC.read_text(encoding="utf-8").rsplit("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(shown) == built
