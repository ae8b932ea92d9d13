"""/export: a Markdown and a JSON document with everything about one leader, nobody else."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import iso
from bot.dialogue.state import TextInput
from bot.features import export
from bot.store import repo
from tests.history_helpers import ALICE, BOB, NOW, make_core, seed_thread

SAMPLE = Path("/tmp/tillidsbot-export-sample.md")

ALICE_ANSWERS = {
    "task": "Vagtplanen til HR-teamet (KL)",
    "purpose": "Mere tid hos borgerne – æøå ÆØÅ “citat”",
    "competence": "partly",
    "risk": 3,
    "levers": ["frame", "trust"],
}
BOB_SECRET = "Bobs fortrolige svar om BJ"


async def seed_two_leaders(core) -> None:  # type: ignore[no-untyped-def]
    """Alice with two conversations, a schedule, a setting and an open one; Bob with his own."""
    async with core.store.transaction() as tx:
        await seed_thread(tx, ALICE.leader_id, "alice-1", "delegation", NOW - timedelta(days=9),
                          headline="Vagtplanen til HR-teamet", summary="DIT TJEK\nGå videre.",
                          answers=ALICE_ANSWERS)
        await seed_thread(tx, ALICE.leader_id, "alice-2", "reflection", NOW - timedelta(days=2),
                          headline="Plads til teamet", summary="Ugens refleksion",
                          answers={"reflection": "Jeg holdt igen", "rating": 4})
        leader = await repo.get_leader(tx, ALICE.leader_id)
        assert leader is not None
        leader.settings = {"nudge_day": "monday", "nudge_time": "08:30"}
        await repo.update_leader(tx, leader, iso(NOW))
        await repo.add_schedule(tx, ALICE.leader_id, "followup", iso(NOW + timedelta(days=14)),
                                iso(NOW), conversation="delegation_followup", thread="alice-1",
                                payload={"context": {"task": "Vagtplanen til HR-teamet"}})
        await seed_thread(tx, BOB.leader_id, "bob-1", "delegation", NOW,
                          headline="Bobs opgave", summary="Bobs resumé",
                          answers={"task": BOB_SECRET})
        await repo.add_schedule(tx, BOB.leader_id, "nudge", iso(NOW), iso(NOW))
    await core.service.handle_command(ALICE, "delegate")  # an answer in an open conversation
    await core.service.handle_input(ALICE, TextInput(text="Indkøb af nye skraldespande"))


async def test_export_round_trip_has_every_answer_and_nothing_of_bob(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_two_leaders(core)
    out = await core.service.handle_command(ALICE, "export")
    md, js = out[0].attachments
    assert (md.kind, js.kind) == ("document", "document")
    assert md.filename.endswith(".md") and js.filename.endswith(".json")
    document = json.loads(js.data)
    assert document["format_version"] == export.FORMAT_VERSION == 1
    async with core.store.transaction() as tx:
        stored = await repo.answers_of(tx, ALICE.leader_id)
    exported = [(a["thread"], a["name"], a["value"], a["at"]) for a in document["answers"]]
    assert exported == [(a["thread"], a["name"], a["value"], a["at"]) for a in stored]
    assert len(exported) == len(ALICE_ANSWERS) + 3  # plus reflection, rating and the open one
    assert document["leader"]["settings"] == {"nudge_day": "monday", "nudge_time": "08:30"}
    assert {c["thread"] for c in document["conversations"]} >= {"alice-1", "alice-2"}
    assert document["schedules"][0]["payload"]["context"]["task"] == "Vagtplanen til HR-teamet"
    assert document["active_conversation"]["conversation"] == "delegation"
    for text in (js.data.decode(), md.data.decode()):
        for secret in (BOB.leader_id, BOB_SECRET, "bob-1", "Bobs"):
            assert secret not in text
    markdown = md.data.decode()
    for value in ("Vagtplanen til HR-teamet (KL)", "Mere tid hos borgerne – æøå ÆØÅ “citat”",
                  "frame, trust", "Indkøb af nye skraldespande", "DIT TJEK\nGå videre.",
                  "nudge_time"):
        assert value in markdown
    await asyncio.to_thread(SAMPLE.write_bytes, md.data)  # a stable sample for the issue note
    await core.close()


async def test_tables_added_later_are_exported_too(tmp_path: Path) -> None:
    core = await make_core(tmp_path)
    await seed_two_leaders(core)
    async with core.store.transaction() as tx:
        await tx.execute("CREATE TABLE leader_invites (code TEXT PRIMARY KEY, "
                         "created_by_leader TEXT, note TEXT)")
        await tx.execute("INSERT INTO leader_invites VALUES ('A1', ?, 'alice invite'), "
                         "('B1', ?, 'bob invite')", (ALICE.leader_id, BOB.leader_id))
    out = await core.service.handle_command(ALICE, "export")
    document = json.loads(out[0].attachments[1].data)
    assert document["other_tables"]["leader_invites"] == [
        {"code": "A1", "created_by_leader": ALICE.leader_id, "note": "alice invite"}]
    assert "alice invite" in out[0].attachments[0].data.decode()
    await core.close()


@pytest.mark.parametrize(("lang", "heading"), [
    ("da", "# Dine data i Tillidsbot"), ("nb", "# Dataene dine i Tillidsbot"),
    ("en", "# Your data in Tillidsbot")])
async def test_markdown_in_every_language(tmp_path: Path, lang: str, heading: str) -> None:
    core = await make_core(tmp_path)
    await seed_two_leaders(core)
    async with core.store.transaction() as tx:
        leader = await repo.get_leader(tx, ALICE.leader_id)
        assert leader is not None
        leader.language = lang
        await repo.update_leader(tx, leader, iso(NOW))
    out = await core.service.handle_command(ALICE, "export")
    markdown = out[0].attachments[0].data.decode()
    assert markdown.startswith(heading)
    assert "Vagtplanen til HR-teamet (KL)" in markdown
    await core.close()


def test_docs_describe_the_current_format() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "export-format.md").read_text()
    assert f'"format_version": {export.FORMAT_VERSION}' in docs
    for key in ("exported_at", "leader", "active_conversation", "conversations", "answers",
                "schedules", "other_tables"):
        assert f"`{key}`" in docs


async def test_export_files_are_named_by_the_leaders_own_date(tmp_path: Path) -> None:
    """Just after midnight in Copenhagen (still the 23rd in UTC) the files say the 24th."""
    from datetime import UTC, datetime

    from bot.clock import ManualClock

    core = await make_core(tmp_path, ManualClock(datetime(2026, 11, 23, 23, 30, tzinfo=UTC)))
    await core.service.handle_command(ALICE, "history")  # first contact: a leader row
    out = await core.service.handle_command(ALICE, "export")
    names = sorted(a.filename for a in out[0].attachments)
    assert names == ["tillidsbot-export-2026-11-24.json", "tillidsbot-export-2026-11-24.md"]
    await core.close()
