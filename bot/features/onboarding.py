"""First contact: welcome, language and time zone, then the menu; plus a minimal /settings.

The scheduling feature owns the full /settings (nudge day and time, quiet hours); this one is
registered only when nothing else claimed the command.
"""

from __future__ import annotations

from bot.dialogue.state import Button, OutMessage
from bot.locale import is_zone
from bot.service import MENU_PREFIX, BotService, Request
from bot.store import repo

PREFIX = "ob"
# The likely zones of Danish and Norwegian public-sector leaders; any IANA name is valid too.
TIMEZONES = ("Europe/Copenhagen", "Europe/Oslo", "Europe/Stockholm", "Europe/Berlin",
             "Europe/London", "Atlantic/Faroe", "America/Nuuk")


def register(service: BotService) -> None:
    """Add the onboarding command, its buttons and (if unclaimed) /settings."""
    service.register_command("onboarding", onboarding, reprompt=False)
    if "settings" not in service.command_handlers:
        service.register_command("settings", settings, reprompt=True)
    service.register_buttons(PREFIX, button)


async def onboarding(req: Request) -> list[OutMessage]:
    """The welcome and the language question."""
    lang = req.leader.language
    return [OutMessage(text=req.service.ui("welcome", lang)),
            language_question(req.service, lang, f"{PREFIX}:l:")]


async def settings(req: Request) -> list[OutMessage]:
    """What is set, with buttons to change language and time zone."""
    service, leader = req.service, req.leader
    lang = leader.language
    text = service.ui("ob_settings", lang, language=service.ui("language_name", lang),
                      timezone=leader.timezone)
    rows = [[Button(label=service.ui("ob_change_language", lang), data=f"{PREFIX}:L")],
            [Button(label=service.ui("ob_change_timezone", lang), data=f"{PREFIX}:T")]]
    return [OutMessage(text=text, kind="prompt", buttons=rows)]


async def button(req: Request) -> list[OutMessage]:
    """ob:l:<lang> and ob:t:<zone> during onboarding; ob:L and ob:T from /settings."""
    service, leader = req.service, req.leader
    verb, _, arg = req.args.partition(":")
    if verb == "l" and arg in service.dialogues.languages:
        leader.language = arg
        await repo.update_leader(req.tx, leader, service.now())
        return [OutMessage(text=service.ui("language_set", arg)),
                timezone_question(service, arg)]
    if verb == "t" and _valid_zone(arg):
        leader.timezone = arg
        await repo.update_leader(req.tx, leader, service.now())
        done = OutMessage(text=service.ui("ob_timezone_set", leader.language, timezone=arg))
        if req.state is not None:
            return [done, *service.engine.prompt(req.state, leader.language,
                                                 service.today(leader))]
        # First contact ends here, so show what a first /start shows (the weekly reflection).
        extras = [m for extra in service.start_extras for m in await extra(req)]
        return [done, *service.with_menu(extras, leader.language)]
    if verb == "L":
        # The engine's own language buttons: they set the language and re-ask the question.
        return [language_question(service, leader.language, f"{MENU_PREFIX}lang:")]
    if verb == "T":
        return [timezone_question(service, leader.language)]
    return [OutMessage(text=service.ui("stale_button", leader.language), kind="error",
                       key="stale_button")]


def language_question(service: BotService, lang: str, data_prefix: str) -> OutMessage:
    """Buttons for every supported language, each named in its own language."""
    rows = [[Button(label=service.ui("language_name", code), data=f"{data_prefix}{code}")]
            for code in service.dialogues.languages]
    return OutMessage(text=service.ui("choose_language", lang), kind="prompt", buttons=rows)


def timezone_question(service: BotService, lang: str) -> OutMessage:
    """Buttons for the likely time zones."""
    rows = [[Button(label=zone, data=f"{PREFIX}:t:{zone}")] for zone in TIMEZONES]
    return OutMessage(text=service.ui("ob_timezone_question", lang), kind="prompt",
                      buttons=rows)


_valid_zone = is_zone
