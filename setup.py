"""Packages and their data (the rest of the metadata is in pyproject.toml).

dialogues/ and templates/ stay top-level (where they are written and reviewed) and ship as
bot._dialogues and bot._templates, read through importlib.resources (bot/content.py); an
editable install maps them to the checkout. The migrations and each template language folder
are data-only packages, listed so setuptools neither drops nor warns about them.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
LANGUAGES = sorted(p.name for p in (HERE / "templates").iterdir() if p.is_dir()
                   and not p.name.startswith(("_", ".")))

setup(
    package_dir={"bot._dialogues": "dialogues", "bot._templates": "templates"},
    packages=[*find_packages(include=["bot", "bot.*"]), "bot.store.migrations",
              "bot._dialogues", "bot._templates",
              *(f"bot._templates.{lang}" for lang in LANGUAGES)],
    package_data={"bot.store.migrations": ["*.sql"], "bot._dialogues": ["*.yaml"],
                  **{f"bot._templates.{lang}": ["*.j2"] for lang in LANGUAGES}},
)
