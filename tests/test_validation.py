"""Validation at load: each broken file fails with a message naming the file and the node."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.dialogue import load_dialogues
from bot.dialogue.loader import DialogueValidationError
from tests.conftest import FIXTURES, ROOT


def base() -> dict[str, Any]:
    """A minimal valid conversation."""
    return {
        "id": "mini", "version": 1, "title": {"da": "Mini"}, "start": "ask",
        "nodes": {
            "ask": {"kind": "choice", "store": "a", "prompt": {"da": "Vælg"},
                    "options": [{"value": "yes", "label": {"da": "Ja"}, "next": "sum"},
                                {"value": "no", "label": {"da": "Nej"}, "next": "sum"}]},
            "sum": {"kind": "summary", "template": "mini", "next": "end"},
            "end": {"kind": "end"},
        },
    }


def problems_for(tmp_path: Path, doc: dict[str, Any], langs: tuple[str, ...] = ("da",)) -> str:
    """Write the conversation into a fresh dialogues dir and return the validation error."""
    dialogues = tmp_path / "dialogues"
    templates = tmp_path / "templates" / "da"
    dialogues.mkdir()
    templates.mkdir(parents=True)
    shutil.copy(FIXTURES / "kinds" / "_ui.yaml", dialogues / "_ui.yaml")
    shutil.copy(FIXTURES / "kinds" / "_dates.yaml", dialogues / "_dates.yaml")
    (templates / "mini.j2").write_text("Svar: {{ answers.a }}", encoding="utf-8")
    (dialogues / "mini.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                         encoding="utf-8")
    with pytest.raises(DialogueValidationError) as info:
        load_dialogues(dialogues, tmp_path / "templates", langs)
    return str(info.value)


def test_base_is_valid(tmp_path: Path) -> None:
    dialogues = tmp_path / "d"
    (tmp_path / "t" / "da").mkdir(parents=True)
    dialogues.mkdir()
    shutil.copy(FIXTURES / "kinds" / "_ui.yaml", dialogues / "_ui.yaml")
    shutil.copy(FIXTURES / "kinds" / "_dates.yaml", dialogues / "_dates.yaml")
    (tmp_path / "t" / "da" / "mini.j2").write_text("ok", encoding="utf-8")
    (dialogues / "mini.yaml").write_text(yaml.safe_dump(base()), encoding="utf-8")
    assert "mini" in load_dialogues(dialogues, tmp_path / "t", ("da",)).registry.definitions


def test_unknown_node_kind(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["sum"]["kind"] = "poem"
    message = problems_for(tmp_path, doc)
    assert "mini.yaml: node sum: unknown node kind 'poem'" in message


def test_jump_to_missing_node(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["ask"]["options"][1]["next"] = "nowhere"
    assert "mini.yaml: node ask: jumps to missing node 'nowhere'" in problems_for(tmp_path, doc)


def test_unreachable_node(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["lonely"] = {"kind": "end"}
    assert "mini.yaml: node lonely: unreachable" in problems_for(tmp_path, doc)


def test_dead_end(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["ask"]["options"][1]["next"] = "loop"
    doc["nodes"]["loop"] = {"kind": "message", "text": {"da": "igen"}, "next": "loop2"}
    doc["nodes"]["loop2"] = {"kind": "message", "text": {"da": "igen"}, "next": "loop"}
    message = problems_for(tmp_path, doc)
    assert "mini.yaml: node loop: dead end" in message
    assert "mini.yaml: node loop2: dead end" in message


def test_missing_next_is_a_dead_end(tmp_path: Path) -> None:
    doc = base()
    del doc["nodes"]["sum"]["next"]
    assert "mini.yaml: node sum: has no 'next'" in problems_for(tmp_path, doc)


def test_missing_wording_for_a_language(tmp_path: Path) -> None:
    doc = base()
    # _ui.yaml in the fixture is Danish only, so require just the node wording here.
    doc["nodes"]["ask"]["options"][0]["label"] = {"en": "Yes"}
    assert "mini.yaml: node ask: option yes: missing wording for 'da'" in problems_for(
        tmp_path, doc)


def test_missing_template(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["sum"]["template"] = "absent"
    message = problems_for(tmp_path, doc)
    assert "mini.yaml: node sum: template 'absent' does not exist for 'da'" in message


def test_callback_data_too_long(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["ask"]["options"][0]["value"] = "a" * 50
    message = problems_for(tmp_path, doc)
    assert "mini.yaml: node ask: button" in message and "64" in message


def test_placeholder_text_rejected(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["ask"]["prompt"] = {"da": "TODO skriv spørgsmålet"}
    assert "mini.yaml: node ask: prompt (da): contains placeholder text" in problems_for(
        tmp_path, doc)


def test_bad_condition_syntax(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["ask"]["options"][0]["next"] = "route"
    doc["nodes"]["route"] = {"kind": "branch", "cases": [{"when": "answers.a ==", "next": "sum"}],
                             "default": "sum"}
    assert "mini.yaml: node route: condition" in problems_for(tmp_path, doc)


def test_unknown_field_named(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["ask"]["promt"] = {"da": "stavefejl"}
    assert "mini.yaml: node ask:" in problems_for(tmp_path, doc)


def test_check_command_passes_on_the_real_dialogues(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dialogues", "check"]) == 0
    assert "all dialogues valid" in capsys.readouterr().out


def test_check_command_fails_on_a_broken_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "dialogues", tmp_path / "dialogues")
    doc = yaml.safe_load((tmp_path / "dialogues" / "delegation.yaml").read_text("utf-8"))
    doc["nodes"]["task"]["next"] = "vanished"
    (tmp_path / "dialogues" / "delegation.yaml").write_text(yaml.safe_dump(doc),
                                                            encoding="utf-8")
    monkeypatch.setenv("TILLIDSBOT_DIALOGUES", str(tmp_path / "dialogues"))
    assert main(["dialogues", "check"]) == 1
    assert "delegation.yaml: node task: jumps to missing node 'vanished'" in (
        capsys.readouterr().err)


def test_graph_command_prints_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dialogues", "graph", "delegation"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD")
    assert "competence -->" in out and "decide -->" in out


def test_sources_piped_into_a_reader_that_stops_early_ends_quietly() -> None:
    """`tillidsbot dialogues sources | head -1` exits 0 with no traceback."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: every write breaks
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())",
             "dialogues", "sources"],
            stdout=write_end, stderr=subprocess.PIPE, timeout=60, check=False,
        )
    finally:
        os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
