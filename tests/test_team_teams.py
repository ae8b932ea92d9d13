"""The pure parts of team check-ins on Teams (bot/team/teams.py) and the bot-kept admins
(bot/store/team_admins.py) against a real SQLite file; the flows are in
tests/test_teams_group_e2e.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dialogue.state import Attachment, Button, OutMessage
from bot.store import team_admins as admins
from bot.store.db import Store
from bot.team.chart import trust_chart
from bot.team.teams import Addresses, execute_card, group_card, group_id, group_render

AAD = "5e1d0c0b-0001-4000-8000-00000000c001"


def test_an_address_seals_the_aad_id_and_opens_only_with_the_key() -> None:
    addresses = Addresses(b"k" * 64)
    sealed = addresses.seal(AAD)
    assert AAD not in sealed and AAD.upper() not in sealed
    assert addresses.seal(AAD.upper()) == sealed, "the same member must hash the same"
    assert addresses.open(sealed) == AAD
    assert addresses.seal("5e1d0c0b-0002-4000-8000-00000000c002") != sealed
    with pytest.raises(LookupError):
        Addresses(b"x" * 64).open(sealed)  # another deployment's salt
    for junk in ("", "m.", "m.!!!", AAD, "m." + "A" * 40):
        with pytest.raises(LookupError):
            addresses.open(junk)


def test_a_channel_thread_is_its_channel() -> None:
    assert group_id("19:abc@thread.tacv2;messageid=1700000000001") == "19:abc@thread.tacv2"
    assert group_id("19:abc@thread.v2") == "19:abc@thread.v2"


def test_group_cards_press_with_action_execute() -> None:
    message = OutMessage(text="Puls #1", buttons=[[Button(label="1", data="tp:1:t:1")]])
    [drawn] = group_render(message)
    content = drawn["attachments"][0]["content"]
    [action] = content["body"][1]["actions"]
    assert action == {"type": "Action.Execute", "title": "1", "verb": "tb",
                      "data": {"tb": "tp:1:t:1"}}
    assert content["version"] == "1.5"
    closed = group_card(OutMessage(text="Puls #1 er lukket"))
    assert [e["type"] for e in closed["attachments"][0]["content"]["body"]] == ["TextBlock"]
    assert execute_card({"body": []}) == {"body": []}


def test_a_result_carries_its_chart_inline_with_the_text() -> None:
    chart = trust_chart(["1. dec"], [3.5], "Tillid", "Gennemsnit", "for få", decimal=",")
    [drawn] = group_render(OutMessage(text="Tillidspuls #2", attachments=[
        Attachment(kind="photo", filename="puls.png", data=chart)]))
    assert drawn["text"] == "Tillidspuls #2"
    assert drawn["attachments"][0]["contentUrl"].startswith("data:image/png;base64,")


async def test_only_the_first_claim_makes_a_first_admin(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.db")
    try:
        async with store.transaction() as tx:
            assert await admins.claim_first(tx, "teams", "19:g", "h1", "t")
            assert not await admins.claim_first(tx, "teams", "19:g", "h2", "t")
            assert await admins.claim_first(tx, "teams", "19:g", "h1", "t")  # still
            assert await admins.claim_first(tx, "teams", "19:other", "h2", "t")
            assert await admins.add_admin(tx, "teams", "19:g", "h2", "t")
            assert not await admins.add_admin(tx, "teams", "19:g", "h2", "t")
            await admins.remove_admin(tx, "teams", "19:g", "h1")
            assert await admins.admin_count(tx, "teams", "19:g") == 1
            assert not await admins.is_admin(tx, "teams", "19:g", "h1")
            await admins.put_reference(tx, "teams", "19:g", '{"a": 1}', "2026-01-01")
            await admins.put_reference(tx, "teams", "19:g", '{"a": 2}', "2026-01-02")
            assert await admins.get_reference(tx, "teams", "19:g") == '{"a": 2}'
            assert await admins.latest_reference(tx, "teams") == '{"a": 2}'
            assert await admins.latest_reference(tx, "telegram") is None
    finally:
        await store.close()
