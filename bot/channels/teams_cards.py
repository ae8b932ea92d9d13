"""Drawing for Microsoft Teams, pure: OutMessage -> Bot Framework activities, and back.

No network and no SDK objects here: activities are plain dicts in the Bot Connector's JSON
shape (bot/channels/teams.py validates them into the SDK's Activity). What Teams shows:
- text as a message whose markdown and HTML are escaped, so a leader's words never read as
  markup, split below Teams' message size limit;
- button rows as an Adaptive Card 1.5, one ActionSet of Action.Submit buttons per row; a press
  comes back as a message whose `value` is the button's data object (`{"tb": data}`);
- a pressed card is updated to show the chosen answer with no live buttons;
- an image inline as a base64 data URI (at most 1 MB and 1024 px on the longer side);
- a file (the /export documents) as a file-consent card; once the leader accepts and the bot
  has uploaded it, a file-info card that opens it from their OneDrive.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.channels.telegram import BUILTIN_COMMANDS, LEADER_COMMANDS, split_text
from bot.dialogue.state import Attachment, Button, OutMessage
from bot.service import BotService

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"  # the newest Adaptive Card version Teams renders
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# Teams refuses an activity over ~28 KB; a chunk of 4000 UTF-16 units stays well below it even
# when every character is escaped (3 bytes each in UTF-8, plus a backslash).
MAX_TEXT = 4000
MAX_IMAGE_BYTES = 1024 * 1024
MAX_IMAGE_SIDE = 1024
SUBMIT_KEY = "tb"  # the one key of a button's Action.Submit data
MAX_DATA_BYTES = 64  # button data is at most 64 bytes (the engine keeps Telegram's limit)
WORDS_PREFIX = "teams_words_"  # wording keys with a command's words per language
MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
# Markdown Teams renders in messages and TextBlocks: emphasis, code, strike-through and links
# anywhere (a link needs its brackets, so parentheses stay as they are), headings and lists at
# a line's start. A backslash makes each one literal; HTML is made literal by entities.
_MARKDOWN = re.compile(r"([\\`*_~\[\]])")
_LINE_START = re.compile(r"(?m)^(\s*)([-+#]|\d+(?=[.)]))")
_DATA = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: what the engine makes


# ---- text ----------------------------------------------------------------------------------

def escape(text: str) -> str:
    """Text that Teams shows exactly as written: HTML and markdown made literal, line breaks
    kept (a single newline as a markdown hard break)."""
    escaped = html.escape(text, quote=False)
    escaped = _MARKDOWN.sub(r"\\\1", escaped)
    escaped = _LINE_START.sub(r"\1\\\2", escaped)
    return re.sub(r"(?<!\n)\n(?!\n)", "  \n", escaped)


def text_activity(text: str) -> dict[str, Any]:
    """A plain message."""
    return {"type": "message", "textFormat": "markdown", "text": escape(text)}


# ---- cards ---------------------------------------------------------------------------------

def submit_action(button: Button) -> dict[str, Any]:
    """One button: Action.Submit whose data object carries the button's data string."""
    return {"type": "Action.Submit", "title": button.label, "data": {SUBMIT_KEY: button.data}}


def card(text: str, rows: list[list[Button]]) -> dict[str, Any]:
    """An Adaptive Card with the text and one ActionSet per row of buttons."""
    body: list[dict[str, Any]] = []
    if text.strip():
        body.append({"type": "TextBlock", "text": escape(text), "wrap": True})
    body.extend({"type": "ActionSet", "actions": [submit_action(b) for b in row]}
                for row in rows if row)
    return {"type": "AdaptiveCard", "$schema": CARD_SCHEMA, "version": CARD_VERSION,
            "body": body, "msteams": {"width": "Full"}}


def pressed_card(text: str, label: str | None) -> dict[str, Any]:
    """The card after a press: its question and the chosen answer, no live buttons."""
    body: list[dict[str, Any]] = []
    if text.strip():
        body.append({"type": "TextBlock", "text": escape(text), "wrap": True})
    if label:
        body.append({"type": "TextBlock", "text": f"→ {escape(label)}", "wrap": True,
                     "weight": "Bolder"})
    return {"type": "AdaptiveCard", "$schema": CARD_SCHEMA, "version": CARD_VERSION,
            "body": body, "msteams": {"width": "Full"}}


def card_activity(content: dict[str, Any]) -> dict[str, Any]:
    """A message carrying one Adaptive Card."""
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "content": content}]}


def label_of(message: OutMessage, data: str) -> str | None:
    """The label of the button with this data on a message."""
    for row in message.buttons:
        for button in row:
            if button.data == data:
                return button.label
    return None


# ---- images --------------------------------------------------------------------------------

def image_activity(attachment: Attachment) -> dict[str, Any]:
    """An image inline as a data URI, shrunk to Teams' limits; the caption as text."""
    data, mime = fit_image(attachment.data)
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    activity: dict[str, Any] = {
        "type": "message",
        "attachments": [{"contentType": mime, "contentUrl": uri, "name": attachment.filename}]}
    if attachment.caption:
        activity.update(textFormat="markdown", text=escape(attachment.caption))
    return activity


def fit_image(data: bytes) -> tuple[bytes, str]:
    """The image as PNG (or JPEG when PNG stays too big) within 1024 px and 1 MB."""
    from PIL import Image  # Pillow comes with matplotlib

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        fitted = image.copy()
    if len(data) <= MAX_IMAGE_BYTES and max(fitted.size) <= MAX_IMAGE_SIDE and (
            data.startswith(b"\x89PNG")):
        return data, "image/png"
    fitted.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    out = io.BytesIO()
    fitted.save(out, format="PNG", optimize=True)
    if out.tell() <= MAX_IMAGE_BYTES:
        return out.getvalue(), "image/png"
    for quality in (85, 70, 50):
        out = io.BytesIO()
        fitted.convert("RGB").save(out, format="JPEG", quality=quality)
        if out.tell() <= MAX_IMAGE_BYTES:
            break
    return out.getvalue(), "image/jpeg"


# ---- files (file consent) ------------------------------------------------------------------

FILE_CONSENT_TYPE = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO_TYPE = "application/vnd.microsoft.teams.card.file.info"
CONSENT_KEY = "tbFile"  # the one key of a consent card's accept/decline context
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def file_consent_activity(attachment: Attachment, token: str) -> dict[str, Any]:
    """A message asking the leader to accept a file into their OneDrive; the token comes
    back in the fileConsent/invoke (accept and decline) and names the offer."""
    context = {CONSENT_KEY: token}
    return {"type": "message", "attachments": [{
        "contentType": FILE_CONSENT_TYPE, "name": attachment.filename,
        "content": {"description": attachment.caption or attachment.filename,
                    "sizeInBytes": len(attachment.data),
                    "acceptContext": context, "declineContext": context}}]}


def file_info_activity(upload: Mapping[str, Any]) -> dict[str, Any]:
    """The card that shows an uploaded file (from the accept invoke's uploadInfo)."""
    return {"type": "message", "attachments": [{
        "contentType": FILE_INFO_TYPE, "contentUrl": str(upload.get("contentUrl") or ""),
        "name": str(upload.get("name") or ""),
        "content": {"uniqueId": str(upload.get("uniqueId") or ""),
                    "fileType": str(upload.get("fileType") or "")}}]}


def consent_answer(value: object) -> tuple[str, str, dict[str, Any]] | None:
    """(action, token, uploadInfo) of a fileConsent/invoke value; None for any other shape
    (uploadInfo is {} on a decline). Only 'accept' with an uploadUrl, or 'decline', pass."""
    if not isinstance(value, Mapping) or value.get("type") != "fileUpload":
        return None
    action = value.get("action")
    context = value.get("context")
    token = context.get(CONSENT_KEY) if isinstance(context, Mapping) else None
    if action not in ("accept", "decline") or not isinstance(token, str) or (
            not _TOKEN.fullmatch(token)):
        return None
    upload = value.get("uploadInfo")
    if action == "decline":
        return "decline", token, {}
    if not isinstance(upload, Mapping) or not isinstance(upload.get("uploadUrl"), str):
        return None
    return "accept", token, dict(upload)


# ---- OutMessage -> activities --------------------------------------------------------------

def render(message: OutMessage) -> list[dict[str, Any]]:
    """One OutMessage as the activities to send, in order; buttons go on the last text part,
    as a card (the card's text is the last chunk). Documents are not drawn here (a 1:1 file
    needs a file-consent card; see bot/channels/teams.py)."""
    chunks = split_text(message.text, MAX_TEXT) or ([""] if message.buttons else [])
    activities: list[dict[str, Any]] = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        if last and message.buttons:
            activities.append(card_activity(card(chunk, message.buttons)))
        else:
            activities.append(text_activity(chunk))
    activities.extend(image_activity(a) for a in message.attachments if a.kind == "photo")
    return activities


# ---- activities -> input -------------------------------------------------------------------

def submitted_data(value: object) -> str | None:
    """The button data of an Action.Submit value ({"tb": data}) or an Action.Execute invoke
    value ({"action": {"data": {...}}}); None for anything else (junk or forged shapes)."""
    if isinstance(value, Mapping) and "action" in value and SUBMIT_KEY not in value:
        action = value.get("action")
        value = action.get("data") if isinstance(action, Mapping) else None
    if not isinstance(value, Mapping) or set(value) != {SUBMIT_KEY}:
        return None
    data = value[SUBMIT_KEY]
    if not isinstance(data, str) or not _DATA.fullmatch(data):
        return None
    return data if len(data.encode("utf-8")) <= MAX_DATA_BYTES else None


def strip_mentions(text: str) -> str:
    """A group message without its @mentions (`<at>Tillidsbot</at>`) and HTML entities."""
    return " ".join(html.unescape(MENTION.sub(" ", text)).split())


# ---- what a leader sends -------------------------------------------------------------------

# Attachments Teams adds to an ordinary text message (its HTML rendering, cards): not files.
TEXT_ATTACHMENTS = frozenset({"text/html", "text/plain", CARD_TYPE})


def attachment_kind(attachments: Iterable[Any]) -> str:
    """'photo' or 'document' when a message carries an image or a file the leader sent
    (Teams' file.download.info, an inline image); '' for a plain text message."""
    kinds = [str(getattr(a, "content_type", None) or "").lower() for a in attachments]
    real = [k for k in kinds if k and k not in TEXT_ATTACHMENTS]
    if not real:
        return ""
    return "photo" if all(k.startswith("image/") for k in real) else "document"


# ---- commands ------------------------------------------------------------------------------

def command_names(service: BotService) -> list[str]:
    """The leader commands the service handles and that have menu wording, in menu order
    (the same list Telegram's command menu shows)."""
    known = BUILTIN_COMMANDS | set(service.commands) | set(service.command_handlers)
    described = {n for n in known if f"command_{n}" in service.strings.table}
    ordered = [n for n in LEADER_COMMANDS if n in described]
    return ordered + sorted(described - set(ordered))


def command_words(service: BotService, names: Iterable[str]) -> dict[str, str]:
    """Each word a leader may type for a command (its name and, per language, the words in
    `teams_words_<name>`), lower-cased -> the command's name."""
    words: dict[str, str] = {}
    for name in names:
        words[name.lower()] = name
        key = f"{WORDS_PREFIX}{name}"
        if key not in service.strings.table:
            continue
        for lang in service.dialogues.languages:
            for word in localized_words(service, name, lang):
                words.setdefault(word.lower(), name)
    return words


def localized_words(service: BotService, name: str, lang: str) -> list[str]:
    """A command's words in one language, the one the manifest shows first."""
    key = f"{WORDS_PREFIX}{name}"
    if key not in service.strings.table:
        return [name]
    return [w.strip() for w in service.ui(key, lang).split(",") if w.strip()]


def parse_command(text: str, words: Mapping[str, str]) -> tuple[str, str] | None:
    """'/name args' (any name) or a known command word alone, with or without the slash ->
    (command, args); None for anything else, so answers are never mistaken for commands."""
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1 and not stripped[1].isspace():
        head, _, args = stripped[1:].partition(" ")
        name = head.lower()
        return words.get(name, name), args.strip()
    bare = stripped.rstrip(".!").lower()
    if bare in words:
        return words[bare], ""
    return None
