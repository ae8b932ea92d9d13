"""/history: pagination, opening a conversation, follow-ups, and forged buttons."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from bot.clock import iso
from bot.dialogue.state import ButtonInput
from bot.features import history
from bot.store import repo
from tests.history_helpers import ALICE, BOB, NOW, buttons, make_core, press, seed_thread


def thread_id(n: int, owner: str = "a") -> str:
    """A thread id shaped like the service's (32 hex characters)."""
    return f"{owner}{n:031x}"


async def seed_23(core) -> None:  # type: ignore[no-untyped-def]
    """23 finished conversations for Alice (one a day), and some of Bob's."""
    async with core.store.transaction() as tx:
        for n in range(1, 24):
            await seed_thread(tx, ALICE.leader_id, thread_id(n), "delegation",
                              NOW - timedelta(days=30 - n), headline=f"Opgave nummer {n}",
                              summary=f"DIT TJEK\nOpgave nummer {n}\nAnbefaling {n * 7}")
        await seed_thread(tx, ALICE.leader_id, thread_id(99), "delegation", NOW,
                          headline="Stadig i gang", status="active")
        await seed_thread(tx, ALICE.leader_id, thread_id(98), "delegation", NOW,
                          headline="Afbrudt", status="cancelled")
        for n in range(1, 4):
            await seed_thread(tx, BOB.leader_id, thread_id(n, "b"), "delegation", NOW,
                              headline=f"Bobs hemmelighed {n}", summary=f"Bobs resumé {n}")


async def test_pagination_with_23_conversations(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_23(core)
    out = await core.service.handle_command(ALICE, "history")
    seen: list[int] = []
    pages = 0
    while True:
        pages += 1
        page = out[0]
        assert f"side {pages} af 5" in page.text and "23 i alt" in page.text
        numbers = [int(n) for n in re.findall(r"Opgave nummer (\d+)", page.text)]
        opens = [data for _, data in buttons(out) if data.startswith("hi:t:")]
        assert len(numbers) == len(opens) == (5 if pages < 5 else 3)
        assert all(len(data.encode()) <= 64 for _, data in buttons(out))
        assert "Stadig i gang" not in page.text and "Afbrudt" not in page.text
        assert "Bob" not in page.text
        seen.extend(numbers)
        labels = [label for label, _ in buttons(out)]
        assert ("‹ Nyere" in labels) == (pages > 1)
        if "Ældre ›" not in labels:
            break
        out = await core.service.handle_input(ALICE, press(out, "Ældre ›"))
    assert pages == 5
    assert seen == list(range(23, 0, -1))  # newest first, each exactly once
    out = await core.service.handle_input(ALICE, press(out, "‹ Nyere"))
    assert "side 4 af 5" in out[0].text
    await core.close()


async def test_opened_summary_matches_what_was_stored(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_23(core)
    out = await core.service.handle_command(ALICE, "history")
    out = await core.service.handle_input(ALICE, press(out, "Ældre ›"))  # page 2: 18..14
    opened = await core.service.handle_input(ALICE, press(out, "8. "))
    async with core.store.transaction() as tx:
        stored = await repo.get_thread(tx, ALICE.leader_id, thread_id(16))
    assert stored is not None and stored.summary is not None
    assert opened[0].kind == "summary"
    assert opened[0].text.endswith(stored.summary)
    assert opened[0].text.startswith("Før du uddelegerer · ")
    back = await core.service.handle_input(ALICE, press(opened, "‹ Tilbage"))
    assert "side 2 af 5" in back[0].text
    await core.close()


async def test_forged_button_cannot_open_another_leaders_thread(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_23(core)
    bobs = await core.service.handle_command(BOB, "history")
    bob_button = next(d for _, d in buttons(bobs) if d.startswith("hi:t:"))
    for data in (bob_button, f"hi:t:0:{thread_id(1, 'b')}", f"hi:t:0:{thread_id(99)}"):
        out = await core.service.handle_input(ALICE, ButtonInput(data=data))
        assert out[0].kind == "error"
        assert "Bob" not in out[0].text and "Stadig" not in out[0].text
    for data in ("hi:x", "hi:t:abc", "hi:p:-1", "hi:", "hi:t:0:"):
        out = await core.service.handle_input(ALICE, ButtonInput(data=data))
        assert out[0].kind == "error", data
    await core.close()


async def test_empty_history_and_followups_in_local_time(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    out = await core.service.handle_command(ALICE, "history")
    assert out[0].text == core.service.ui("history_empty", "da")
    async with core.store.transaction() as tx:
        await seed_thread(tx, ALICE.leader_id, thread_id(1), "delegation", NOW,
                          headline="Vagtplanen", summary="Resumé")
        # 23:30 UTC on 6 December is already 7 December in Copenhagen.
        await repo.add_schedule(tx, ALICE.leader_id, "followup", "2026-12-06T23:30:00+00:00",
                                iso(NOW), conversation="delegation_followup",
                                thread=thread_id(1))
        await repo.add_schedule(tx, ALICE.leader_id, "nudge", "2026-11-30T07:30:00+00:00",
                                iso(NOW), conversation="reflection")
    out = await core.service.handle_command(ALICE, "history")
    assert "Planlagte opfølgninger:" in out[0].text
    assert "7. dec. 2026" in out[0].text and "“Vagtplanen”" in out[0].text
    assert "30. nov." not in out[0].text  # a weekly nudge is not a follow-up
    await core.close()


def test_button_data_limit() -> None:
    assert len(history._data("t", 999, "x" * 32).encode()) <= 64
    try:
        history._data("t", 1, "x" * 80)
    except ValueError:
        pass
    else:
        raise AssertionError("over-long button data must be refused")
