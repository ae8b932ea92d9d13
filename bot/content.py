"""Where the shipped conversations and templates are: package data, found through
importlib.resources, so a wheel installed anywhere finds them (TILLIDSBOT_DIALOGUES and
TILLIDSBOT_TEMPLATES still point elsewhere for an organisation's own wording)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def _package_dir(package: str, folder: str) -> Path:
    """The folder of a data package (a real folder: wheels are installed unpacked); in a
    source tree used without installing, the top-level folder it is built from."""
    try:
        return Path(str(resources.files(package)))
    except ModuleNotFoundError:
        return CHECKOUT / folder


def dialogues_dir() -> Path:
    """The shipped dialogues/ (bot._dialogues)."""
    return _package_dir("bot._dialogues", "dialogues")


def templates_dir() -> Path:
    """The shipped templates/ (bot._templates)."""
    return _package_dir("bot._templates", "templates")
