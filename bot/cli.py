"""The `tillidsbot` command: run, chat, and dialogue tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import identity
from bot.clock import Clock, SystemClock, iso
from bot.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.app import Core
    from bot.dialogue.state import Attachment

NO_TOKEN_HINT = """Tillidsbot has no TELEGRAM_BOT_TOKEN set, so it will not connect to Telegram.

To talk to the bot right here in the terminal, run:

    tillidsbot chat

(your conversations are kept in ./tillidsbot.db; set TILLIDSBOT_DB or --db to change that).
To run it on Telegram, set TELEGRAM_BOT_TOKEN and run `tillidsbot run` (see README.md).
"""

SOURCES_HEADER = """# Where the conversations come from

Generated with `tillidsbot dialogues sources > docs/sources.md`; a test checks that it is current
for the leader's conversations and the weekly prompts. Seeds:
000 Vallentin 2025; 001 Bentzen, *At lede med tillid som kompas*; 002 slides on trust,
control, social capital and the gift economy of leadership; 003 Eide, *Hva slags motstand kan
forventes mot en tillitsreform*; 004 Væksthus for Ledelse, *Tillid i ledelse*. The texts are in
docs/seeds/, and tests/test_sources.py checks every source against them. A source that begins
"Tillidsbot:" is the project's own advice or design choice, not a seed's.

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
    backup = sub.add_parser("backup", help="copy the database consistently, even while running")
    backup.add_argument("path", type=Path, nargs="?",
                        help="the copy (default: a new rotated file in BACKUP_DIR)")
    restore = sub.add_parser("restore", help="replace the database with a checked backup "
                                             "(the bot must be stopped)")
    restore.add_argument("path", type=Path)
    export = sub.add_parser("export", help="write everything stored about one leader to files")
    export.add_argument("--user", required=True, help="leader id, e.g. tg:123456 (or 123456)")
    export.add_argument("--out", type=Path, default=Path("."), help="folder for the two files")
    forget = sub.add_parser("forget", help="delete everything stored about one leader")
    forget.add_argument("--user", required=True, help="leader id, e.g. tg:123456 (or 123456)")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    invite = sub.add_parser("invite", help="invite leaders to the bot on Telegram")
    isub = invite.add_subparsers(dest="invite_command", required=True)
    create = isub.add_parser("create", help="create an invite code (a /start link)")
    create.add_argument("--uses", type=int, help="how many leaders may use it (default: any)")
    create.add_argument("--note", help="your own label, e.g. a department")
    create.add_argument("--bot", help="the bot's username, to print the whole link")
    isub.add_parser("list", help="list invite codes and how often they were used")
    revoke = isub.add_parser("revoke", help="stop a code from admitting anyone new")
    revoke.add_argument("code")
    access = sub.add_parser("access", help="close or reopen one leader's access (data is kept)")
    asub = access.add_subparsers(dest="access_command", required=True)
    for verb, text in (("revoke", "shut a leader out: nothing more is sent to them"),
                       ("grant", "let a leader in again, whatever the list or invites say")):
        action = asub.add_parser(verb, help=text)
        action.add_argument("--user", required=True, help="leader id, e.g. tg:123456 (or 123456)")
    keys = sub.add_parser("keys", help="the key store that encrypts what leaders wrote")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    kbackup = ksub.add_parser("backup", help="copy the key store (keep it apart from the "
                                             "database backups)")
    kbackup.add_argument("path", type=Path)
    ksub.add_parser("rotate", help="seal the key store under a new master key "
                                   "(TILLIDSBOT_NEW_MASTER_KEY, or a new generated key file)")
    health = sub.add_parser("health", help="is the bot running and on time? exit 0 if so, 1 if not")
    health.add_argument("--json", action="store_true", help="the figures as JSON")
    health.add_argument("--quiet", action="store_true", help="print only problems")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment plus flags."""
    return load_settings(database_path=args.db)


def dialogues_check(settings: Settings) -> int:
    """Validate all dialogue files and wording; print a summary or every problem."""
    from bot.dialogue import load_dialogues
    from bot.dialogue.loader import DATES_FILE, DialogueValidationError
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
    print(f"ok  {DATES_FILE}: relative dates in {', '.join(loaded.dates.languages)}")
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


def backup(settings: Settings, target: Path | None) -> int:
    """Copy the database with the online backup API and check the copy (into BACKUP_DIR,
    rotated, when no path is given)."""
    from bot.store.backup import backup_database

    if target is None:
        return _rotated_backup(settings)
    try:
        check = backup_database(settings.database_path, target)
    except (FileNotFoundError, OSError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {target} (integrity check: {check})")
    return 0 if check == "ok" else 1


def _rotated_backup(settings: Settings) -> int:
    """A backup into BACKUP_DIR, kept with the newest BACKUP_KEEP."""
    from bot.backups import BackupError, take_backup

    if settings.backup_dir is None:
        print("give a path for the copy, or set BACKUP_DIR", file=sys.stderr)
        return 2
    try:
        path = take_backup(settings.database_path, settings.backup_dir, settings.backup_keep,
                           SystemClock().now())
    except BackupError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"backup written to {path} (integrity check: ok; keeping the newest "
          f"{settings.backup_keep})")
    return 0


def restore(settings: Settings, source: Path, clock: Clock | None = None) -> int:
    """Replace the database with a backup that passes its checks, with the bot stopped."""
    from bot.backups import BackupError, check_file
    from bot.backups import restore as restore_database

    try:
        kept = restore_database(source, settings.database_path, (clock or SystemClock()).now())
    except BackupError as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 1
    check = check_file(settings.database_path)
    print(f"restored {source} to {settings.database_path} (integrity check: {check.integrity}, "
          f"schema {check.schema})")
    if kept is not None:
        print(f"the database it replaced is kept as {kept}")
    return 0


async def _find_leader(settings: Settings, user: str) -> tuple[Core, str | None]:
    """Open the bot core and resolve an operator-given id ('tg:123' or a bare '123')."""
    from bot.app import build_core
    from bot.store import repo

    core = await build_core(settings)
    async with core.store.transaction() as tx:
        for candidate in (user, identity.resolve(user)):
            if await repo.get_leader(tx, candidate) is not None:
                return core, candidate
    return core, None


async def _export(settings: Settings, user: str) -> tuple[str, list[Attachment]] | None:
    """A leader's Markdown and JSON export, or None when there is no such leader."""
    from bot.features.export import export_files

    core, leader_id = await _find_leader(settings, user)
    try:
        if leader_id is None:
            return None
        async with core.store.transaction() as tx:
            return leader_id, await export_files(tx, core.service, leader_id)
    finally:
        await core.close()


def export_user(settings: Settings, user: str, out: Path) -> int:
    """Write a leader's Markdown and JSON export to a folder and print the paths."""
    found = asyncio.run(_export(settings, user))
    if found is None:
        print(f"no leader with id {user!r}", file=sys.stderr)
        return 1
    leader_id, files = found
    from bot.private_files import write_private

    for attachment in files:
        name = attachment.filename.replace("tillidsbot-export",
                                           f"tillidsbot-export-{_safe(leader_id)}")
        print(write_private(out / name, attachment.data))
    return 0


async def forget_user(settings: Settings, user: str, yes: bool) -> int:
    """Delete everything about a leader after the operator confirms."""
    from bot.features.forget import forget_leader, what_is_stored

    core, leader_id = await _find_leader(settings, user)
    try:
        if leader_id is None:
            print(f"no leader with id {user!r}", file=sys.stderr)
            return 1
        async with core.store.transaction() as tx:
            counts = await what_is_stored(tx, leader_id)
        print(f"{leader_id}: profile and settings, {counts['conversations']} conversations, "
              f"{counts['answers']} answers, {counts['schedules']} pending scheduled messages, "
              f"{counts['other']} other rows")
        if not yes:
            reply = await asyncio.to_thread(input, "Delete all of it permanently? Type 'yes': ")
            reply = reply.strip().lower()
            if reply != "yes":
                print("nothing deleted")
                return 1
        async with core.store.transaction() as tx:
            deleted = await forget_leader(tx, leader_id, core.forget_hooks)
            core.store.scrub_after_commit()
        print(f"deleted {sum(deleted.values())} rows: " +
              ", ".join(f"{table} {count}" for table, count in sorted(deleted.items())))
        return 0
    finally:
        await core.close()


async def access_command(settings: Settings, verb: str, user: str) -> int:
    """Revoke or grant one leader's access; their data stays (see export and forget)."""
    from bot.store import telegram as tgrepo
    from bot.store.db import Store

    leader_id = identity.resolve(user)
    via = tgrepo.REVOKED if verb == "revoke" else tgrepo.GRANTED
    store = await Store.open(settings.database_path, settings.master_key)
    try:
        async with store.transaction() as tx:
            found = await tgrepo.set_admission(tx, leader_id, via, iso(SystemClock().now()))
    finally:
        await store.close()
    if not found:
        print(f"no leader with id {leader_id!r}", file=sys.stderr)
        return 1
    if verb == "revoke":
        print(f"{leader_id}: access closed; pending messages cancelled; their data is kept "
              "(tillidsbot export / forget)")
    else:
        print(f"{leader_id}: access open again; the weekly reflection is planned anew")
    return 0


def keys_command(settings: Settings, args: argparse.Namespace) -> int:
    """Back up the key store, or seal it under a new master key."""
    from bot.store import crypto

    if args.keys_command == "backup":
        ring = crypto.open_keyring(settings.database_path, settings.master_key, create=False)
        written = ring.write_to(args.path)
        print(f"key store written to {written} ({ring.count()} data keys); it opens only "
              "with the master key, which is not in it: keep both apart from the database "
              "backups")
        return 0
    print(crypto.rotate(settings.database_path, settings.master_key,
                        os.environ.get("TILLIDSBOT_NEW_MASTER_KEY") or None))
    return 0


def health_command(settings: Settings, as_json: bool, quiet: bool,
                   clock: Clock | None = None) -> int:
    """Print the health check; 0 when healthy, 1 when not."""
    from bot.health import check, report

    result = check(settings.database_path, (clock or SystemClock()).now())
    if as_json:
        print(json.dumps({"healthy": result.healthy, "problems": result.problems,
                          **result.facts}, indent=2))
    elif not quiet or not result.healthy:
        print(report(result))
    return 0 if result.healthy else 1


def _safe(leader_id: str) -> str:
    """A leader id usable in a file name."""
    return "".join(c if c.isalnum() else "-" for c in leader_id)


async def invite_command(settings: Settings, args: argparse.Namespace) -> int:
    """Create, list or revoke invite codes in the bot's database."""
    from bot.access import new_code
    from bot.clock import SystemClock, iso
    from bot.store import telegram as tgrepo
    from bot.store.db import Store

    if args.invite_command == "create" and args.uses is not None and args.uses < 1:
        print("--uses must be at least 1", file=sys.stderr)
        return 2
    now = iso(SystemClock().now())
    store = await Store.open(settings.database_path, settings.master_key)
    try:
        async with store.transaction() as tx:
            if args.invite_command == "create":
                invite = await tgrepo.create_invite(tx, new_code(), args.uses, args.note, now)
                bot = (args.bot or "YOUR_BOT").lstrip("@")
                limit = f"{invite.max_uses} leader(s)" if invite.max_uses else "any number"
                print(f"Invite code: {invite.code}  (usable by {limit})")
                print(f"Send this link to the leader: https://t.me/{bot}?start={invite.code}")
                print(f"(or they type: /start {invite.code} in a private chat with the bot)")
                return 0
            if args.invite_command == "list":
                invites = await tgrepo.list_invites(tx)
                if not invites:
                    print("No invite codes yet. Create one with: tillidsbot invite create")
                for i in invites:
                    state = ("revoked" if i.revoked_at else "used up" if not i.usable
                             else "active")
                    cap = str(i.max_uses) if i.max_uses is not None else "∞"
                    note = f"  {i.note}" if i.note else ""
                    print(f"{i.code}  {state:8} used {i.uses}/{cap}  created "
                          f"{i.created_at[:10]}{note}")
                return 0
            if await tgrepo.revoke_invite(tx, args.code, now):
                print(f"Revoked {args.code}: it admits nobody new (admitted leaders stay).")
                return 0
            print(f"No active invite code {args.code!r}.", file=sys.stderr)
            return 1
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script: operator errors as one clear line, not a traceback."""
    from bot.store.db import StoreError

    try:
        return _main(argv)
    except (StoreError, ConfigError) as exc:  # ConfigError: e.g. a team salt too short to use
        print(f"tillidsbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: everything said so far is already committed
        return 130
    except BrokenPipeError:
        # The reader went away (`tillidsbot dialogues sources | head`): not an error to report.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None) -> int:
    """Parse the command line and run the sub-command."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "invite":  # before importing the app: invites need only the store
        return asyncio.run(invite_command(settings, args))
    if args.command == "access":
        return asyncio.run(access_command(settings, args.access_command, args.user))
    if args.command == "keys":
        return keys_command(settings, args)
    if args.command == "health":  # also before the app: it runs every minute in a container
        return health_command(settings, args.json, args.quiet)
    if args.command == "restore":  # before the app: opening the store would migrate the file
        return restore(settings, args.path)
    from bot.app import configure_logging, run_console

    if args.command == "dialogues":
        if args.dialogues_command == "check":
            return dialogues_check(settings)
        if args.dialogues_command == "sources":
            return dialogues_sources(settings, args.lang)
        return dialogues_graph(settings, args.name, args.lang)
    if args.command == "backup":
        return backup(settings, args.path)
    if args.command == "export":
        return export_user(settings, args.user, args.out)
    if args.command == "forget":
        return asyncio.run(forget_user(settings, args.user, args.yes))
    if args.command == "chat":
        configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
        return asyncio.run(run_console(settings))
    if args.command == "run" or (args.command is None and settings.telegram_bot_token):
        if not settings.telegram_bot_token:
            print("No TELEGRAM_BOT_TOKEN set: starting the terminal chat instead.\n")
            configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
            return asyncio.run(run_console(settings))
        configure_logging(settings)
        from bot.app import run_telegram

        return asyncio.run(run_telegram(settings))
    print(NO_TOKEN_HINT)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
