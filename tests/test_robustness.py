"""QA of the foundation: bad input, broken templates, races and restarts lose nothing."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import shutil
import signal
import sqlite3
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.dialogue import Dialogues, load_dialogues
from bot.dialogue.engine import parse_callback, parse_date
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.service import BotService, Who
from bot.store import repo
from bot.store.db import Store, latest_migration
from tests.conftest import FIXTURES, TODAY
from tests.driver import EngineDriver

WHO = Who(leader_id="tg:7", chat_id="7", language_code="da")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def make_service(path: Path, dialogues: Dialogues) -> BotService:
    """A service over a real SQLite file with a fixed clock."""
    return BotService(await Store.open(path), dialogues, ManualClock(NOW))


async def session_of(service: BotService, leader_id: str = "tg:7") -> str | None:
    """The leader's stored state as JSON."""
    async with service.store.transaction() as tx:
        return await repo.load_session(tx, leader_id)


def keys(messages: list[OutMessage]) -> list[str | None]:
    """The wording keys of error replies."""
    return [m.key for m in messages if m.kind == "error"]


# ---- typed input that only looks like a number ---------------------------------------------

@pytest.mark.parametrize("text", ["²", "½", "①", "2²"])
def test_parse_date_refuses_digit_like_characters(text: str) -> None:
    # str.isdigit() is true for these, but int() cannot read them.
    assert parse_date(text, TODAY) is None


def test_forged_callback_with_digit_like_step_is_not_ours() -> None:
    assert parse_callback("abcdef:²:when:7") is None


def test_superscript_digit_at_a_date_question_is_a_clear_reply(
        sample_dialogues: Dialogues) -> None:
    driver = EngineDriver(sample_dialogues, "sample", TODAY)
    driver.text("Mia")
    driver.press("a")
    driver.press("x")
    driver.press("!ok")
    driver.press("3")
    assert driver.prompt.node == "when"
    before = driver.state
    result = driver.text("²")
    assert result.status == "rejected" and result.messages[0].key == "not_a_date"
    # A forged date button with such a value is refused too, not a crash.
    forged = driver.button("7").rsplit(":", 1)[0] + ":²"
    assert driver.send(ButtonInput(data=forged)).status == "rejected"
    assert driver.state == before


# ---- commands a leader can type ------------------------------------------------------------

async def test_start_conversation_is_not_a_leader_command(tmp_path: Path,
                                                          real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    for args in ("", "bogus", "delegation_followup"):
        out = await service.handle_command(WHO, "start_conversation", args)
        assert out[0].kind == "error" and "/start_conversation" in out[0].text
    # Nothing was started: a follow-up without its context would fail to render later.
    assert await session_of(service) is None
    await service.store.close()


# ---- the store ------------------------------------------------------------------------------

async def test_two_processes_opening_a_fresh_file_both_migrate_it(tmp_path: Path) -> None:
    # Two terminal chats started at once on a new file: the second must not re-run 0001.
    for attempt in range(5):
        path = tmp_path / f"fresh{attempt}.db"
        stores = await asyncio.gather(Store.open(path), Store.open(path), Store.open(path))
        for store in stores:
            assert await store.migrate() == latest_migration()
            await store.close()
    conn = sqlite3.connect(tmp_path / "fresh0.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_migration()
    conn.close()


@pytest.mark.parametrize("kind", ["text file", "directory"])
def test_chat_on_a_path_that_is_not_a_database_says_so(tmp_path: Path, kind: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    path = tmp_path / "notes.db"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("shopping list\n")
    assert main(["--db", str(path), "chat"]) == 2
    err = capsys.readouterr().err
    assert f"cannot open the database {path}" in err and "Traceback" not in err


# ---- a wording or template that fails to render ---------------------------------------------

def sample_variant(tmp_path: Path, summary: str | None = None, chain: str | None = None
                   ) -> Dialogues:
    """The every-kind fixture copied, with a changed summary template or a chained ending."""
    root = tmp_path / "kinds"
    shutil.copytree(FIXTURES / "kinds", root)
    if summary is not None:
        (root / "templates" / "da" / "sample_summary.j2").write_text(summary, encoding="utf-8")
    if chain is not None:
        yaml = root / "sample.yaml"
        yaml.write_text(yaml.read_text(encoding="utf-8").replace(
            'text: {da: "Farvel"}', f'text: {{da: "Farvel"}}\n    start_conversation: {chain}'),
            encoding="utf-8")
        (root / "other.yaml").write_text(
            "id: other\nversion: 1\nmenu: false\ntitle: {da: \"Andet\"}\nstart: ask\n"
            "nodes:\n  ask:\n    kind: text\n    store: x\n"
            "    prompt: {da: \"Om {{ context.topic }}?\"}\n    next: bye\n"
            "  bye:\n    kind: end\n", encoding="utf-8")
    return load_dialogues(root, root / "templates", ("da",))


async def walk_sample_to_date(service: BotService) -> list[OutMessage]:
    """Answer the fixture up to its date question."""
    await service.handle_command(WHO, "sample")
    await service.handle_input(WHO, TextInput(text="Mia"))
    out: list[OutMessage] = []
    for label in ("A", "☐ X", "Færdig", "3"):
        pressed = next(b.data for m in (out or await service.resume(WHO)) for row in m.buttons
                       for b in row if b.label == label)
        out = await service.handle_input(WHO, ButtonInput(data=pressed))
    assert out[-1].node == "when"
    return out


async def rows(service: BotService, sql: str) -> list[tuple[object, ...]]:
    """Rows from the service's own database."""
    async with service.store.transaction() as tx, tx.execute(sql) as cur:
        return [tuple(r) for r in await cur.fetchall()]


@pytest.mark.parametrize("template", [
    "{{ answers.not_collected }}",             # an undefined name (StrictUndefined)
    "{{ answers.name + answers.rate }}",       # a TypeError, which Jinja2 does not wrap
])
async def test_a_summary_that_fails_to_render_keeps_the_state(tmp_path: Path,
                                                              template: str) -> None:
    service = await make_service(tmp_path / "bot.db", sample_variant(tmp_path, template))
    await walk_sample_to_date(service)
    before = await session_of(service)
    answers_before = await rows(service, "SELECT name FROM answers")
    out = await service.handle_input(WHO, TextInput(text="14"))
    assert keys(out) == ["render_failed"]
    assert out[-1].node == "when"  # the same question again, nothing lost
    assert await session_of(service) == before
    assert await rows(service, "SELECT name FROM answers") == answers_before
    assert await rows(service, "SELECT status, summary FROM threads") == [("active", None)]
    assert await rows(service, "SELECT id FROM schedules") == []
    await service.store.close()


async def test_a_chained_conversation_that_fails_to_start_rolls_back_the_finish(
        tmp_path: Path) -> None:
    # sample ends by starting 'other', whose first prompt needs a context it does not get.
    service = await make_service(tmp_path / "bot.db", sample_variant(tmp_path, chain="other"))
    await walk_sample_to_date(service)
    before = await session_of(service)
    out = await service.handle_input(WHO, TextInput(text="14"))
    assert keys(out) == ["render_failed"]
    assert await session_of(service) == before
    assert await rows(service, "SELECT conversation, status FROM threads") == [
        ("sample", "active")]
    assert await rows(service, "SELECT id FROM schedules") == []
    await service.store.close()


async def test_an_outdated_state_that_no_longer_renders_restarts_politely(
        tmp_path: Path) -> None:
    # The definition's version moved on and its template now needs an answer this
    # leader never gave: continuing can never work, so the bot starts over politely.
    service = await make_service(tmp_path / "bot.db",
                                 sample_variant(tmp_path, "{{ answers.added_in_v2 }}"))
    await walk_sample_to_date(service)
    raw = await session_of(service)
    assert raw is not None
    async with service.store.transaction() as tx:
        await repo.save_session(tx, "tg:7", raw.replace('"version":1', '"version":0'), "now")
    out = await service.handle_input(WHO, TextInput(text="14"))
    assert out[0].text == service.ui("restarted", "da") and out[-1].buttons
    assert await session_of(service) is None
    assert await rows(service, "SELECT status FROM threads") == [("abandoned",)]
    await service.store.close()


# ---- a stored state whose node is gone ------------------------------------------------------

async def break_state(service: BotService) -> None:
    """Point the stored state at a node the YAML no longer has."""
    raw = await session_of(service)
    assert raw is not None
    state = json.loads(raw)
    state["node"] = "removed_in_v3"
    async with service.store.transaction() as tx:
        await repo.save_session(tx, "tg:7", json.dumps(state), "now")


async def test_resume_with_a_vanished_node_restarts_politely(tmp_path: Path,
                                                             real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    await service.handle_command(WHO, "delegate")
    await break_state(service)
    out = await service.resume(WHO)  # the terminal chat starting again
    assert out[0].text == service.ui("restarted", "da")
    assert out[-1].buttons  # the menu, not "here is where we left off" and then nothing
    assert await session_of(service) is None
    await service.store.close()


async def test_a_command_with_a_vanished_node_restarts_then_runs(tmp_path: Path,
                                                                 real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    await service.handle_command(WHO, "delegate")
    await break_state(service)
    out = await service.handle_command(WHO, "delegate")
    assert out[0].text == service.ui("restarted", "da")
    assert out[-1].node == "task"  # not "busy" with no question to answer
    await service.store.close()


# ---- the terminal chat: a second window, Ctrl-C ---------------------------------------------

class Terminal:
    """One `tillidsbot chat` window: its own service and connection on the shared file."""

    def __init__(self, service: BotService) -> None:
        """A console channel writing into a buffer."""
        from bot.channels.console import CONSOLE_LEADER, ConsoleChannel

        self.out = io.StringIO()
        self.who = CONSOLE_LEADER
        self.console = ConsoleChannel(service, stdin=io.StringIO(), stdout=self.out)

    async def type(self, line: str) -> str:
        """Type a line and return what the window shows in reply."""
        start = len(self.out.getvalue())
        await self.console.send(await self.console.handle(line))
        return self.out.getvalue()[start:]


async def two_terminals(tmp_path: Path, dialogues: Dialogues) -> tuple[Terminal, Terminal]:
    """Two windows on one database, both showing the first question of /delegate."""
    one = Terminal(await make_service(tmp_path / "chat.db", dialogues))
    two = Terminal(await make_service(tmp_path / "chat.db", dialogues))
    await one.type("/delegate")
    await two.console.send(await two.console.service.resume(two.who))
    return one, two


async def test_text_typed_in_a_second_window_for_an_old_question_is_not_misfiled(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    one, two = await two_terminals(tmp_path, real_dialogues)
    assert "Hvad er formålet" in await one.type("Ugeplanen til KL (pædagog)")
    # The second window still shows the task question; this answer belongs to it, not to
    # the purpose question the conversation has moved on to.
    shown = await two.type("Vagtplanen til teamet")
    assert real_dialogues.strings("moved_on", "da") in shown
    assert "Hvad er formålet" in shown  # where the conversation is now
    state = json.loads(await session_of(one.console.service, "console:local") or "{}")
    assert state["node"] == "purpose" and "purpose" not in state["answers"]
    # Now it is current, so the same window's next answer is taken.
    assert "Kompetencer" in await two.type("Så børnene møder voksne, der har planlagt dagen")
    for t in (one, two):
        await t.console.service.store.close()


async def test_an_old_button_in_a_second_window_shows_the_current_question(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    one, two = await two_terminals(tmp_path, real_dialogues)
    for line in ("Ugeplanen til KL", "Formålet"):
        await one.type(line)
        await two.console.send(await two.console.service.resume(two.who))
    assert "Kompetencer" in two.out.getvalue()
    assert "Intentioner" in await one.type("1")  # competence answered in window one
    shown = await two.type("1")  # window two's "1" is the old competence button
    assert real_dialogues.strings("stale_button", "da") in shown
    assert "Intentioner" in shown  # ... and its keys now press the current question
    assert "Ressourcer" in await two.type("1")
    for t in (one, two):
        await t.console.service.store.close()


def _default_sigint() -> None:
    """In the child before exec: SIGINT handled as in an interactive terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_ends_the_terminal_chat_at_once(tmp_path: Path) -> None:
    from tests.test_transcript import TIMEOUT, command

    # A real terminal as stdin (a pty), kept open: a person at the keyboard pressing Ctrl-C.
    keyboard, terminal = pty.openpty()
    env = {**os.environ, "TILLIDSBOT_DB": str(tmp_path / "chat.db"), "PYTHONUNBUFFERED": "1"}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    # A terminal delivers Ctrl-C to a program whose SIGINT is at its default; a test run
    # started in the background (`pytest &`) has SIGINT ignored, and the child would inherit it.
    proc = subprocess.Popen(command(), stdin=terminal, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                            preexec_fn=_default_sigint)
    try:
        assert isinstance(proc.stdout, io.BufferedReader)
        seen = b""
        while b"> " not in seen:
            seen += proc.stdout.read1(4096)
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=TIMEOUT // 4)
        except subprocess.TimeoutExpired:
            raise AssertionError("Ctrl-C left the terminal chat hanging on its read") from None
        rest = proc.stdout.read().decode()
        assert code == 130
        assert "Farvel for nu" in rest and "Traceback" not in rest
    finally:
        proc.kill()
        proc.wait()
        os.close(keyboard)
        os.close(terminal)


# ---- /back after a branch changed a value, and after a multiple choice ------------------------

MODES = """id: modes
version: 1
title: {da: "Tilstande"}
start: setup
nodes:
  setup:
    kind: branch
    cases:
      - {when: "false", next: pick}
    default: pick
    set: {mode: careful}
  pick:
    kind: choice
    store: pick
    prompt: {da: "Vælg"}
    options:
      - {value: a, label: {da: "A"}}
      - {value: b, label: {da: "B"}}
    next: decide
  decide:
    kind: branch
    cases:
      - {when: "answers.pick == 'a'", set: {mode: bold}, next: note}
    default: note
  note:
    kind: text
    store: note
    prompt: {da: "Tilstand: {{ answers.mode }}"}
    next: bye
  bye:
    kind: end
"""


def test_back_restores_a_value_a_branch_overwrote(tmp_path: Path) -> None:
    root = tmp_path / "modes"
    root.mkdir()
    shutil.copy(FIXTURES / "kinds" / "_ui.yaml", root / "_ui.yaml")
    shutil.copy(FIXTURES / "kinds" / "_dates.yaml", root / "_dates.yaml")
    (root / "modes.yaml").write_text(MODES, encoding="utf-8")
    (root / "templates").mkdir()
    driver = EngineDriver(load_dialogues(root, root / "templates", ("da",)), "modes", TODAY)
    driver.press("a")
    assert driver.prompt.text == "Tilstand: bold"
    driver.back()
    assert driver.state is not None and driver.state.answers == {"mode": "careful"}
    driver.press("b")  # the default case sets nothing: the value from before 'pick' holds
    assert driver.prompt.text == "Tilstand: careful"


def test_back_to_a_multiple_choice_keeps_the_toggles(sample_dialogues: Dialogues) -> None:
    driver = EngineDriver(sample_dialogues, "sample", TODAY)
    driver.text("Mia")
    driver.press("a")
    driver.press("y")
    driver.press("x")
    driver.press("!ok")
    assert driver.prompt.node == "rate"
    driver.back()
    labels = [b.label for row in driver.prompt.buttons for b in row]
    assert labels[:2] == ["☑ X", "☑ Y"] and driver.state is not None
    assert "many" not in driver.state.answers
    driver.press("x")  # untick one, confirm: the new choice replaces the old one
    driver.press("!ok")
    assert driver.state is not None and driver.state.answers["many"] == ["y"]


# ---- dialogue files: node ids and the Mermaid graph -------------------------------------------

def test_node_ids_that_would_break_buttons_are_refused(tmp_path: Path) -> None:
    from bot.dialogue.loader import DialogueValidationError

    root = tmp_path / "bad"
    root.mkdir()
    shutil.copy(FIXTURES / "kinds" / "_ui.yaml", root / "_ui.yaml")
    shutil.copy(FIXTURES / "kinds" / "_dates.yaml", root / "_dates.yaml")
    (root / "templates").mkdir()
    (root / "modes.yaml").write_text(MODES.replace("note", "my:note"), encoding="utf-8")
    with pytest.raises(DialogueValidationError) as caught:
        load_dialogues(root, root / "templates", ("da",))
    assert any("modes.yaml" in p and "my:note" in p for p in caught.value.problems)


def test_mermaid_graph_survives_reserved_ids_and_quotes(tmp_path: Path) -> None:
    from bot.dialogue.graph import mermaid

    root = tmp_path / "graph"
    root.mkdir()
    shutil.copy(FIXTURES / "kinds" / "_ui.yaml", root / "_ui.yaml")
    shutil.copy(FIXTURES / "kinds" / "_dates.yaml", root / "_dates.yaml")
    (root / "templates").mkdir()
    text = (MODES.replace("bye", "end").replace("note", "class")
            .replace("\"answers.pick == 'a'\"", "'answers.pick == \"a\"'"))
    (root / "modes.yaml").write_text(text, encoding="utf-8")
    graph = mermaid(load_dialogues(root, root / "templates", ("da",)).registry.get("modes"))
    lines = graph.splitlines()[1:]
    # Mermaid reads 'end' and 'class' as keywords: neither may stand as a node id.
    ids = {word for line in lines for word in line.split() if word.isidentifier()}
    assert not ids & {"end", "class"}
    # Every label is one quoted string: quotes inside are written as entities.
    for line in lines:
        assert line.count('"') % 2 == 0 and '#quot;a#quot;' in graph, line


# ---- dates written the way leaders write them ------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("15. december", date(2026, 12, 15)),
    ("15 dec", date(2026, 12, 15)),
    ("15. dec. 2026", date(2026, 12, 15)),
    ("3. jan", date(2027, 1, 3)),          # January is after November: next year
    ("1. mai", date(2027, 5, 1)),          # Norwegian
    ("1. maj 2027", date(2027, 5, 1)),     # Danish
    ("15. desember", date(2026, 12, 15)),  # Norwegian
    ("December 15", date(2026, 12, 15)),
    ("december 15, 2026", date(2026, 12, 15)),
    ("2 sept", date(2027, 9, 2)),
    ("31. februar", None),
    ("15. smarch", None),
])
def test_dates_with_month_names(text: str, expected: date | None) -> None:
    assert parse_date(text, TODAY) == expected


async def test_dash_skips_every_skippable_question_in_the_terminal(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    # The weekly reflection has a skippable text and then a skippable scale: '-' skips
    # both, as the banner and the text question teach, and 1-5 stay the ratings.
    window = Terminal(await make_service(tmp_path / "chat.db", real_dialogues))
    await window.type("/reflect")
    scale = await window.type("-")
    assert "[5] 5" in scale and "[-] Spring over" in scale and "[6]" not in scale
    await window.type("-")
    state = await session_of(window.console.service, "console:local")
    assert state is None  # the reflection finished: both questions were skipped
    await window.console.service.store.close()


# ---- two inputs at once, unreadable stored state, very long answers ---------------------------

async def test_the_same_button_pressed_twice_at_once_counts_once(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    one = await make_service(tmp_path / "bot.db", real_dialogues)
    two = await make_service(tmp_path / "bot.db", real_dialogues)  # a second process
    await one.handle_command(WHO, "delegate")
    await one.handle_input(WHO, TextInput(text="Vagtplanen til teamet"))
    out = await one.handle_input(WHO, TextInput(text="Mere tid hos borgerne"))
    data = next(b.data for row in out[-1].buttons for b in row if b.label == "Ja")
    press = ButtonInput(data=data)
    replies = await asyncio.gather(one.handle_input(WHO, press), two.handle_input(WHO, press),
                                   one.handle_input(WHO, press))
    assert sorted(keys(r) == ["stale_button"] for r in replies) == [False, True, True]
    assert await rows(one, "SELECT name FROM answers WHERE name = 'competence'") == [
        ("competence",)]
    for service in (one, two):
        await service.store.close()


async def test_an_unreadable_stored_state_is_dropped_not_a_crash(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    service = await make_service(tmp_path / "bot.db", real_dialogues)
    await service.handle_command(WHO, "delegate")
    async with service.store.transaction() as tx:
        await repo.save_session(tx, "tg:7", '{"conversation": "delegation"}', "now")
    out = await service.handle_input(WHO, TextInput(text="hej"))
    assert out[-1].buttons  # the menu: the leader can start again
    assert await session_of(service) is None
    assert (await service.handle_command(WHO, "delegate"))[-1].node == "task"
    await service.store.close()


def test_very_long_answers_render_and_keep_a_short_headline(real_dialogues: Dialogues) -> None:
    driver = EngineDriver(real_dialogues, "delegation", TODAY)
    while driver.state is not None:
        prompt = driver.prompt
        if prompt.expects == "text":
            node = real_dialogues.registry.get("delegation").node(driver.state.node)
            driver.text("ord " * (getattr(node, "max_length", 1500) // 4))
        elif prompt.expects == "date":
            driver.text("14")
        else:
            driver.press(prompt.buttons[-1][-1].data.rsplit(":", 1)[1])
    summaries = [e.params for e in driver.effects if e.kind == "summary"]
    assert len(summaries) == 2
    # Stored whole (the Telegram channel splits what exceeds its 4096-character messages).
    assert len(summaries[1]["text"]) > 4096 and "ord " * 300 in summaries[1]["text"]
    assert all(len(s["headline"]) <= 120 for s in summaries)


@pytest.mark.parametrize("text", ["\x00", "\x00\x00  \x00", "\u200b", " \u200b\u2060 ", "\ufeff",
                                  "\x1b", "\x07\x08"])
def test_invisible_text_is_not_an_answer(sample_dialogues: Dialogues, text: str) -> None:
    # A null byte or a zero-width space used to be stored as the leader's answer: a summary
    # quoting nothing visible, and an empty headline in /history.
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    before = drv.state
    result = drv.text(text)
    assert result.status == "rejected"
    assert result.messages[0].key == "empty_text"
    assert drv.state == before


def test_control_characters_are_dropped_from_an_answer_but_the_words_kept(
        sample_dialogues: Dialogues) -> None:
    drv = EngineDriver(sample_dialogues, "sample", TODAY)
    drv.text("Mette\x00 og\x1b AB 👩‍💻\r\nlinje to\tslut")
    answer = next(e.params["value"] for e in drv.effects if e.kind == "answer")
    assert answer == "Mette og AB 👩‍💻\nlinje to\tslut"


@pytest.mark.parametrize(("command", "data"), [
    (None, "hi:p:²"), (None, "hi:t:²:thread"), (None, "hi:p:99999999999999999999999"),
    (None, "st:fux:²"), (None, "st:fux:99999999999999999999999"), (None, "sz:²:hour"),
    (None, "fg:yes:²"), ("settings", "reminder ²"),
])
async def test_forged_numbers_in_buttons_and_commands_get_a_clear_reply(
        tmp_path: Path, command: str | None, data: str) -> None:
    # '²' passes str.isdigit() but not int(); 23 digits pass int() but not SQLite's integers.
    from tests.history_helpers import ALICE, make_core

    core = await make_core(tmp_path)
    await core.service.handle_command(ALICE, "delegate")
    async with core.store.transaction() as tx:
        before = await repo.load_session(tx, ALICE.leader_id)
    out = await (core.service.handle_command(ALICE, command, data) if command
                 else core.service.handle_input(ALICE, ButtonInput(data=data)))
    assert out and out[0].text
    async with core.store.transaction() as tx:
        assert await repo.load_session(tx, ALICE.leader_id) == before
    await core.close()
