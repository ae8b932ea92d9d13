"""/history: a leader's finished conversations, newest first, five a page, each one openable.

Button data is "hi:p:<page>" (a page of the list) and "hi:t:<page>:<thread>" (one
conversation, remembering the page to go back to). A thread is always looked up together with
the leader pressing the button, so forged data can never open someone else's conversation.
"""

from __future__ import annotations

from bot.dialogue.state import Button, OutMessage
from bot.features.common import day_text, kind_title, local
from bot.numbers import small_int
from bot.service import BotService, Request
from bot.store import repo

PREFIX = "hi"
PAGE_SIZE = 5
MAX_BUTTON_DATA = 64  # Telegram's limit for callback data, in bytes
HEADLINE_LABEL = 40  # characters of the headline shown on a button


def register(service: BotService) -> None:
    """Add /history and its buttons to the service."""
    service.register_command("history", show_history)
    service.register_buttons(PREFIX, history_button)


async def show_history(request: Request) -> list[OutMessage]:
    """The /history command: the first page."""
    return await history_page(request, 0)


async def history_button(request: Request) -> list[OutMessage]:
    """A page or conversation button; anything malformed is treated as a stale button."""
    verb, _, rest = request.args.partition(":")
    if verb == "p" and (number := small_int(rest)) is not None:
        return await history_page(request, number)
    page, _, thread = rest.partition(":")
    if verb == "t" and (number := small_int(page)) is not None and thread:
        return await history_entry(request, number, thread)
    return [OutMessage(text=request.service.ui("stale_button", request.leader.language),
                       kind="error")]


def _data(*parts: object) -> str:
    """Button data for this feature, checked against Telegram's size limit."""
    data = ":".join([PREFIX, *(str(p) for p in parts)])
    if len(data.encode("utf-8")) > MAX_BUTTON_DATA:
        raise ValueError(f"button data longer than {MAX_BUTTON_DATA} bytes: {data!r}")
    return data


async def history_page(request: Request, page: int) -> list[OutMessage]:
    """One page of the list, with buttons to open each entry and to move between pages."""
    service, leader = request.service, request.leader
    lang = leader.language
    total = await repo.count_threads(request.tx, leader.leader_id)
    followups = await _followups(request)
    if total == 0:
        return [OutMessage(text="\n\n".join([service.ui("history_empty", lang), *followups]))]
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    rows = await repo.threads_of(request.tx, leader.leader_id, limit=PAGE_SIZE,
                                 offset=page * PAGE_SIZE)
    lines = [service.ui("history_title", lang, page=page + 1, pages=pages, total=total)]
    buttons: list[list[Button]] = []
    for number, row in enumerate(rows, start=page * PAGE_SIZE + 1):
        day = day_text(local(row.finished_at or row.started_at, leader).date(), lang)
        kind = kind_title(service, row.conversation, lang)
        lines.append(service.ui("history_item", lang, number=number, date=day, kind=kind,
                                headline=row.headline or ""))
        label = service.ui("history_open", lang, number=number, date=day,
                           headline=_short(row.headline or kind))
        buttons.append([Button(label=label, data=_data("t", page, row.thread))])
    nav: list[Button] = []
    if page > 0:
        nav.append(Button(label=service.ui("history_newer", lang), data=_data("p", page - 1)))
    if page < pages - 1:
        nav.append(Button(label=service.ui("history_older", lang), data=_data("p", page + 1)))
    if nav:
        buttons.append(nav)
    text = "\n".join(lines)
    if followups and page == 0:
        text += "\n\n" + "\n".join(followups)
    return [OutMessage(text=text, kind="prompt", buttons=buttons)]


async def history_entry(request: Request, page: int, thread: str) -> list[OutMessage]:
    """One conversation's full stored summary, with a button back to its page."""
    service, leader = request.service, request.leader
    lang = leader.language
    row = await repo.get_thread(request.tx, leader.leader_id, thread)
    if row is None or row.status != "finished":
        return [OutMessage(text=service.ui("history_not_found", lang), kind="error")]
    day = day_text(local(row.finished_at or row.started_at, leader).date(), lang)
    kind = kind_title(service, row.conversation, lang)
    header = service.ui("history_entry_title", lang, date=day, kind=kind)
    body = row.summary or service.ui("history_no_summary", lang)
    back = [[Button(label=service.ui("history_back", lang), data=_data("p", page))]]
    return [OutMessage(text=f"{header}\n\n{body}", kind="summary", buttons=back)]


async def _followups(request: Request) -> list[str]:
    """Lines for the leader's open follow-ups with their local dates, soonest first."""
    service, leader = request.service, request.leader
    lang = leader.language
    pending = [s for s in await repo.pending_schedules(request.tx, leader.leader_id)
               if s["kind"] == "followup"]
    if not pending:
        return []
    lines = [service.ui("history_followups_title", lang)]
    for item in pending:
        origin = (await repo.get_thread(request.tx, leader.leader_id, item["thread"])
                  if item["thread"] else None)
        lines.append(service.ui(
            "history_followup_item", lang,
            date=day_text(local(item["due_at"], leader).date(), lang),
            kind=kind_title(service, item["conversation"], lang),
            about=(origin.headline if origin and origin.headline else "")))
    return lines


def _short(text: str) -> str:
    """Shorten a headline to fit on a button."""
    text = " ".join(text.split())
    return text if len(text) <= HEADLINE_LABEL else text[:HEADLINE_LABEL - 1].rstrip() + "…"
