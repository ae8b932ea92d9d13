"""The pure dialogue engine: (definition, state, input) -> (new state, messages, effects).

No Telegram, no database and no clock in here: today's date arrives as an argument.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any

from jinja2 import Environment

from bot.dialogue.dates import DateWords, normalised, parse_date
from bot.dialogue.model import (
    BranchNode,
    ChoiceNode,
    DateNode,
    Definition,
    EffectNode,
    EndNode,
    MessageNode,
    MultiNode,
    Node,
    Option,
    ScaleNode,
    SummaryNode,
    TextNode,
)
from bot.dialogue.render import Renderer, RenderError, pick
from bot.dialogue.state import (
    AnswerEffect,
    Back,
    Button,
    ButtonInput,
    Cancel,
    CancelFollowupsEffect,
    CancelledEffect,
    DialogueState,
    Effect,
    FinishedEffect,
    Input,
    OutMessage,
    ScheduleFollowupEffect,
    StartConversationEffect,
    StepResult,
    SummaryEffect,
    TextInput,
    TrailEntry,
)
from bot.dialogue.strings import Strings
from bot.numbers import small_int

MAX_AUTO_STEPS = 200
DONE = "!ok"
SKIP = "!skip"
HEADLINE_LENGTH = 120
# Where a button label's asides begin: "Nej, ikke endnu", "Nej / ved ikke", "Bliver hørt – jeg…".
_LABEL_ASIDE = re.compile(r"\s*[,/–(]")
# A typed rating: "4", "4/5", "4 af 5", "4 av 5", "4 of 5", "4 ud af 5", "4 out of 5".
_SCALE_ANSWER = re.compile(r"^([1-5])(?:\s*(?:/|af|av|of|ud af|out of)\s*5)?$")
_EXPECTS: dict[str, Any] = {"text": "text", "choice": "buttons", "multi": "multi",
                            "scale": "scale", "date": "date"}


class DialogueError(Exception):
    """Base class of the engine's named errors."""


class UnknownConversationError(DialogueError):
    """Stored state names a conversation that no longer exists."""


class UnknownNodeError(DialogueError):
    """Stored state names a node that no longer exists (the YAML changed)."""

    def __init__(self, conversation: str, node: str) -> None:
        """Remember which conversation and node were missing."""
        super().__init__(f"conversation {conversation!r} has no node {node!r}")
        self.conversation = conversation
        self.node = node


class Registry:
    """All loaded conversation definitions, by id."""

    def __init__(self, definitions: dict[str, Definition]) -> None:
        """Wrap validated definitions."""
        self.definitions = definitions

    def get(self, conversation: str) -> Definition:
        """A definition by id, or UnknownConversationError."""
        try:
            return self.definitions[conversation]
        except KeyError:
            raise UnknownConversationError(conversation) from None

    def menu(self) -> list[Definition]:
        """Conversations a leader can start from the menu, in file order."""
        return [d for d in self.definitions.values() if d.menu]


def callback_data(thread: str, step: int, node: str, value: str) -> str:
    """Button data: a thread token and step make old or foreign buttons detectable."""
    return f"{thread[:6]}:{step}:{node}:{value}"


def parse_callback(data: str) -> tuple[str, int, str, str] | None:
    """Split button data into its parts, or None when it is not ours."""
    parts = data.split(":", 3)
    step = small_int(parts[1]) if len(parts) == 4 else None
    if step is None:
        return None
    return parts[0], step, parts[2], parts[3]


class Engine:
    """Steps conversations; every method is a pure function of its arguments."""

    def __init__(self, registry: Registry, renderer: Renderer, strings: Strings,
                 dates: DateWords) -> None:
        """Hold the definitions, the wording machinery and the words for relative dates."""
        self.registry = registry
        self.renderer = renderer
        self.strings = strings
        self.dates = dates
        self._conditions: dict[str, Any] = {}
        self._env: Environment = renderer.env

    # ---- public API -------------------------------------------------------------------

    def start(
        self,
        conversation: str,
        thread: str,
        lang: str,
        today: date,
        context: dict[str, Any] | None = None,
    ) -> StepResult:
        """Begin a conversation and run until its first question."""
        definition = self.registry.get(conversation)
        state = DialogueState(
            conversation=conversation,
            version=definition.version,
            thread=thread,
            node=definition.start,
            context=dict(context or {}),
        )
        return self._advance(definition, state, lang, today, [], [], keys=[])

    def step(self, state: DialogueState, event: Input, lang: str, today: date) -> StepResult:
        """Apply one input to a state."""
        definition = self.registry.get(state.conversation)
        node = self._node(definition, state)
        if isinstance(event, Cancel):
            return StepResult(
                state=None,
                status="cancelled",
                messages=[OutMessage(text=self.strings("cancelled", lang), kind="info")],
                effects=[CancelledEffect(params={"thread": state.thread})],
            )
        if isinstance(event, Back):
            return self._back(definition, state, lang, today)
        if isinstance(event, ButtonInput):
            return self._button(definition, state, node, event.data, lang, today)
        assert isinstance(event, TextInput)
        if event.step is not None and event.step != state.step:
            return self._reject(state, lang, "moved_on")
        return self._text(definition, state, node, event.text, lang, today)

    def prompt(self, state: DialogueState, lang: str, today: date) -> list[OutMessage]:
        """The current question again (after a restart or a /help in the middle)."""
        definition = self.registry.get(state.conversation)
        node = self._node(definition, state)
        return [self._ask(definition, state, node, lang, today)]

    # ---- inputs -----------------------------------------------------------------------

    def _node(self, definition: Definition, state: DialogueState) -> Node:
        """The node the state points at, or UnknownNodeError."""
        try:
            return definition.node(state.node)
        except KeyError:
            raise UnknownNodeError(state.conversation, state.node) from None

    def _reject(self, state: DialogueState, lang: str, key: str, **variables: Any) -> StepResult:
        """A clear reply that changes nothing."""
        text = self.strings(key, lang, **variables)
        return StepResult(state=state, status="rejected",
                          messages=[OutMessage(text=text, kind="error", key=key)])

    def _button(
        self,
        definition: Definition,
        state: DialogueState,
        node: Node,
        data: str,
        lang: str,
        today: date,
    ) -> StepResult:
        """Handle a pressed button, rejecting stale or forged ones."""
        parsed = parse_callback(data)
        if parsed is None:
            return self._reject(state, lang, "stale_button")
        token, step, node_id, value = parsed
        if token != state.thread[:6] or step != state.step or node_id != state.node:
            return self._reject(state, lang, "stale_button")
        if value == SKIP and getattr(node, "skippable", False):
            return self._accept(definition, state, node, None, lang, today, skipped=True)
        if isinstance(node, ChoiceNode):
            option = next((o for o in node.options if o.value == value), None)
            if option is None:
                return self._reject(state, lang, "stale_button")
            return self._accept(definition, state, node, option.value, lang, today,
                                next_id=option.next or node.next)
        if isinstance(node, MultiNode):
            return self._toggle(definition, state, node, value, lang, today)
        if isinstance(node, ScaleNode):
            if value not in {"1", "2", "3", "4", "5"}:
                return self._reject(state, lang, "stale_button")
            return self._accept(definition, state, node, int(value), lang, today)
        if isinstance(node, DateNode):
            days = small_int(value)
            if days is None or days not in node.quick_days:
                return self._reject(state, lang, "stale_button")
            chosen = today + timedelta(days=days)
            return self._accept(definition, state, node, chosen.isoformat(), lang, today)
        return self._reject(state, lang, "stale_button")

    def _toggle(
        self,
        definition: Definition,
        state: DialogueState,
        node: MultiNode,
        value: str,
        lang: str,
        today: date,
    ) -> StepResult:
        """Toggle one option of a multiple choice, or confirm it."""
        values = [o.value for o in node.options]
        if value == DONE:
            if len(state.pending) < node.min_selected:
                return self._reject(state, lang, "select_at_least", count=node.min_selected)
            chosen = [v for v in values if v in state.pending]
            return self._accept(definition, state, node, chosen, lang, today)
        if value not in values:
            return self._reject(state, lang, "stale_button")
        pending = [v for v in state.pending if v != value]
        if value not in state.pending:
            pending.append(value)
        new_state = state.model_copy(update={"pending": pending})
        message = self._ask(definition, new_state, node, lang, today)
        message.replace = True
        return StepResult(state=new_state, messages=[message])

    def _text(
        self,
        definition: Definition,
        state: DialogueState,
        node: Node,
        text: str,
        lang: str,
        today: date,
    ) -> StepResult:
        """Handle typed text: free-text answers, typed digits, dates, or a polite refusal."""
        cleaned = _without_controls(text).strip()
        if getattr(node, "skippable", False) and (
                normalised(cleaned) == normalised(self.strings("skip_button", lang))):
            # Typing the skip button's words ("spring over") skips, like pressing it.
            return self._accept(definition, state, node, None, lang, today, skipped=True)
        if isinstance(node, TextNode):
            if not _visible(cleaned):
                return self._reject(state, lang, "empty_text")
            if len(cleaned) > node.max_length:
                return self._reject(state, lang, "too_long", limit=node.max_length,
                                    length=len(cleaned))
            return self._accept(definition, state, node, cleaned, lang, today)
        if isinstance(node, ScaleNode):
            rating = _SCALE_ANSWER.match(normalised(cleaned))
            if rating:
                return self._accept(definition, state, node, int(rating[1]), lang, today)
            return self._reject(state, lang, "expects_scale_or_skip" if node.skippable
                                else "expects_scale")
        if isinstance(node, DateNode):
            found = parse_date(cleaned, today, self.dates)
            if found is None:
                return self._reject(state, lang, "not_a_date")
            if found < today:
                return self._reject(state, lang, "date_in_past")
            if found > today + timedelta(days=node.max_days):
                return self._reject(state, lang, "date_too_far", days=node.max_days)
            return self._accept(definition, state, node, found.isoformat(), lang, today)
        if isinstance(node, ChoiceNode):
            option = _typed_option(node, cleaned, lang)
            if option is not None:  # "ja" typed instead of pressing "Ja" means the same
                return self._accept(definition, state, node, option.value, lang, today,
                                    next_id=option.next or node.next)
        return self._reject(state, lang, "expects_button")

    def _back(
        self, definition: Definition, state: DialogueState, lang: str, today: date
    ) -> StepResult:
        """Return to the previous question, forgetting what was answered since."""
        if not state.trail:
            return self._reject(state, lang, "nothing_to_go_back")
        entry = state.trail[-1]
        answers = {k: v for k, v in state.answers.items() if k not in entry.keys}
        answers.update(entry.restore)
        new_state = state.model_copy(update={
            "node": entry.node,
            "answers": answers,
            "trail": state.trail[:-1],
            "step": state.step + 1,
            "pending": [],
        })
        node = self._node(definition, new_state)
        if isinstance(node, MultiNode):
            previous = state.answers.get(node.store)
            if isinstance(previous, list):
                new_state = new_state.model_copy(update={"pending": list(previous)})
        return StepResult(state=new_state,
                          messages=[self._ask(definition, new_state, node, lang, today)])

    def _accept(
        self,
        definition: Definition,
        state: DialogueState,
        node: Node,
        value: Any,
        lang: str,
        today: date,
        next_id: str | None = None,
        skipped: bool = False,
    ) -> StepResult:
        """Store an answer and move on to the next question."""
        store = getattr(node, "store", None)
        answers = dict(state.answers)
        keys: list[str] = []
        restore: dict[str, Any] = {}
        effects: list[Effect] = []
        if store:
            if store in answers:  # asked again (a loop): /back brings the earlier answer back
                restore[store] = answers[store]
            answers[store] = value
            keys.append(store)
            effects.append(AnswerEffect(params={
                "thread": state.thread, "conversation": state.conversation,
                "node": state.node, "name": store, "value": value, "skipped": skipped,
            }))
        target = next_id if next_id is not None else node.next
        if target is None:
            raise UnknownNodeError(state.conversation, f"{state.node}.next")
        new_state = state.model_copy(update={
            "answers": answers,
            "step": state.step + 1,
            "pending": [],
            "trail": [*state.trail, TrailEntry(node=state.node, keys=[])],
            "node": target,
        })
        return self._advance(definition, new_state, lang, today, [], effects, keys, restore)

    # ---- moving through non-input nodes -------------------------------------------------

    def _advance(
        self,
        definition: Definition,
        state: DialogueState,
        lang: str,
        today: date,
        messages: list[OutMessage],
        effects: list[Effect],
        keys: list[str],
        restore: dict[str, Any] | None = None,
    ) -> StepResult:
        """Run message, branch, summary and effect nodes until a question or the end."""
        restore = {} if restore is None else restore
        for _ in range(MAX_AUTO_STEPS):
            node = self._node(definition, state)
            variables = self._variables(state, lang, today)
            if isinstance(node, MessageNode):
                text = self.renderer.string(pick(node.text, lang), variables)
                messages.append(OutMessage(text=text, kind="info", node=state.node))
                state = state.model_copy(update={"node": self._require_next(state, node)})
            elif isinstance(node, BranchNode):
                target, sets = self._branch(node, variables)
                for key in sets:
                    if key in state.answers and key not in keys and key not in restore:
                        restore[key] = state.answers[key]
                answers = {**state.answers, **sets}
                keys.extend(sets)
                state = state.model_copy(update={"answers": answers, "node": target})
            elif isinstance(node, SummaryNode):
                text = self.renderer.template(node.template, lang, variables)
                headline = self._headline(state, node)
                messages.append(OutMessage(text=text, kind="summary", node=state.node))
                effects.append(SummaryEffect(params={
                    "thread": state.thread, "conversation": state.conversation,
                    "text": text, "headline": headline, "template": node.template,
                }))
                state = state.model_copy(update={"node": self._require_next(state, node)})
            elif isinstance(node, EffectNode):
                effects.append(self._effect(node, state, today))
                state = state.model_copy(update={"node": self._require_next(state, node)})
            elif isinstance(node, EndNode):
                if node.text:
                    text = self.renderer.string(pick(node.text, lang), variables)
                    messages.append(OutMessage(text=text, kind="info", node=state.node))
                effects.append(FinishedEffect(params={
                    "thread": state.thread, "conversation": state.conversation,
                    "answers": state.answers,
                }))
                if node.start_conversation:
                    effects.append(StartConversationEffect(params={
                        "conversation": node.start_conversation,
                        "parent_thread": state.thread,
                        "context": {**state.context, **state.answers},
                    }))
                return StepResult(state=None, messages=messages, effects=effects,
                                  status="finished")
            else:
                if state.trail and keys:
                    last = state.trail[-1]
                    trail = [*state.trail[:-1], TrailEntry(
                        node=last.node, keys=last.keys + keys,
                        restore={**restore, **last.restore})]
                    state = state.model_copy(update={"trail": trail})
                if isinstance(node, MultiNode) and node.store in state.answers:
                    state = state.model_copy(update={"pending": list(state.answers[node.store])})
                messages.append(self._ask(definition, state, node, lang, today))
                return StepResult(state=state, messages=messages, effects=effects)
        raise DialogueError(f"{definition.id}: more than {MAX_AUTO_STEPS} steps without a question")

    def _require_next(self, state: DialogueState, node: Node) -> str:
        """The node's next id; validation guarantees it for non-end nodes."""
        if node.next is None:
            raise UnknownNodeError(state.conversation, f"{state.node}.next")
        return node.next

    def _branch(self, node: BranchNode, variables: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Pick the first case whose condition holds."""
        for case in node.cases:
            try:
                holds = self._condition(case.when)(**variables)
            except Exception as exc:  # e.g. comparing an answer of the wrong type
                raise RenderError(f"condition {case.when!r}: {exc.__class__.__name__}") from exc
            if holds:
                return case.next, {**node.set, **case.set}
        return node.default, dict(node.set)

    def _condition(self, expression: str) -> Any:
        """Compile (once) a Jinja2 expression used as a branch condition."""
        compiled = self._conditions.get(expression)
        if compiled is None:
            compiled = self._env.compile_expression(expression)
            self._conditions[expression] = compiled
        return compiled

    def _headline(self, state: DialogueState, node: SummaryNode) -> str:
        """A one-line summary in the leader's own words."""
        raw = state.answers.get(node.headline or "", "") if node.headline else ""
        line = " ".join(str(raw or "").split())
        return line if len(line) <= HEADLINE_LENGTH else line[: HEADLINE_LENGTH - 1] + "…"

    def _effect(self, node: EffectNode, state: DialogueState, today: date) -> Effect:
        """Turn an effect node into an Effect with concrete dates."""
        if node.effect == "cancel_followups":
            return CancelFollowupsEffect(
                params={"thread": state.thread, "tag": node.tag})
        due: date | None = None
        if node.date_from:
            raw = state.answers.get(node.date_from)
            if isinstance(raw, str):
                due = date.fromisoformat(raw) + timedelta(days=node.offset_days)
        if due is None:
            due = today + timedelta(days=(node.days or 0) + node.offset_days)
        # The follow-up sees what this conversation was given and what the leader answered, so
        # a follow-up that reschedules itself still knows what it is about.
        merged = {**state.context, **state.answers}
        context = {k: v for k, v in merged.items() if isinstance(v, str | int | list)}
        return ScheduleFollowupEffect(params={
            "thread": state.thread,
            "from_conversation": state.conversation,
            "conversation": node.conversation,
            "date": due.isoformat(),
            "tag": node.tag or node.conversation,
            "context": context,
        })

    # ---- drawing questions ------------------------------------------------------------

    def _variables(self, state: DialogueState, lang: str, today: date) -> dict[str, Any]:
        """What prompts, conditions and templates may refer to."""
        return {"answers": state.answers, "context": state.context, "lang": lang,
                "today": today.isoformat()}

    def _ask(
        self, definition: Definition, state: DialogueState, node: Node, lang: str, today: date
    ) -> OutMessage:
        """Draw the question at a node with its buttons."""
        variables = self._variables(state, lang, today)
        prompt = self.renderer.string(pick(getattr(node, "prompt", {}), lang), variables)

        def button(label: str, value: str) -> Button:
            return Button(label=label, data=callback_data(state.thread, state.step, state.node,
                                                          value))

        rows: list[list[Button]] = []
        if isinstance(node, ChoiceNode):
            rows = [[button(pick(o.label, lang), o.value)] for o in node.options]
        elif isinstance(node, MultiNode):
            for option in node.options:
                mark = "☑" if option.value in state.pending else "☐"
                rows.append([button(f"{mark} {pick(option.label, lang)}", option.value)])
            rows.append([button(self.strings("done_button", lang), DONE)])
        elif isinstance(node, ScaleNode):
            rows = [[button(str(i), str(i)) for i in range(1, 6)]]
            low = self.renderer.string(pick(node.low, lang), variables)
            high = self.renderer.string(pick(node.high, lang), variables)
            prompt = f"{prompt}\n(1 = {low}, 5 = {high})"
        elif isinstance(node, DateNode):
            for days in node.quick_days:
                label = node.quick_labels.get(str(days))
                text = (pick(label, lang) if label else
                        self.strings("in_days", lang, days=days))
                rows.append([button(text, str(days))])
            prompt = f"{prompt}\n{self.strings('date_hint', lang)}"
        if getattr(node, "skippable", False):
            rows.append([button(self.strings("skip_button", lang), SKIP)])
        return OutMessage(text=prompt, kind="prompt", buttons=rows, node=state.node,
                          expects=_EXPECTS.get(node.kind), step=state.step)


def _without_controls(text: str) -> str:
    """Typed text without control characters (a null byte, an escape), keeping line breaks
    and tabs; a lone carriage return goes too, so Windows line ends become plain ones."""
    return "".join(ch for ch in text
                   if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def _visible(text: str) -> bool:
    """Whether text shows anything: not only spaces and invisible format characters such as a
    zero-width space (which stay inside an answer: they join emoji like 👩‍💻)."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def _typed_option(node: ChoiceNode, text: str, lang: str) -> Option | None:
    """The one option a typed answer names: its whole label, else the label's first words."""
    typed = normalised(text)
    if not typed:
        return None
    whole = [o for o in node.options if normalised(pick(o.label, lang)) == typed]
    if len(whole) == 1:
        return whole[0]
    # "nej" for "Nej, ikke endnu" or "Nej / ved ikke": the words before the first aside.
    heads = [o for o in node.options
             if normalised(_LABEL_ASIDE.split(pick(o.label, lang), maxsplit=1)[0]) == typed]
    return heads[0] if len(heads) == 1 else None

