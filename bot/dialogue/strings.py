"""Interface wording (errors, menus, help) loaded from dialogues/_ui.yaml."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.model import Text
from bot.dialogue.render import Renderer, pick

# libyaml's safe loader when PyYAML has it: the same documents, several times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Strings:
    """Looks up interface wording by key and language and renders its variables."""

    def __init__(self, table: dict[str, Text], renderer: Renderer) -> None:
        """Wrap a key -> {lang: text} table."""
        self.table = table
        self.renderer = renderer

    @classmethod
    def load(cls, paths: Iterable[Path], renderer: Renderer) -> Strings:
        """Read and merge the YAML tables (one per feature); a key may appear only once."""
        table: dict[str, Text] = {}
        origin: dict[str, str] = {}
        for path in paths:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
            if not isinstance(raw, dict):
                raise ValueError(f"{path.name}: expected a mapping of keys to wording")
            for key, text in raw.items():
                if key in table:
                    raise ValueError(f"{path.name}: key {key!r} is also defined in "
                                     f"{origin[key]}")
                if not isinstance(text, dict):
                    raise ValueError(f"{path.name}: {key}: expected a mapping of language "
                                     "to wording")
                table[str(key)] = {str(lk): str(lv) for lk, lv in text.items()}
                origin[str(key)] = path.name
        return cls(table, renderer)

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
