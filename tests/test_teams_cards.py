"""Teams drawing, pure: escaping, cards, splitting, images, submit parsing, command words."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.channels import teams_cards as cards
from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.dialogue.state import Attachment, Button, OutMessage
from bot.service import BotService
from bot.store.db import Store


def test_markdown_and_html_a_leader_writes_stay_literal() -> None:
    words = "**fed** _kursiv_ [link](http://x) <b>tag</b> `kode` a\\b ~x~ (parentes)"
    escaped = cards.escape(words)
    assert "(parentes)" in escaped  # ordinary punctuation is left as it is
    assert r"\[link\](http" in escaped  # escaped brackets: no link
    for raw in ("**", "_kursiv_", "[link]", "<b>", "`kode`", "~x~"):
        assert raw not in escaped, raw
    assert "&lt;b&gt;" in escaped and r"\*\*fed\*\*" in escaped and "a\\\\b" in escaped
    # Line starts that would become a list or a quote are escaped too.
    assert cards.escape("- punkt\n1. første\n> citat\n# titel") == r"\- punkt  " "\n" \
        r"\1. første  " "\n" "&gt; citat  \n" r"\# titel"  # a quote mark is an entity
    # Paragraphs stay paragraphs; a single line break is a markdown hard break.
    assert cards.escape("a\n\nb\nc") == "a\n\nb  \nc"


def test_a_text_message_is_plain_markdown_escaped() -> None:
    activity = cards.text_activity("Hej *du*")
    assert activity == {"type": "message", "textFormat": "markdown", "text": r"Hej \*du\*"}


def test_buttons_become_an_adaptive_card_with_one_action_set_per_row() -> None:
    rows = [[Button(label=str(n), data=f"t:3:risk:{n}") for n in range(1, 6)],
            [Button(label="Spring over", data="t:3:risk:!skip")]]
    message = OutMessage(text="Hvor stor er *risikoen*?", kind="prompt", buttons=rows)
    [activity] = cards.render(message)
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card["body"][0] == {"type": "TextBlock", "text": r"Hvor stor er \*risikoen\*?",
                               "wrap": True}
    sets = [e for e in card["body"] if e["type"] == "ActionSet"]
    assert [len(s["actions"]) for s in sets] == [5, 1]  # a scale is five buttons in a row
    assert sets[0]["actions"][0] == {"type": "Action.Submit", "title": "1",
                                     "data": {"tb": "t:3:risk:1"}}
    json.dumps(card)  # plain JSON all the way down


def test_the_pressed_card_shows_the_choice_and_no_buttons() -> None:
    card = cards.pressed_card("Hvilket sprog?", "Dansk")
    assert [e["type"] for e in card["body"]] == ["TextBlock", "TextBlock"]
    assert card["body"][1]["text"] == "→ Dansk"
    assert "actions" not in card and all(e["type"] != "ActionSet" for e in card["body"])
    message = OutMessage(text="x", buttons=[[Button(label="Ja", data="a:1:n:yes")]])
    assert cards.label_of(message, "a:1:n:yes") == "Ja"
    assert cards.label_of(message, "a:1:n:no") is None


def test_long_text_is_split_below_the_limit_and_buttons_go_on_the_last_part() -> None:
    paragraph = "Tillid er en gave, der gives før den er fortjent. " * 30
    text = "\n\n".join([paragraph] * 12)
    message = OutMessage(text=text, buttons=[[Button(label="OK", data="a:1:n:ok")]])
    activities = cards.render(message)
    assert len(activities) > 2
    assert all("attachments" not in a for a in activities[:-1])
    assert "attachments" in activities[-1]
    for activity in activities:
        assert len(json.dumps(activity).encode()) < 28_000
    assert all(len(a["text"]) <= cards.MAX_TEXT * 2 for a in activities[:-1])


def _png(width: int, height: int) -> bytes:
    """A real PNG of noise (hard to compress)."""
    import os

    from PIL import Image

    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_an_image_goes_inline_as_a_data_uri_within_the_limits() -> None:
    from PIL import Image

    small = _png(200, 100)
    [activity] = cards.render(OutMessage(text="", attachments=[
        Attachment(kind="photo", filename="trend.png", data=small, caption="Din *trend*")]))
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == "image/png"
    assert attachment["contentUrl"] == "data:image/png;base64," + base64.b64encode(
        small).decode()
    assert activity["text"] == r"Din \*trend\*"
    big = _png(1800, 1200)
    assert len(big) > cards.MAX_IMAGE_BYTES
    data, mime = cards.fit_image(big)
    assert len(data) <= cards.MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(data)) as shrunk:
        assert max(shrunk.size) <= cards.MAX_IMAGE_SIDE
    assert mime in ("image/png", "image/jpeg")


@pytest.mark.parametrize("value", [
    None, "t:1:n:yes", 42, [], ["tb"], {}, {"tb": ""}, {"tb": 5}, {"tb": "a b"},
    {"tb": "x" * 65}, {"tb": "ok", "extra": 1}, {"action": {"data": {"tb": "x\n"}}},
    {"action": "tb"}, {"tb": "æøå"},
])
def test_junk_and_forged_submit_values_are_rejected(value: object) -> None:
    assert cards.submitted_data(value) is None


def test_submit_and_execute_values_give_the_button_data() -> None:
    assert cards.submitted_data({"tb": "9c6906:2:competence:yes"}) == "9c6906:2:competence:yes"
    invoke = {"action": {"type": "Action.Execute", "verb": "press",
                         "data": {"tb": "m:lang:nb"}}, "trigger": "manual"}
    assert cards.submitted_data(invoke) == "m:lang:nb"


def test_mentions_are_stripped_from_group_messages() -> None:
    assert cards.strip_mentions("<at>Tillidsbot</at> /delegate") == "/delegate"
    assert cards.strip_mentions("Hej <at id=\"0\">Tillidsbot</at>&nbsp;hjælp ") == "Hej hjælp"


async def test_command_words_come_from_the_menu_and_the_wording(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    store = await Store.open(tmp_path / "bot.db")
    try:
        clock = ManualClock(datetime(2026, 12, 2, 9, tzinfo=UTC))
        service = BotService(store, real_dialogues, clock)
        from bot.features import history

        history.register(service)
        names = cards.command_names(service)
        assert names[:2] == ["start", "delegate"] and "help" in names
        words = cards.command_words(service, names)
        for typed, command in (("uddeleger", "delegate"), ("deleger", "delegate"),
                               ("delegate", "delegate"), ("hjælp", "help"), ("hjelp", "help"),
                               ("historik", "history"), ("afbryd", "cancel"),
                               ("avbryt", "cancel"), ("tilbage", "back")):
            assert words[typed] == command, typed
        parse = cards.parse_command
        assert parse("/delegate", words) == ("delegate", "")
        assert parse("/Uddeleger nu", words) == ("delegate", "nu")
        assert parse("Hjælp", words) == ("help", "")
        assert parse("hjælp!", words) == ("help", "")
        assert parse("/start abc123", words) == ("start", "abc123")
        assert parse("/ukendt", words) == ("ukendt", "")
        # An answer that only contains a command word is an answer, not a command.
        assert parse("hjælp til budgettet", words) is None
        assert parse("/ start", words) is None
        assert cards.localized_words(service, "delegate", "nb")[0] == "deleger"
    finally:
        await store.close()
