"""docs/teams-transcript.md: a Teams conversation as the connector stand-in recorded it.

Run `python -m tests.teams_transcript > docs/teams-transcript.md` (it takes about half a
minute). It starts the real `tillidsbot run` in TEAMS_TEST_MODE with tests/connector_standin.py
as serviceUrl and plays Teams: the app is installed for a leader, she answers the first-contact
cards, runs the whole pre-delegation check (the same answers as the delegation section of
docs/transcripts.md: a digit presses that button of the newest card), asks for /export and
accepts both files, and asks for her history. The document shows every activity posted to the
bot and every call the bot made, in order, as the stand-in recorded them (method, path, what the
call showed), the connector calls the bot makes, one card's JSON, and the manifest that
`tillidsbot teams manifest --out app.zip` builds. Ids are the stand-in's; file names carry the
day it ran.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.connector_standin import Call, ConnectorStandIn
from tests.teamskit import Member, TeamsBot, buttons, card_of, shown_text
from tests.tgkit import bot_command
from tests.transcripts import SECTIONS

LEADER = "0f0e0d0c-5555-4000-8000-000000000005"
APP_ID = "9a1b2c3d-0000-4000-8000-0000000000b0"
CONSENT = "application/vnd.microsoft.teams.card.file.consent"
INFO = "application/vnd.microsoft.teams.card.file.info"

# What the bot calls, when (bot/channels/teams.py, teams_send.py); the counts come from the run.
CONNECTOR_CALLS = [
    ("POST", "/v3/conversations/{id}/activities",
     "every reply (text, Adaptive Card, inline image, file-consent and file-info cards) and "
     "every message the bot starts itself (weekly nudge, reminder, follow-ups), through the "
     "paced sender"),
    ("PUT", "/v3/conversations/{id}/activities/{activityId}",
     "after a card press: the pressed card shows the chosen answer with no live buttons (or "
     "the toggled multiple choice)"),
    ("PUT", "{uploadUrl} (OneDrive, from the consent invoke)",
     "after the leader accepts a file-consent card: the whole file in one request with "
     "Content-Range: bytes 0-(n-1)/n"),
    ("POST", "/v3/conversations",
     "opening (or finding again) a 1:1 chat with a group member, with their AAD object id and "
     "the tenant: a governance example, an admin's round result, an 'admins only' notice"),
    ("PUT", "/v3/conversations/{groupId}/activities/{activityId}",
     "team check-ins in a group chat or channel: the pulse card's live count, the closed pulse, "
     "a round's invitation and vote, the setup wizard (tests/test_teams_group_e2e.py)"),
    ("GET", "/v3/conversations/{groupId}/members/{memberId}",
     "an admin names a co-admin by @mention: the member's AAD object id from the roster"),
    ("DELETE", "/v3/conversations/{id}/activities/{activityId}",
     "in the sender, not used by a leader conversation"),
    ("(HTTP reply)", "the answer to POST /api/messages",
     "every invoke (`adaptiveCard/action`, `fileConsent/invoke`) is answered in the HTTP "
     "response itself, at once; other activities get 202"),
]


def _said(body: dict[str, Any]) -> str:
    """What a posted activity was, in words."""
    if body.get("type") == "conversationUpdate":
        return "installs the app (conversationUpdate, the bot added)"
    if body.get("name") == "fileConsent/invoke":
        value = body.get("value") or {}
        return f"answers a file-consent card: {value.get('action')} (fileConsent/invoke)"
    if body.get("value") is not None:
        return f"presses a card button (Action.Submit, value {json.dumps(body['value'])})"
    return f"writes {body.get('text')!r}"


def _shown(body: dict[str, Any] | None) -> list[str]:
    """What a call of the bot showed the leader, line by line."""
    if not body:
        return []
    if "Content-Range" in body:
        return [f"{body['bytes']} bytes, Content-Range: {body['Content-Range']}"]
    lines: list[str] = []
    for attachment in body.get("attachments") or []:
        kind = attachment.get("contentType")
        content = attachment.get("content") or {}
        if kind == CONSENT:
            lines.append(f"[file-consent card] {attachment.get('name')} "
                         f"({content.get('sizeInBytes')} bytes): {content.get('description')}")
        elif kind == INFO:
            lines.append(f"[file-info card] {attachment.get('name')} -> "
                         f"{attachment.get('contentUrl')}")
        elif str(kind).startswith("image/"):
            lines.append(f"[inline image] {attachment.get('name')}")
    card = card_of(body)
    text = shown_text(body) if card is not None or body.get("text") else ""
    if text:
        lines.extend(text.splitlines() or [""])
    titles = [a["title"] for a in buttons(card)]
    if titles:
        lines.append("  " + "  ".join(f"[{t}]" for t in titles))
    return lines


def transcript(connector: ConnectorStandIn, conversation_id: str) -> str:
    """The stand-in's record of one conversation, in order."""
    events: list[tuple[float, list[str]]] = []
    for at, body, status in connector.inbound:
        if (body.get("conversation") or {}).get("id") == conversation_id:
            events.append((at, [f"→ Teams posts to /api/messages: the leader {_said(body)}"
                                f"  (HTTP {status})"]))
    for call in connector.calls:
        if call.conversation_id == conversation_id:
            head = f"← {call.method} {_path(call)} → {call.status}"
            events.append((call.at, [head, *(f"    {line}" for line in _shown(call.body))]))
    lines: list[str] = []
    for _, block in sorted(events, key=lambda e: e[0]):
        lines.extend(block)
    return "\n".join(lines)


def _path(call: Call) -> str:
    """A call's path as documented (the upload session named as such)."""
    if call.path.startswith("/upload/"):
        return f"{{uploadUrl}} (stand-in {call.path.split('/')[1]}/…/{call.path.split('/')[-1]})"
    return call.path


def shape(call: Call) -> str:
    """'METHOD /path/{placeholders}' of a call."""
    if call.path.startswith("/upload/"):
        return f"{call.method} {{uploadUrl}}"
    parts = call.path.strip("/").split("/")
    if len(parts) >= 3:
        parts[2] = "{id}"
    if len(parts) >= 5:
        parts[4] = "{activityId}"
    return f"{call.method} /" + "/".join(parts)


async def play(member: Member, inputs: list[str]) -> None:
    """The inputs: a digit presses that button of the newest card, anything else is typed."""
    for line in inputs:
        actions = buttons(card_of(member.last()))
        if line.isdigit() and actions:
            await member.press(actions[int(line) - 1]["title"])
        else:
            await member.say("uddeleger" if line == "/delegate" else line)


async def infos(member: Member, count: int) -> None:
    """Wait until `count` file-info cards are in the member's chat."""
    await member.connector.wait_for(lambda: sum(
        1 for a in member.connector.messages(member.conversation_id)
        for x in a.get("attachments") or [] if x.get("contentType") == INFO) >= count)


async def export_both(member: Member) -> None:
    """/export, then accept both file-consent cards (the stand-in plays OneDrive)."""
    connector = member.connector

    def consents() -> list[dict[str, Any]]:
        return [a for activity in connector.messages(member.conversation_id)
                for a in activity.get("attachments") or [] if a.get("contentType") == CONSENT]

    await member.say("/export")
    await connector.wait_for(lambda: len(consents()) >= 2)
    for number, consent in enumerate(consents(), start=1):
        await member.post(member.activity(
            type="invoke", name="fileConsent/invoke", text=None,
            value={"type": "fileUpload", "action": "accept",
                   "context": consent["content"]["acceptContext"],
                   "uploadInfo": connector.upload_info(member.conversation_id,
                                                       consent["name"])}))
        await infos(member, number)


async def conversation(folder: Path) -> tuple[str, dict[str, Any], Counter[str]]:
    """Play the conversation; (transcript, one card's JSON, connector calls by shape)."""
    async with ConnectorStandIn() as connector:
        bot = await TeamsBot(connector, folder / "bot.db", TEAMS_ALLOWED_IDS=LEADER,
                             TEAMS_APP_ID=APP_ID).start()
        try:
            lene = Member(connector, bot, LEADER, "Lene", "da-DK")
            await lene.install()
            await connector.wait_for(lambda: lene.mark() >= 1)
            await lene.press()  # language: dansk
            await lene.press()  # time zone
            await play(lene, SECTIONS[0].inputs)
            await export_both(lene)
            await lene.say("historik")
        finally:
            await bot.stop()
        card = next(c for a in connector.messages(lene.conversation_id)
                    if (c := card_of(a)) and shown_text(a).startswith("Kompetencer"))
        counts = Counter(shape(c) for c in connector.calls)
        return transcript(connector, lene.conversation_id), card or {}, counts


def manifest(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """What `tillidsbot teams manifest --out app.zip` builds: manifest.json and the entries."""
    out = folder / "app.zip"
    subprocess.run([*bot_command(), "teams", "manifest", "--out", str(out), "--app-id", APP_ID],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   env={"PATH": "/usr/bin:/bin", "TILLIDSBOT_DB": str(folder / "m.db")})
    with zipfile.ZipFile(out) as package:
        return json.loads(package.read("manifest.json")), package.namelist()


def document(folder: Path) -> str:
    """The whole of docs/teams-transcript.md."""
    text, card, counts = asyncio.run(conversation(folder))
    built, entries = manifest(folder)
    calls = "\n".join(f"| `{m}` | `{p}` | {when} |" for m, p, when in CONNECTOR_CALLS)
    seen = "\n".join(f"| `{k}` | {n} |" for k, n in sorted(counts.items()))
    return f"""# A Teams conversation as the connector stand-in recorded it

Produced by `python -m tests.teams_transcript > docs/teams-transcript.md`: the real
`tillidsbot run` (TEAMS_TEST_MODE) with the connector stand-in (tests/connector_standin.py) as
serviceUrl on 127.0.0.1. A leader installs the app, answers the first-contact cards, runs the
pre-delegation check with card presses and typed answers (the answers of the delegation section
of docs/transcripts.md), asks for `/export` and accepts both files, and asks for her history
(`historik`). `→` is an activity Teams posts to the bot, `←` a call the bot makes, with what it
showed.

## The connector calls the bot makes

| method | path | when |
|---|---|---|
{calls}

Calls in this run:

| call | count |
|---|---|
{seen}

## Transcript

```
{text}
```

## One card's JSON (the competences question, as sent)

```json
{json.dumps(card, ensure_ascii=False, indent=2)}
```

## The manifest `tillidsbot teams manifest --out app.zip` builds

The package holds {", ".join(f"`{e}`" for e in entries)}. `manifest.json` (app id `{APP_ID}`):

```json
{json.dumps(built, ensure_ascii=False, indent=2)}
```
"""


def main() -> int:
    """Print the document."""
    with tempfile.TemporaryDirectory() as tmp:
        sys.stdout.write(document(Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
