"""The /checkin setup button wizard, pure: what each step offers, what a press does, how a step
looks. The service keeps the wizard in SQLite and posts its one message; nothing here does IO.

Buttons carry `tw:<wizard id>:<version>:<code>`. The version is bumped on every press, so a
button drawn for an earlier screen (an old wizard, a second admin pressing the same screen, a
replayed or altered press) no longer matches, and a code is accepted only if the wizard's
current step offers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.dialogue.state import Button, OutMessage
from bot.features.onboarding import TIMEZONES
from bot.locale import LANGUAGES as KIT_LANGUAGES
from bot.numbers import small_int
from bot.store.team import Group, Wizard

PREFIX = "tw"
DATA_LIMIT = 64  # bytes of callback data Telegram allows on a button
LANGUAGES: tuple[str, ...] = KIT_LANGUAGES
CADENCE_CODES = {"w": "weekly", "b": "biweekly"}
# Times leaders commonly pick; any other can still be typed (/checkin setup 13:45).
TIMES: tuple[str, ...] = ("08:00", "09:00", "10:00", "12:00", "13:30", "14:30")
STEPS: tuple[str, ...] = ("cadence", "weekday", "time", "zone", "language", "summary")
SUMMARY = STEPS.index("summary")
CHOOSE = {"c": 0, "d": 1, "t": 2, "z": 3, "l": 4}  # a choice's code letter -> its step
BACK, CANCEL, SAVE = "b", "x", "s"
CHECK = "✓ "

Ui = Callable[..., str]


@dataclass(frozen=True)
class Press:
    """A wizard button as pressed: which wizard, at which version, and what."""

    wizard_id: int
    version: int
    code: str


def data(wizard: Wizard, code: str) -> str:
    """A button's callback data."""
    return f"{PREFIX}:{wizard.id}:{wizard.version}:{code}"


def parse(parts: list[str]) -> Press | None:
    """The press behind callback data (after 'tw:'); None when it is not wizard-shaped."""
    wizard_id, version = (small_int(p) for p in parts[:2]) if len(parts) == 3 else (None, None)
    if wizard_id is None or version is None or not parts[2]:
        return None
    return Press(wizard_id, version, parts[2])


def lang_of(wizard: Wizard) -> str:
    """The wizard's wording: the chosen pulse language once there is one."""
    return wizard.pulse_language or wizard.language


def _fits(wizard: Wizard, code: str) -> bool:
    """Whether a button's data stays within Telegram's limit."""
    return len(data(wizard, code).encode()) <= DATA_LIMIT


def times(wizard: Wizard) -> list[str]:
    """The times offered: the usual ones plus a typed one the group has now."""
    extra = [wizard.at_time] if wizard.at_time and wizard.at_time not in TIMES else []
    return [*TIMES, *extra]


def zones(wizard: Wizard) -> list[str]:
    """The zones offered: the onboarding's list plus the group's own, if its name fits."""
    zone = wizard.timezone
    extra = [zone] if zone and zone not in TIMEZONES and _fits(wizard, "z" + zone) else []
    return [*TIMEZONES, *extra]


def offered(wizard: Wizard) -> set[str]:
    """Every code the wizard's current step accepts (none once it is over)."""
    if wizard.status != "open":
        return set()
    step = wizard.step
    codes = {CANCEL} | ({BACK} if step > 0 else set())
    if step == 0:
        codes |= {"c" + c for c in CADENCE_CODES}
    elif step == 1:
        codes |= {f"d{d}" for d in range(7)}
    elif step == 2:
        codes |= {"t" + t.replace(":", "") for t in times(wizard)}
    elif step == 3:
        codes |= {"z" + z for z in zones(wizard)}
    elif step == 4:
        codes |= {"l" + lang for lang in LANGUAGES}
    elif step == SUMMARY and complete(wizard):
        codes.add(SAVE)
    return codes


def complete(wizard: Wizard) -> bool:
    """Whether every setting has been chosen."""
    return None not in (wizard.cadence, wizard.weekday, wizard.at_time, wizard.timezone,
                        wizard.pulse_language)


def apply(wizard: Wizard, code: str) -> bool:
    """Apply a press to the wizard (choice and next step, back, cancel, save); False, with
    nothing changed, when the current step does not offer it."""
    if code not in offered(wizard):
        return False
    kind, value = code[0], code[1:]
    if code == CANCEL:
        wizard.status = "cancelled"
    elif code == BACK:
        wizard.step -= 1
    elif code == SAVE:
        wizard.status = "saved"
    else:
        if kind == "c":
            wizard.cadence = CADENCE_CODES[value]
        elif kind == "d":
            wizard.weekday = int(value)
        elif kind == "t":
            wizard.at_time = f"{value[:-2]}:{value[-2:]}"
        elif kind == "z":
            wizard.timezone = value
        else:
            wizard.pulse_language = value
        wizard.step = CHOOSE[kind] + 1
    return True


def settle(wizard: Wizard, group: Group) -> str | None:
    """Put a finished wizard's choices on the group (the typed setup's parse step's twin)."""
    assert wizard.cadence and wizard.weekday is not None and wizard.at_time
    assert wizard.timezone and wizard.pulse_language
    group.cadence = wizard.cadence
    group.weekday = wizard.weekday
    group.at_time = wizard.at_time
    group.timezone = wizard.timezone
    group.language = wizard.pulse_language
    return None


def adopt(wizard: Wizard, group: Group) -> None:
    """Put the choices an unfinished wizard has so far on the group (a typed setup mid-wizard
    completes it: the buttons pressed count, the typed words come on top)."""
    if wizard.cadence is not None:
        group.cadence = wizard.cadence
    if wizard.weekday is not None:
        group.weekday = wizard.weekday
    if wizard.at_time is not None:
        group.at_time = wizard.at_time
    if wizard.timezone is not None:
        group.timezone = wizard.timezone
    if wizard.pulse_language is not None:
        group.language = wizard.pulse_language


def _label(text: str, chosen: bool) -> str:
    """A button label, ticked when it is the current choice."""
    return CHECK + text if chosen else text


def _rows(buttons: list[Button], width: int) -> list[list[Button]]:
    """Buttons in rows of at most width."""
    return [buttons[i:i + width] for i in range(0, len(buttons), width)]


def _weekday(ui: Ui, lang: str, index: int) -> str:
    """A weekday's name, capitalised for a button or a sentence start."""
    return _capital(ui("team_weekdays", lang).split(",")[index].strip())


def _choices(wizard: Wizard, ui: Ui, lang: str) -> list[list[Button]]:
    """The current step's choice buttons."""
    step = wizard.step

    def button(text: str, code: str, chosen: bool) -> Button:
        """One choice."""
        return Button(label=_label(text, chosen), data=data(wizard, code))

    if step == 0:
        cadences = [button(_capital(ui(f"team_cadence_{name}", lang)), "c" + code,
                           wizard.cadence == name) for code, name in CADENCE_CODES.items()]
        return [cadences]
    if step == 1:
        days = [button(_weekday(ui, lang, d), f"d{d}", wizard.weekday == d) for d in range(7)]
        return [days[:4], days[4:]]
    if step == 2:
        return _rows([button(t, "t" + t.replace(":", ""), wizard.at_time == t)
                      for t in times(wizard)], 3)
    if step == 3:
        return _rows([button(z, "z" + z, wizard.timezone == z) for z in zones(wizard)], 2)
    if step == 4:
        return [[button(ui("language_name", code), "l" + code, wizard.pulse_language == code)
                 for code in LANGUAGES]]
    return [[Button(label=ui("team_wizard_save", lang), data=data(wizard, SAVE))]]


def _capital(text: str) -> str:
    """Text with a capital first letter."""
    return text[:1].upper() + text[1:]


def summary_values(wizard: Wizard, ui: Ui) -> dict[str, Any]:
    """The chosen settings in words, for the summary."""
    lang = lang_of(wizard)
    return {"cadence": _capital(ui(f"team_cadence_{wizard.cadence}", lang)),
            "weekday": ui("team_weekdays", lang).split(",")[wizard.weekday or 0].strip(),
            "time": wizard.at_time, "timezone": wizard.timezone,
            "language": ui("language_name", wizard.pulse_language or lang)}


def render(wizard: Wizard, ui: Ui) -> OutMessage:
    """The wizard's message at its current step (or how it ended)."""
    lang = lang_of(wizard)
    if wizard.status == "cancelled":
        return OutMessage(text=ui("team_wizard_cancelled", lang))
    if wizard.status == "replaced":
        return OutMessage(text=ui("team_wizard_replaced", lang))
    step = wizard.step
    if step == SUMMARY:
        body = ui("team_wizard_summary", lang, **summary_values(wizard, ui))
    else:
        body = "\n\n".join([ui("team_wizard_title", lang, step=step + 1, steps=SUMMARY),
                            ui(f"team_wizard_ask_{STEPS[step]}", lang)])
    nav = [Button(label=ui("team_wizard_back", lang), data=data(wizard, BACK))] if step else []
    nav.append(Button(label=ui("team_wizard_cancel", lang), data=data(wizard, CANCEL)))
    return OutMessage(text=body, kind="prompt", buttons=[*_choices(wizard, ui, lang), nav])
