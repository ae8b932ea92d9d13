"""The `tillidsbot` command: run, chat, and dialogue tools."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings

NO_TOKEN_HINT = """Tillidsbot has no TELEGRAM_BOT_TOKEN set, so it will not connect to Telegram.

To talk to the bot right here in the terminal, run:

    tillidsbot chat

(your conversations are kept in ./tillidsbot.db; set TILLIDSBOT_DB or --db to change that).
To run it on Telegram, set TELEGRAM_BOT_TOKEN and run `tillidsbot run` (see README.md).
"""

SOURCES_HEADER = """# Where the conversations come from

Generated with `tillidsbot dialogues sources > docs/sources.md`; a test checks that it is current
for the leader's conversations and the weekly prompts. Seeds:
000 Vallentin 2025; 001 Bentzen, *At lede med tillid som kompas*; 002 slides on trust and
control; 003 Eide, *Hva slags motstand kan forventes mot en tillitsreform*; 004 Væksthus for
Ledelse, *Tillid i ledelse* (see ../shared/DOMAIN.md).

## Every node that speaks, with the passage it draws on
"""
PROMPTS_HEADER = """## The weekly reflection rotation (dialogues/_reflection_prompts.yaml, in order)
"""


def _parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog="tillidsbot", description=__doc__)
    parser.add_argument("--db", type=Path, help="SQLite file (default ./tillidsbot.db)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("chat", help="talk to the bot in this terminal (no token needed)")
    sub.add_parser("run", help="run on Telegram (or the terminal chat without a token)")
    dialogues = sub.add_parser("dialogues", help="check or draw the conversation files")
    dsub = dialogues.add_subparsers(dest="dialogues_command", required=True)
    dsub.add_parser("check", help="validate every conversation; exit 1 on any problem")
    sources = dsub.add_parser("sources", help="print a Markdown table of nodes and sources")
    sources.add_argument("--lang", default="da")
    graph = dsub.add_parser("graph", help="print a Mermaid flowchart of one conversation")
    graph.add_argument("name")
    graph.add_argument("--lang", default="da")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment plus flags."""
    return load_settings(database_path=args.db)


def dialogues_check(settings: Settings) -> int:
    """Validate all dialogue files and wording; print a summary or every problem."""
    from bot.dialogue import load_dialogues
    from bot.dialogue.loader import DialogueValidationError
    from bot.features import reflection

    try:
        loaded = load_dialogues(settings.dialogues_dir, settings.templates_dir)
        prompts = reflection.load_prompts(settings.dialogues_dir / reflection.PROMPTS_FILE,
                                          loaded.languages)
    except DialogueValidationError as exc:
        print(f"{len(exc.problems)} problem(s) in {settings.dialogues_dir}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    for definition in loaded.registry.definitions.values():
        print(f"ok  {definition.file}: {definition.id} v{definition.version}, "
              f"{len(definition.nodes)} nodes")
    print(f"ok  _ui*.yaml: {len(loaded.strings.table)} interface strings")
    print(f"ok  {reflection.PROMPTS_FILE}: {len(prompts)} weekly reflection prompts")
    print(f"all dialogues valid in {', '.join(loaded.languages)}")
    return 0


def dialogues_sources(settings: Settings, lang: str) -> int:
    """Print docs/sources.md: every speaking node and weekly prompt with its source passage."""
    from bot.dialogue import load_dialogues
    from bot.dialogue.graph import sources_table
    from bot.features import reflection

    loaded = load_dialogues(settings.dialogues_dir, settings.templates_dir)
    prompts = reflection.load_prompts(settings.dialogues_dir / reflection.PROMPTS_FILE,
                                      loaded.languages)
    print(SOURCES_HEADER)
    print(sources_table(loaded.registry.definitions.values(), lang))
    print(PROMPTS_HEADER)
    print(reflection.prompts_table(prompts, lang), end="")
    return 0


def dialogues_graph(settings: Settings, name: str, lang: str) -> int:
    """Print a Mermaid flowchart."""
    from bot.dialogue import load_dialogues
    from bot.dialogue.engine import UnknownConversationError
    from bot.dialogue.graph import mermaid

    loaded = load_dialogues(settings.dialogues_dir, settings.templates_dir)
    try:
        definition = loaded.registry.get(name)
    except UnknownConversationError:
        known = ", ".join(sorted(loaded.registry.definitions))
        print(f"no conversation named {name!r} (known: {known})", file=sys.stderr)
        return 2
    print(mermaid(definition, lang), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    from bot.app import configure_logging, run_console

    if args.command == "dialogues":
        if args.dialogues_command == "check":
            return dialogues_check(settings)
        if args.dialogues_command == "sources":
            return dialogues_sources(settings, args.lang)
        return dialogues_graph(settings, args.name, args.lang)
    if args.command == "chat":
        configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
        return asyncio.run(run_console(settings))
    if args.command == "run" or (args.command is None and settings.telegram_bot_token):
        if not settings.telegram_bot_token:
            print("No TELEGRAM_BOT_TOKEN set: starting the terminal chat instead.\n")
            configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
            return asyncio.run(run_console(settings))
        configure_logging(settings)
        from bot.app import run_telegram  # type: ignore[attr-defined]

        return int(asyncio.run(run_telegram(settings)) or 0)
    print(NO_TOKEN_HINT)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
