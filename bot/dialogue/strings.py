"""Interface wording (errors, menus, help) loaded from dialogues/_ui.yaml."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.model import Text
from bot.dialogue.render import Renderer, pick


class Strings:
    """Looks up interface wording by key and language and renders its variables."""

    def __init__(self, table: dict[str, Text], renderer: Renderer) -> None:
        """Wrap a key -> {lang: text} table."""
        self.table = table
        self.renderer = renderer

    @classmethod
    def load(cls, path: Path, renderer: Renderer) -> Strings:
        """Read the YAML table from disk."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping of keys to wording")
        return cls({str(k): {str(lk): str(lv) for lk, lv in v.items()} for k, v in raw.items()},
                   renderer)

    def __call__(self, key: str, lang: str, **variables: Any) -> str:
        """The wording for key in lang, rendered with variables."""
        text = self.table.get(key)
        if text is None:
            raise KeyError(f"no interface wording named {key!r}")
        return self.renderer.string(pick(text, lang), variables)

    def missing(self, languages: Iterable[str]) -> list[str]:
        """Keys lacking wording in any of the languages."""
        langs = list(languages)
        return [f"{key}: {lang}" for key, text in self.table.items() for lang in langs
                if not str(text.get(lang, "")).strip()]
