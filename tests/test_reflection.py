"""Weekly reflection: the per-leader rotation never repeats a prompt before the cycle is through."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.dialogue.loader import DialogueValidationError
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.features import reflection
from bot.service import BotService, Who
from bot.store import repo
from bot.store.db import Store
from tests.conftest import ROOT
from tests.test_store import NOW

PROMPTS = reflection.load_prompts(ROOT / "dialogues" / reflection.PROMPTS_FILE,
                                  ("da", "nb", "en"))
ORDER = [p.id for p in PROMPTS]
WEEKS = 60


def assert_cycles(sequence: list[str], order: list[str]) -> None:
    """Every full cycle holds each prompt once; the last, partial one holds no repeats."""
    n = len(order)
    for start in range(0, len(sequence), n):
        cycle = sequence[start:start + n]
        assert len(cycle) == len(set(cycle)), (start, cycle)
        if len(cycle) == n:
            assert set(cycle) == set(order)


def test_prompts_interleave_levers_compass_and_misunderstandings() -> None:
    kinds = [p.kind for p in PROMPTS]
    assert kinds.count("lever") == 9 and kinds.count("compass") == 4
    assert kinds.count("misunderstanding") == 5
    # Vallentin's four kinds of trust, the gift economy, the paradoxes, cultivate or activate.
    assert kinds.count("perspective") == 4
    levers = [p for p in PROMPTS if p.kind == "lever"]
    assert [p.source.split(" – ")[0] for p in levers] == [
        f"004 Vigtige spørgsmål {i}" for i in range(1, 10)]
    # Interleaved: never two compass areas or two misunderstandings in a row.
    for first, second in zip(kinds, kinds[1:], strict=False):
        assert not (first == second and first != "lever"), kinds


def test_next_prompt_over_a_year_is_a_permutation_per_cycle() -> None:
    shown: list[str] = []
    for _ in range(WEEKS):
        shown.append(reflection.next_prompt(ORDER, shown))
    assert shown[:len(ORDER)] == ORDER
    assert_cycles(shown, ORDER)


def test_next_prompt_survives_prompts_added_and_retired_mid_cycle() -> None:
    order = ["a", "b", "c", "d"]
    shown = ["a", "b"]
    bigger = ["a", "b", "x", "c", "d"]  # "x" added after "a" and "b" were shown
    for _ in range(4):
        shown.append(reflection.next_prompt(bigger, shown))
    assert shown[2:] == ["x", "c", "d", "a"]
    # "b" retired: its history is ignored and the cycle completes without it.
    assert reflection.next_prompt(["a", "c", "d"], ["a", "b", "c", "d"]) == "a"
    with pytest.raises(ValueError):
        reflection.next_prompt([], [])
    assert reflection.next_prompt(order, ["zzz"]) == "a"


def test_prompts_file_rejects_missing_translations(tmp_path: Path) -> None:
    path = tmp_path / "_reflection_prompts.yaml"
    path.write_text("prompts:\n  - id: a\n    kind: lever\n    source: 004 x\n"
                    "    title: {da: T}\n    question: {da: Q}\n    rating: {da: R}\n",
                    encoding="utf-8")
    assert reflection.load_prompts(path, ("da",))[0].id == "a"
    with pytest.raises(DialogueValidationError) as caught:
        reflection.load_prompts(path, ("da", "nb"))
    assert any("'nb'" in problem for problem in caught.value.problems)


def _button(messages: list[OutMessage], value: str) -> ButtonInput:
    """The button with this callback value in the last message with buttons."""
    for message in reversed(messages):
        for row in message.buttons:
            for button in row:
                if button.data.rsplit(":", 1)[-1] == value:
                    return ButtonInput(data=button.data)
    raise AssertionError(f"no button {value!r}")


async def _current_prompt(service: BotService, who: Who) -> str:
    """The prompt id the leader's open reflection was started with."""
    async with service.store.transaction() as tx:
        raw = await repo.load_session(tx, who.leader_id)
    assert raw is not None
    state = json.loads(raw)
    assert state["conversation"] == "reflection"
    return str(state["context"]["prompt_id"])


async def test_a_year_of_weekly_reflections_per_leader(tmp_path: Path,
                                                      real_dialogues: Dialogues) -> None:
    store = await Store.open(tmp_path / "bot.db")
    clock = ManualClock(NOW)
    service = BotService(store, real_dialogues, clock)
    reflection.register(service, PROMPTS)
    anna = Who(leader_id="tg:1", chat_id="1", language_code="da")
    bo = Who(leader_id="tg:2", chat_id="2", language_code="nb")
    seen: dict[str, list[str]] = {anna.leader_id: [], bo.leader_id: []}
    for week in range(WEEKS):
        # Anna reflects every week (started as the nudge would); Bo joins in week 7, answers
        # now and then, skips, cancels or simply ignores it.
        out = await service.start_conversation(anna, "reflection")
        seen[anna.leader_id].append(await _current_prompt(service, anna))
        assert out[-1].kind == "prompt"
        out = await service.handle_input(anna, TextInput(text=f"Uge {week}: jeg gav mere plads"))
        out = await service.handle_input(anna, _button(out, str(week % 5 + 1)))
        assert any(m.kind == "summary" and f"Uge {week}: jeg gav mere plads" in m.text
                   for m in out)
        if week >= 7:
            out = await service.start_conversation(bo, "reflection")
            seen[bo.leader_id].append(await _current_prompt(service, bo))
            if week % 3 == 0:
                out = await service.handle_input(bo, _button(out, "!skip"))
                out = await service.handle_input(bo, _button(out, "!skip"))
                assert any(m.kind == "summary" for m in out)
            elif week % 3 == 1:
                await service.handle_command(bo, "cancel")
        clock.advance(timedelta(days=7))
    await store.close()
    assert seen[anna.leader_id][:len(ORDER)] == ORDER
    assert_cycles(seen[anna.leader_id], ORDER)
    # Bo's rotation is his own: he starts at the beginning although Anna is far ahead.
    assert seen[bo.leader_id][:len(ORDER)] == ORDER
    assert_cycles(seen[bo.leader_id], ORDER)
    assert len(seen[anna.leader_id]) == WEEKS and len(seen[bo.leader_id]) == WEEKS - 7


async def test_reflect_command_in_each_language_shows_the_prompt(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    store = await Store.open(tmp_path / "bot.db")
    service = BotService(store, real_dialogues, ManualClock(NOW))
    reflection.register(service, PROMPTS)
    for index, lang in enumerate(real_dialogues.languages):
        who = Who(leader_id=f"tg:{index}", chat_id=str(index), language_code=lang)
        out = await service.handle_command(who, "reflect")
        assert PROMPTS[0].question[lang].split("?")[0] in out[-1].text
    await store.close()
