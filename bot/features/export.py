"""/export: everything stored about a leader, as Markdown to read and JSON to process.

The JSON shape is documented in docs/export-format.md; bump FORMAT_VERSION when it changes.
Rows come from bot.store.privacy.leader_rows, which discovers tables from the schema, so
tables added by later features are exported too (under "other_tables").
"""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from bot.clock import parse_iso
from bot.dialogue.state import Attachment, OutMessage
from bot.features.common import kind_title, when_text
from bot.schedule.times import zone_of
from bot.service import BotService, Request
from bot.store import privacy, repo

FORMAT_VERSION = 1
KNOWN = ("leaders", "sessions", "threads", "answers", "schedules")


def register(service: BotService) -> None:
    """Add /export to the service."""
    service.register_command("export", show_export)


async def collect(tx: aiosqlite.Connection, service: BotService,
                  leader_id: str) -> dict[str, Any] | None:
    """The export document for one leader (None if there is no such leader)."""
    rows = await privacy.leader_rows(tx, leader_id)
    if not rows.get("leaders"):
        return None
    profile = {k: privacy.to_json_value(v) for k, v in rows["leaders"][0].items()}
    lang = str(profile.get("language") or "da")
    session = rows.get("sessions", [])
    threads = sorted(rows.get("threads", []), key=lambda r: (r["started_at"], r["thread"]))
    return {
        "format_version": FORMAT_VERSION,
        "exported_at": service.now(),
        "leader": profile,
        "active_conversation": (privacy.to_json_value(session[0]["state"]) if session
                                else None),
        "conversations": [
            {"thread": r["thread"], "conversation": r["conversation"],
             "title": kind_title(service, r["conversation"], lang), "status": r["status"],
             "language": r["language"], "parent_thread": r["parent_thread"],
             "started_at": r["started_at"], "finished_at": r["finished_at"],
             "headline": r["headline"], "summary": r["summary"]}
            for r in threads
        ],
        "answers": [
            {"id": r["id"], "thread": r["thread"], "conversation": r["conversation"],
             "node": r["node"], "name": r["name"], "value": json.loads(r["value"]),
             "at": r["created_at"]}
            for r in sorted(rows.get("answers", []), key=lambda r: r["id"])
            if r["value"] is not None  # None: sealed under a key that was erased
        ],
        "schedules": [
            {**{k: v for k, v in r.items() if k not in ("leader_id", "payload")},
             "payload": json.loads(r["payload"] or "{}")}
            for r in sorted(rows.get("schedules", []), key=lambda r: (r["due_at"], r["id"]))
        ],
        "other_tables": {
            name: [{k: privacy.to_json_value(v) for k, v in row.items()} for row in table]
            for name, table in sorted(rows.items()) if name not in KNOWN
        },
    }


def to_json(document: dict[str, Any]) -> bytes:
    """The JSON file: UTF-8, indented, keys in a stable order."""
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def to_markdown(document: dict[str, Any], service: BotService) -> bytes:
    """The Markdown file, rendered from templates/<lang>/export.j2."""
    profile = document["leader"]
    lang = str(profile.get("language") or "da")
    leader = repo.Leader(profile["leader_id"], profile.get("chat_id"), lang,
                         str(profile.get("timezone") or repo.DEFAULT_TIMEZONE))
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for answer in document["answers"]:
        by_thread.setdefault(answer["thread"], []).append(answer)
    known = {c["thread"] for c in document["conversations"]}
    conversations = [{**c, "answers": by_thread.get(c["thread"], [])}
                     for c in reversed(document["conversations"])]
    text = service.dialogues.renderer.template("export", lang, {
        "doc": document,
        "profile": profile,
        "conversations": conversations,
        "loose_answers": [a for a in document["answers"] if a["thread"] not in known],
        "schedules": [{**s, "title": kind_title(service, s.get("conversation"), lang)}
                      for s in document["schedules"]],
        "when": lambda stored: when_text(stored, leader, lang) if stored else "",
        "show": _show,
    })
    return (text + "\n").encode("utf-8")


def _show(value: Any) -> str:
    """An answer value as a person reads it."""
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


async def export_files(tx: aiosqlite.Connection, service: BotService,
                       leader_id: str) -> list[Attachment]:
    """The Markdown and JSON exports as document attachments (empty if no such leader)."""
    document = await collect(tx, service, leader_id)
    if document is None:
        return []
    lang = str(document["leader"].get("language") or "da")
    # The leader's own calendar day, as on everything else they see (not the UTC date).
    zone = zone_of(str(document["leader"].get("timezone") or repo.DEFAULT_TIMEZONE))
    day = parse_iso(document["exported_at"]).astimezone(zone).date().isoformat()
    return [
        Attachment(kind="document", filename=f"tillidsbot-export-{day}.md",
                   data=to_markdown(document, service),
                   caption=service.ui("export_md_caption", lang)),
        Attachment(kind="document", filename=f"tillidsbot-export-{day}.json",
                   data=to_json(document), caption=service.ui("export_json_caption", lang)),
    ]


async def show_export(request: Request) -> list[OutMessage]:
    """The /export command: both files, with a line saying what they are."""
    files = await export_files(request.tx, request.service, request.leader.leader_id)
    text = request.service.ui("export_intro", request.leader.language)
    return [OutMessage(text=text, attachments=files)]
