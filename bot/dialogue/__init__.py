"""The dialogue engine and its data: pure, with no Telegram, database or clock inside."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.dialogue.dates import DateWords
from bot.dialogue.engine import Engine, Registry
from bot.dialogue.loader import load_date_words, load_registry, load_strings
from bot.dialogue.render import Renderer
from bot.dialogue.strings import Strings
from bot.locale import LANGUAGES as KIT_LANGUAGES

# Danish first; every wording must exist in each of these.
LANGUAGES: tuple[str, ...] = KIT_LANGUAGES


@dataclass(frozen=True)
class Dialogues:
    """Everything loaded from dialogues/ and templates/, validated."""

    registry: Registry
    strings: Strings
    renderer: Renderer
    engine: Engine
    languages: tuple[str, ...]
    dates: DateWords


def load_dialogues(
    dialogues_dir: Path, templates_dir: Path, languages: tuple[str, ...] = LANGUAGES
) -> Dialogues:
    """Load and validate all conversations and wording; raises DialogueValidationError."""
    renderer = Renderer(templates_dir)
    strings = load_strings(dialogues_dir, renderer, list(languages))
    registry = load_registry(dialogues_dir, renderer, list(languages))
    dates = load_date_words(dialogues_dir, list(languages))
    engine = Engine(registry, renderer, strings, dates)
    return Dialogues(registry, strings, renderer, engine, languages, dates)
