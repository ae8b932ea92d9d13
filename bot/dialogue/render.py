"""Jinja2 rendering of prompts, summaries and interface strings."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from babel.core import UnknownLocaleError
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from bot.dialogue.model import Text

DEFAULT_LANGUAGE = "da"
# Compiled inline wording: the dialogues' and interface strings are a few thousand at most.
STRING_CACHE = 8192


class RenderError(Exception):
    """A template or prompt failed to render."""


def make_environment(templates_dir: Path) -> Environment:
    """A plain-text Jinja2 environment; undefined names are errors, not blanks."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        extensions=["jinja2.ext.loopcontrols"],
        auto_reload=False,  # templates are read once: no stat() of the file on every render
    )
    env.filters["quote"] = lambda value: f"“{str(value).strip()}”"
    env.filters["bullets"] = _bullets
    env.filters["day"] = _day
    return env


def _bullets(values: Any) -> str:
    """Join a list of strings as bullet lines."""
    if not values:
        return ""
    if isinstance(values, str):
        values = [values]
    return "\n".join(f"• {v}" for v in values)


def _day(value: Any, lang: str = DEFAULT_LANGUAGE) -> str:
    """An ISO date as a leader reads it in their language (7. december 2026)."""
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    try:
        return format_date(day, format="long", locale=lang)
    except (UnknownLocaleError, ValueError):
        return format_date(day, format="long", locale=DEFAULT_LANGUAGE)


def pick(text: Text, lang: str) -> str:
    """Choose the wording for a language, falling back to Danish."""
    return text.get(lang) or text.get(DEFAULT_LANGUAGE) or next(iter(text.values()), "")


class Renderer:
    """Renders inline wording and template files with the same environment.

    Each template file and each inline wording string is compiled once, the first time it is
    rendered, and kept (auto_reload=False: no stat() of a file per render); compiling all of
    them at start-up would cost more than a second before the first update.
    """

    def __init__(self, templates_dir: Path) -> None:
        """Create the environment over a templates directory."""
        self.templates_dir = templates_dir
        self.env = make_environment(templates_dir)
        self._strings: dict[str, Template] = {}
        self._files = {str(p.relative_to(templates_dir).as_posix())
                       for p in templates_dir.glob("*/*.j2")} if templates_dir.is_dir() else set()

    def compile(self, source: str) -> Template:
        """The compiled form of an inline wording string (cached); raises on bad syntax."""
        template = self._strings.get(source)
        if template is None:
            template = self.env.from_string(source)
            if len(self._strings) < STRING_CACHE:  # bounded, whatever a caller passes in
                self._strings[source] = template
        return template

    def string(self, source: str, variables: dict[str, Any]) -> str:
        """Render an inline wording string."""
        if "{" not in source:
            return source
        try:
            return self.compile(source).render(**variables).strip()
        except Exception as exc:  # Jinja2 lets TypeError and friends through unwrapped
            raise RenderError(f"{exc.__class__.__name__}: {exc}") from exc

    def template(self, name: str, lang: str, variables: dict[str, Any]) -> str:
        """Render templates/<lang>/<name>.j2."""
        path = f"{lang}/{name}.j2"
        try:
            tpl = self.env.get_template(path)  # compiled once, then from the env's cache
            return tpl.render({"lang": lang, **variables}).strip()
        except Exception as exc:  # TemplateError, but also a TypeError inside an expression
            raise RenderError(f"{name} ({lang}): {exc.__class__.__name__}: {exc}") from exc

    def has_template(self, name: str, lang: str) -> bool:
        """Whether templates/<lang>/<name>.j2 exists (as it did when the renderer was made)."""
        return f"{lang}/{name}.j2" in self._files
