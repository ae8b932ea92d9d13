"""Load dialogues/*.yaml into typed definitions and validate them before the bot starts."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import get_args

import yaml
from jinja2 import TemplateSyntaxError
from pydantic import ValidationError

from bot.dialogue.dates import DateWords, LanguageDateWords, conflicts
from bot.dialogue.engine import DONE, SKIP, Registry, callback_data
from bot.dialogue.model import (
    CALLBACK_DATA_LIMIT,
    BranchNode,
    ChoiceNode,
    DateNode,
    Definition,
    EffectNode,
    EndNode,
    MultiNode,
    Node,
    ScaleNode,
    SummaryNode,
    TextNode,
    successors,
    texts_of,
)
from bot.dialogue.render import Renderer
from bot.dialogue.strings import Strings

# libyaml's safe loader when PyYAML has it: the same documents, several times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NODE_ID = re.compile(r"[A-Za-z0-9_]+")

# The longest step counter a conversation can reach, reserved in the callback budget.
MAX_STEP_DIGITS = 5
PLACEHOLDERS = ("TODO", "lorem", "xxx", "FIXME", "TBD")
# The words for relative dates ("i morgen", "om 2 uger", "næste fredag"), one section a language.
DATES_FILE = "_dates.yaml"


class DialogueValidationError(Exception):
    """One or more problems in the dialogue files, each naming file and node."""

    def __init__(self, problems: list[str]) -> None:
        """Keep every problem so the check command can print them all."""
        super().__init__("\n".join(problems))
        self.problems = problems


def node_kinds() -> set[str]:
    """The node kinds the engine understands."""
    union = get_args(get_args(Node)[0])
    return {get_args(cls.model_fields["kind"].annotation)[0] for cls in union}


def conversation_files(dialogues_dir: Path) -> list[Path]:
    """Conversation files; files starting with '_' hold shared wording instead."""
    return sorted(p for p in dialogues_dir.glob("*.yaml") if not p.name.startswith("_"))


def _parse_file(path: Path, problems: list[str]) -> Definition | None:
    """Parse one YAML file into a Definition, recording readable problems."""
    name = path.name
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        problems.append(f"{name}: not valid YAML: {exc}")
        return None
    if not isinstance(raw, dict):
        problems.append(f"{name}: expected a mapping at the top level")
        return None
    nodes = raw.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        problems.append(f"{name}: 'nodes' must be a non-empty mapping")
        return None
    kinds = node_kinds()
    bad = False
    for node_id, node in nodes.items():
        kind = node.get("kind") if isinstance(node, dict) else None
        if kind not in kinds:
            problems.append(f"{name}: node {node_id}: unknown node kind {kind!r} "
                            f"(known: {', '.join(sorted(kinds))})")
            bad = True
    if bad:
        return None
    try:
        return Definition.model_validate({**raw, "file": name})
    except ValidationError as exc:
        for error in exc.errors():
            loc = list(error["loc"])
            where = f"node {loc[1]}" if len(loc) > 1 and loc[0] == "nodes" else "top level"
            field = ".".join(str(part) for part in loc[2:] if part not in kinds) or ".".join(
                str(p) for p in loc)
            problems.append(f"{name}: {where}: {field}: {error['msg']}")
        return None


def _reachable(definition: Definition) -> set[str]:
    """Node ids reachable from the start node."""
    seen = {definition.start}
    queue = deque([definition.start])
    while queue:
        node = definition.nodes.get(queue.popleft())
        if node is None:
            continue
        for target in successors(node):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _can_finish(definition: Definition) -> set[str]:
    """Node ids from which some path reaches an end node."""
    reverse: dict[str, set[str]] = {node_id: set() for node_id in definition.nodes}
    for node_id, node in definition.nodes.items():
        for target in successors(node):
            reverse.setdefault(target, set()).add(node_id)
    done = {node_id for node_id, node in definition.nodes.items() if isinstance(node, EndNode)}
    queue = deque(done)
    while queue:
        for source in reverse.get(queue.popleft(), set()):
            if source not in done:
                done.add(source)
                queue.append(source)
    return done


def _check_structure(d: Definition, known: set[str], problems: list[str]) -> None:
    """Jumps to missing nodes, unreachable nodes and dead ends."""
    name = d.file
    if d.start not in d.nodes:
        problems.append(f"{name}: start node {d.start!r} does not exist")
    for node_id, node in d.nodes.items():
        if not NODE_ID.fullmatch(node_id):  # ':' would split button data, spaces the graph
            problems.append(f"{name}: node {node_id}: node ids may only use letters, digits "
                            "and '_'")
        if not isinstance(node, EndNode | ChoiceNode) and node.next is None and not isinstance(
                node, BranchNode):
            problems.append(f"{name}: node {node_id}: has no 'next' (a dead end)")
        if isinstance(node, ChoiceNode):
            for option in node.options:
                if option.next is None and node.next is None:
                    problems.append(f"{name}: node {node_id}: option {option.value} leads "
                                    "nowhere (set 'next' on the option or the node)")
        for target in successors(node):
            if target not in d.nodes:
                problems.append(f"{name}: node {node_id}: jumps to missing node {target!r}")
        if isinstance(node, EffectNode) and node.conversation and node.conversation not in known:
            problems.append(f"{name}: node {node_id}: schedules unknown conversation "
                            f"{node.conversation!r}")
        if isinstance(node, EffectNode) and node.effect == "schedule_followup" and not (
                node.conversation):
            problems.append(f"{name}: node {node_id}: schedule_followup needs 'conversation'")
        if isinstance(node, EndNode) and node.start_conversation and (
                node.start_conversation not in known):
            problems.append(f"{name}: node {node_id}: starts unknown conversation "
                            f"{node.start_conversation!r}")
    reachable = _reachable(d)
    for node_id in d.nodes:
        if node_id not in reachable:
            problems.append(f"{name}: node {node_id}: unreachable from start {d.start!r}")
    finishing = _can_finish(d)
    for node_id in d.nodes:
        if node_id in reachable and node_id not in finishing:
            problems.append(f"{name}: node {node_id}: dead end (no path from here reaches an end)")


def _check_wording(
    d: Definition, languages: list[str], renderer: Renderer, problems: list[str]
) -> None:
    """Every text in every language, Jinja2 syntax, templates, and no placeholders."""
    name = d.file
    tops = [("title", d.title)] + ([("description", d.description)] if d.description else [])
    for label, text in tops:
        for lang in languages:
            if not str(text.get(lang, "")).strip():
                problems.append(f"{name}: top level: {label}: missing wording for {lang!r}")
    for node_id, node in d.nodes.items():
        for label, text in texts_of(node):
            for lang in languages:
                value = str(text.get(lang, "")).strip()
                if not value:
                    problems.append(f"{name}: node {node_id}: {label}: missing wording for "
                                    f"{lang!r}")
                    continue
                _check_source(f"{name}: node {node_id}: {label} ({lang})", value, renderer,
                              problems)
        if isinstance(node, SummaryNode):
            for lang in languages:
                if not renderer.has_template(node.template, lang):
                    problems.append(f"{name}: node {node_id}: template {node.template!r} does "
                                    f"not exist for {lang!r} (templates/{lang}/"
                                    f"{node.template}.j2)")
        if isinstance(node, BranchNode):
            for case in node.cases:
                try:
                    renderer.env.compile_expression(case.when)
                except TemplateSyntaxError as exc:
                    problems.append(f"{name}: node {node_id}: condition {case.when!r}: {exc}")


def _check_source(where: str, value: str, renderer: Renderer, problems: list[str]) -> None:
    """Jinja2 syntax and placeholder text in one piece of wording."""
    try:
        if "{" in value:  # without a brace there is no Jinja syntax to check
            renderer.env.parse(value)
    except TemplateSyntaxError as exc:
        problems.append(f"{where}: template syntax: {exc}")
    lowered = value.lower()
    for marker in PLACEHOLDERS:
        if marker.lower() in lowered.split() or marker in value:
            problems.append(f"{where}: contains placeholder text {marker!r}")


def _check_callbacks(d: Definition, problems: list[str]) -> None:
    """Telegram limits callback data to 64 bytes; check the longest each button can be."""
    thread = "x" * 6
    step = 10 ** MAX_STEP_DIGITS - 1
    for node_id, node in d.nodes.items():
        values: list[str] = []
        if isinstance(node, ChoiceNode | MultiNode):
            values = [o.value for o in node.options]
            if isinstance(node, MultiNode):
                values.append(DONE)
        elif isinstance(node, ScaleNode):
            values = ["5"]
        elif isinstance(node, DateNode):
            values = [str(days) for days in node.quick_days]
        if isinstance(node, TextNode | ScaleNode) and node.skippable:
            values.append(SKIP)
        for value in values:
            data = callback_data(thread, step, node_id, value)
            size = len(data.encode("utf-8"))
            if size > CALLBACK_DATA_LIMIT:
                problems.append(f"{d.file}: node {node_id}: button {value!r} needs {size} bytes "
                                f"of callback data (Telegram allows {CALLBACK_DATA_LIMIT}); "
                                "shorten the node id or option value")


def validate(
    definitions: Iterable[Definition], languages: list[str], renderer: Renderer
) -> list[str]:
    """All problems across definitions (empty when they are fine)."""
    defs = list(definitions)
    known = {d.id for d in defs}
    problems: list[str] = []
    seen: dict[str, str] = {}
    for d in defs:
        if d.id in seen:
            problems.append(f"{d.file}: top level: id {d.id!r} is also used by {seen[d.id]}")
        seen[d.id] = d.file
        _check_structure(d, known, problems)
        _check_wording(d, languages, renderer, problems)
        _check_callbacks(d, problems)
    return problems


def load_registry(
    dialogues_dir: Path, renderer: Renderer, languages: list[str]
) -> Registry:
    """Parse and validate every conversation; raise with all problems at once."""
    problems: list[str] = []
    definitions: dict[str, Definition] = {}
    for path in conversation_files(dialogues_dir):
        definition = _parse_file(path, problems)
        if definition is not None:
            definitions[definition.id] = definition
    problems.extend(validate(definitions.values(), languages, renderer))
    if problems:
        raise DialogueValidationError(problems)
    return Registry(definitions)


def wording_files(dialogues_dir: Path) -> list[Path]:
    """Shared interface wording: dialogues/_ui.yaml plus one _ui_<feature>.yaml per feature."""
    return sorted(dialogues_dir.glob("_ui*.yaml"))


def load_strings(dialogues_dir: Path, renderer: Renderer, languages: list[str]) -> Strings:
    """Interface wording, checked for every language."""
    try:
        strings = Strings.load(wording_files(dialogues_dir), renderer)
    except ValueError as exc:
        raise DialogueValidationError([str(exc)]) from None
    missing = strings.missing(languages)
    if missing:
        raise DialogueValidationError([f"_ui*.yaml: {m}: missing wording" for m in missing])
    problems: list[str] = []
    for key, text in strings.table.items():
        for lang, value in text.items():
            _check_source(f"_ui*.yaml: {key} ({lang})", value, renderer, problems)
    if problems:
        raise DialogueValidationError(problems)
    return strings



def load_date_words(dialogues_dir: Path, languages: list[str]) -> DateWords:
    """The relative-date words of every language in _dates.yaml, checked and merged."""
    path = dialogues_dir / DATES_FILE
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise DialogueValidationError([f"{DATES_FILE}: cannot read: {exc}"]) from None
    if not isinstance(raw, dict):
        raise DialogueValidationError([f"{DATES_FILE}: expected a mapping of language to words"])
    problems = [f"{DATES_FILE}: missing words for {lang!r}" for lang in languages
                if lang not in raw]
    by_language: dict[str, LanguageDateWords] = {}
    for lang, words in raw.items():
        try:
            by_language[str(lang)] = LanguageDateWords.model_validate(words)
        except ValidationError as exc:
            problems.extend(f"{DATES_FILE}: {lang}: {'.'.join(map(str, e['loc']))}: {e['msg']}"
                            for e in exc.errors())
    problems.extend(f"{DATES_FILE}: {c}" for c in conflicts(by_language))
    if problems:
        raise DialogueValidationError(problems)
    return DateWords.merge(by_language)
