"""Trust repair: bad intent ends in resolute action, otherwise a guide and two follow-ups."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.dialogue.state import ButtonInput, OutMessage, TextInput
from bot.service import BotService, Who
from bot.store import repo
from bot.store.db import Store
from tests.conftest import TODAY
from tests.driver import EngineDriver
from tests.explorer import walk
from tests.test_store import NOW

WHO = Who(leader_id="tg:7", chat_id="7", language_code="da")


def _through_intent(driver: EngineDriver, intent: str) -> None:
    """Answer the questions up to and including the bad-intent question."""
    driver.text("TB rettede i dokumentationen uden at sige det")
    driver.press("person")
    driver.press("breach")
    driver.press(intent)


@pytest.mark.parametrize("lang", ["da", "nb", "en"])
def test_bad_intent_ends_in_resolute_guidance_without_followups(
        real_dialogues: Dialogues, lang: str) -> None:
    if lang not in real_dialogues.languages:
        pytest.skip(f"{lang} not switched on yet")
    driver = EngineDriver(real_dialogues, "repair", TODAY, lang=lang)
    _through_intent(driver, "yes")
    assert driver.result.status == "finished"
    assert not [e for e in driver.effects if e.kind == "schedule_followup"]
    assert not [e for e in driver.effects if e.kind == "start_conversation"]
    summary = next(m for m in driver.messages if m.kind == "summary")
    assert "TB rettede i dokumentationen uden at sige det" in summary.text
    # The last word is the resolute-action guidance, not a repair guide.
    last = driver.messages[-1].text.lower()
    assert any(word in last for word in ("resolut", "resolutt", "resolute"))
    assert not any(m.kind == "prompt" for m in driver.result.messages)


def test_no_path_with_bad_intent_schedules_anything(real_dialogues: Dialogues) -> None:
    bad = 0
    for lang in real_dialogues.languages:
        for path in walk(real_dialogues, "repair", lang, TODAY):
            scheduled = [e for e in path.effects if e.kind == "schedule_followup"]
            if "intent=yes" in path.inputs:
                bad += 1
                assert scheduled == [], path.inputs
            else:
                assert sorted(e.params["tag"] for e in scheduled) == ["repair_level",
                                                                      "repair_talk"]
    # Who (person, team, across the organisation) x severity (scratch, breach) in every language.
    assert bad == 6 * len(real_dialogues.languages)


def test_repair_guide_quotes_the_leader_and_schedules_two_followups(
        real_dialogues: Dialogues) -> None:
    driver = EngineDriver(real_dialogues, "repair", TODAY)
    _through_intent(driver, "no")
    driver.press("frames")
    driver.text("Der var ikke afsat tid til opgaven")
    driver.text("Jeg gav opgaven videre en fredag eftermiddag uden at spørge til tiden")
    driver.press("worn")
    driver.text("Et kort tjek hver mandag i en måned")
    driver.press("3")
    assert driver.result.status == "finished"
    guide = next(m for m in driver.messages if m.kind == "summary").text
    for quoted in ("TB rettede i dokumentationen uden at sige det",
                   "Jeg gav opgaven videre en fredag eftermiddag uden at spørge til tiden",
                   "Et kort tjek hver mandag i en måned",
                   "Hvad skete der på din side af bordet?"):
        assert quoted in guide
    assert "negativ spiral" in guide
    talk = TODAY + timedelta(days=3)
    scheduled = {e.params["tag"]: e.params for e in driver.effects
                 if e.kind == "schedule_followup"}
    assert scheduled["repair_talk"]["conversation"] == "repair_followup"
    assert scheduled["repair_talk"]["date"] == (talk + timedelta(days=1)).isoformat()
    assert scheduled["repair_level"]["conversation"] == "repair_level"
    assert scheduled["repair_level"]["date"] == (talk + timedelta(days=14)).isoformat()
    assert scheduled["repair_talk"]["context"]["what"].startswith("TB rettede")


def test_rescheduled_talk_keeps_what_it_is_about(real_dialogues: Dialogues) -> None:
    context = {"what": "Aftalen om vagtbytte blev ikke holdt"}
    driver = EngineDriver(real_dialogues, "repair_followup", TODAY, context=context)
    assert "Aftalen om vagtbytte blev ikke holdt" in driver.prompt.text
    driver.press("not_held")
    driver.press("7")
    (effect,) = [e for e in driver.effects if e.kind == "schedule_followup"]
    assert effect.params["tag"] == "repair_talk"
    assert effect.params["date"] == (TODAY + timedelta(days=8)).isoformat()
    assert effect.params["context"]["what"] == context["what"]


def _press(messages: list[OutMessage], value: str) -> ButtonInput:
    """The button whose callback value is `value` in the last message with buttons."""
    for message in reversed(messages):
        for row in message.buttons:
            for button in row:
                if button.data.rsplit(":", 1)[-1] == value:
                    return ButtonInput(data=button.data)
    raise AssertionError(f"no button {value!r}")


async def test_broken_trust_at_checkin_leads_straight_into_repair(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    store = await Store.open(tmp_path / "bot.db")
    service = BotService(store, real_dialogues, ManualClock(NOW))
    out = await service.start_conversation(WHO, "delegation_followup",
                                           {"task": "Vagtplanen til teamet"})
    out = await service.handle_input(WHO, _press(out, "broken"))
    assert out[-1].kind == "prompt" and "Vagtplanen til teamet" in out[-1].text
    async with store.transaction() as tx:
        threads = await repo.threads_of(tx, WHO.leader_id, status=None, limit=10)
        session = await repo.load_session(tx, WHO.leader_id)
    assert session is not None and '"conversation":"repair"' in session.replace(" ", "")
    repair = next(t for t in threads if t.conversation == "repair")
    assert repair.parent_thread is not None
    out = await service.handle_input(WHO, TextInput(text="Planen blev ikke lavet"))
    assert out[-1].kind == "prompt"
    await store.close()


async def test_telegram_language_codes_pick_the_wording(tmp_path: Path,
                                                        real_dialogues: Dialogues) -> None:
    store = await Store.open(tmp_path / "bot.db")
    service = BotService(store, real_dialogues, ManualClock(NOW))
    expected = {"da": "Velkommen", "nb": "refleksjonspartner", "no": "refleksjonspartner",
                "nn": "refleksjonspartner", "nb-NO": "refleksjonspartner", "en": "Welcome",
                "en-GB": "Welcome", "de": "Velkommen", None: "Velkommen"}
    for index, (code, word) in enumerate(expected.items()):
        who = Who(leader_id=f"tg:{100 + index}", chat_id=str(index), language_code=code)
        out = await service.handle_command(who, "start")
        assert word in out[0].text, (code, out[0].text)
    await store.close()


async def test_bad_intent_through_the_service_stores_no_schedules(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    store = await Store.open(tmp_path / "bot.db")
    service = BotService(store, real_dialogues, ManualClock(NOW))
    out = await service.handle_command(WHO, "repair")
    out = await service.handle_input(WHO, TextInput(text="Registrerede besøg, der ikke fandt sted"))
    for value in ("team", "breach", "yes"):
        out = await service.handle_input(WHO, _press(out, value))
    assert any("resolut" in m.text for m in out)
    async with store.transaction() as tx:
        assert await repo.pending_schedules(tx, WHO.leader_id) == []
        (thread,) = await repo.threads_of(tx, WHO.leader_id)
        assert await repo.load_session(tx, WHO.leader_id) is None
    assert thread.status == "finished" and thread.summary is not None
    assert "Registrerede besøg, der ikke fandt sted" in thread.summary
    await store.close()
