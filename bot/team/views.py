"""How team check-ins look: the pulse, its result and chart, a governance round's invitation
and vote, a group's settings, all as channel-neutral OutMessages in the group's language.

Nothing here does IO; the wording lives in dialogues/_ui*.yaml and templates/.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from bot.clock import parse_iso
from bot.dialogue import Dialogues
from bot.dialogue.state import Button, OutMessage
from bot.locale import BABEL_LOCALES, LANGUAGES, language_for, zone_of
from bot.store import team as repo
from bot.team import core
from bot.team.chart import trust_chart

TEAM_LANGUAGES: tuple[str, ...] = LANGUAGES
LOCALES = BABEL_LOCALES
CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096
CHART_PULSES = 12
MEANING_CODES = {"y": "yes", "p": "partly", "n": "no"}
VOTE_CODES = {"r": "remove", "c": "change", "a": "anchor"}
COLOUR_CODES = {"r": "red", "g": "green"}


class Views:
    """Renders team messages from the dialogues' strings and templates."""

    def __init__(self, dialogues: Dialogues) -> None:
        """Use the dialogues' wording and templates."""
        self.strings = dialogues.strings
        self.renderer = dialogues.renderer

    def ui(self, key: str, lang: str, **variables: Any) -> str:
        """Team wording."""
        return self.strings(key, lang, **variables)

    def when(self, instant: datetime | str, lang: str, zone: str) -> str:
        """An instant in a group's time zone and language."""
        moment = parse_iso(instant) if isinstance(instant, str) else instant
        return format_datetime(moment.astimezone(time_zone(zone)),
                               self.ui("team_datetime_format", lang), locale=LOCALES[lang])

    def decimal(self, value: float, lang: str, signed: bool = False) -> str:
        """A one-decimal number in the group's language, optionally with its sign."""
        text = format_decimal(abs(value) if signed else value, "0.0", locale=LOCALES[lang])
        if not signed:
            return text
        return ("+" if value > 0 else "−" if value < 0 else "±") + text

    def settings_text(self, group: repo.Group) -> str:
        """The group's schedule in words."""
        lang = group.language
        values = {
            "cadence": self.ui(f"team_cadence_{group.cadence}", lang),
            "weekday": self.ui("team_weekdays", lang).split(",")[group.weekday].strip(),
            "time": group.at_time, "timezone": group.timezone,
            "hours": group.open_hours, "minimum": core.threshold(group.min_respondents),
        }
        if group.status == "paused":
            return self.ui("team_status_paused", lang, **values)
        if group.status != "active" or group.next_pulse_at is None:
            return self.ui("team_status_off", lang)
        nxt = self.when(group.next_pulse_at, lang, group.timezone)
        return self.ui("team_setup_done", lang, next=nxt, **values)

    def pulse_message(self, pulse: repo.Pulse, group: repo.Group, count: int) -> OutMessage:
        """The one pulse message: the questions, buttons and the live respondent count only."""
        lang = pulse.language
        title = self.ui("team_pulse_title", lang, seq=pulse.seq)
        if pulse.status in ("closing", "closed"):
            return OutMessage(text=f"{title}\n\n{self.ui('team_pulse_closed', lang, count=count)}")
        footer = self.ui("team_pulse_footer", lang, count=count,
                         minimum=core.threshold(group.min_respondents),
                         closes=self.when(pulse.closes_at, lang, group.timezone))
        text = "\n\n".join([title, self.ui("team_q_trust", lang), self.ui("team_q_meaning", lang),
                            footer])
        trust_row = [Button(label=str(v), data=f"tp:{pulse.id}:t:{v}") for v in core.TRUST_VALUES]
        meaning_row = [Button(label=self.ui(f"team_meaning_{value}", lang),
                              data=f"tp:{pulse.id}:m:{code}")
                       for code, value in MEANING_CODES.items()]
        return OutMessage(text=text, kind="prompt", buttons=[trust_row, meaning_row])

    def result_text(self, seq: int, result: core.PulseResult,
                    previous: core.PulseResult | None, lang: str,
                    since: int | None = None) -> str:
        """The summary of a shown pulse: distributions, change since the last shown pulse
        (number `since`; named when pulses with too few answers came in between), a prompt."""
        change = core.change_since(result, previous)
        trust_rows = None
        if result.trust:
            top = max(result.trust.values()) or 1
            trust_rows = [{"value": v, "count": c,
                           "bar": "█" * (max(1, round(10 * c / top)) if c else 0) or "·"}
                          for v, c in sorted(result.trust.items(), reverse=True)]
        meaning_rows = None
        if result.meaning:
            meaning_rows = [{"label": self.ui(f"team_meaning_{v}", lang),
                             "count": result.meaning.get(v, 0),
                             "text": f"{self.ui(f'team_meaning_{v}', lang)} "
                                     f"{result.meaning.get(v, 0)}"}
                            for v in core.MEANING_VALUES]
        number = core.prompt_number(seq, result)
        return self.renderer.template("team_pulse_result", lang, {
            "seq": seq, "respondents": result.respondents,
            "trust": trust_rows, "meaning": meaning_rows,
            "trust_mean": (self.decimal(result.trust_mean, lang)
                           if result.trust_mean is not None else ""),
            "trust_delta": (self.decimal(change.trust_delta, lang, signed=True)
                            if change and change.trust_delta is not None else ""),
            "yes_delta": (_signed_int(change.yes_share_delta)
                          if change and change.yes_share_delta is not None else ""),
            "prompt": self.ui(f"team_prompt_{number}", lang),
            "since": (self.ui("team_since_pulse", lang, seq=since)
                      if since is not None and since != seq - 1
                      else self.ui("team_since_last", lang)),
        })

    def chart(self, pulses: list[repo.Pulse], group: repo.Group) -> bytes:
        """The trust score over the group's recent pulses as a PNG."""
        lang = group.language
        labels: list[str] = []
        means: list[float | None] = []
        for pulse in pulses[-CHART_PULSES:]:
            day = parse_iso(pulse.opened_at).astimezone(time_zone(group.timezone)).date()
            labels.append(format_date(day, self.ui("team_date_format", lang),
                                      locale=LOCALES[lang]))
            result = core.result_from_json(pulse.result) if pulse.result else None
            means.append(result.trust_mean if result and result.trust else None)
        return trust_chart(labels, means, self.ui("team_chart_title", lang),
                           self.ui("team_chart_ylabel", lang), self.ui("team_chart_hidden", lang),
                           decimal=format_decimal(0.5, "0.0", locale=LOCALES[lang])[1])

    def invitation(self, found: repo.Round, group: repo.Group, count: int, link: str,
                   button: str | None = None) -> OutMessage:
        """The round's group message: how to send examples privately (the link, or a button
        with this data where the channel opens the private chat itself), and the live count."""
        lang = found.language
        if found.status != "collecting":
            return OutMessage(text=self.ui("team_gov_collect_closed", lang))
        rows: list[list[Button]] = []
        if button is not None:
            link = self.ui("team_gov_link_button", lang)
            rows = [[Button(label=self.ui("team_gov_send_button", lang), data=button)]]
        return OutMessage(text=self.ui(
            "team_gov_open", lang, link=link, count=count,
            until=self.when(found.collect_until, lang, group.timezone)),
            kind="prompt" if rows else "info", buttons=rows)

    def colour_buttons(self, found: repo.Round) -> list[list[Button]]:
        """Red or green? The buttons carry the round's link token, not its number, so only
        someone who had the group's link can send examples to it (callback data is forgeable)."""
        lang = found.language
        return [[Button(label=self.ui("team_gov_red_button", lang), data=f"tg:{found.token}:r")],
                [Button(label=self.ui("team_gov_green_button", lang),
                        data=f"tg:{found.token}:g")]]

    def vote_view(self, found: repo.Round, group: repo.Group, voters: int, mode: str
                   ) -> str:
        """The examples (and tallies, when closed) as text, fitted to one message."""
        lang = found.language
        result = found.result or {}
        minimum = int(result.get("minimum", core.MIN_RESPONDENTS))
        if result.get("too_few") == "examples":
            return self.ui("team_gov_too_few", lang, count=result.get("contributors", 0),
                           minimum=minimum)
        tallies = result.get("tallies") or {}
        labels = {v: self.ui(f"team_vote_{v}", lang) for v in core.VOTE_VALUES}
        green, red = [], []
        for item in found.items or []:
            entry = dict(item)
            if item["colour"] == "red":
                counts = tallies.get(str(item["n"]))
                entry["tally"] = counts
                best = core.leading(counts) if counts else None
                entry["leading"] = labels[best] if best else ""
                red.append(entry)
            else:
                green.append(entry)
        too_few = ""
        if result.get("too_few") == "votes":
            too_few = self.ui("team_gov_too_few_votes", lang, count=result.get("voters", 0),
                              minimum=minimum)
        variables = {
            "mode": mode, "green": green, "red": red, "voters": voters, "too_few": too_few,
            "contributors": result.get("contributors", 0),
            "until": self.when(found.vote_until, lang, group.timezone) if found.vote_until
            else "",
        }
        text = self.renderer.template("team_gov_vote", lang, variables)
        # Keep within one message: shorten the longest examples until it fits.
        while len(text) > MESSAGE_LIMIT - 16:
            longest = max([*green, *red], key=lambda e: len(e["text"]))
            longest["text"] = longest["text"][: max(20, len(longest["text"]) * 3 // 4)] + "…"
            text = self.renderer.template("team_gov_vote", lang, variables)
        return text

    def vote_message(self, found: repo.Round, group: repo.Group, voters: int) -> OutMessage:
        """The group's vote message: examples and, while voting, buttons on each red one."""
        lang = found.language
        mode = "voting" if found.status == "voting" else "final"
        text = self.vote_view(found, group, voters, mode)
        rows: list[list[Button]] = []
        if mode == "voting":
            for item in found.items or []:
                if item["colour"] == "red":
                    rows.append([Button(label=f"{item['n']}: {self.ui(f'team_vote_{v}', lang)}",
                                        data=f"tv:{found.id}:{item['n']}:{code}")
                                 for code, v in VOTE_CODES.items()])
        return OutMessage(text=text, kind="prompt" if rows else "summary", buttons=rows)


def member_language(language_code: str | None) -> str:
    """A member's language from the channel's language code ('no', 'nn', 'nb' → nb; else da)."""
    return language_for(language_code, TEAM_LANGUAGES)


time_zone = zone_of


def _signed_int(value: float) -> str:
    """A whole number with its sign (percentage points)."""
    number = round(value)
    return ("+" if number > 0 else "−" if number < 0 else "±") + str(abs(number))
