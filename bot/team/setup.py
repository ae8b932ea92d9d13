"""Setting a group's check-ins up: the typed /checkin setup, pause/resume/off, status, and
the button wizard that asks for the settings one step at a time."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta

import aiosqlite

from bot.clock import iso, parse_iso
from bot.dialogue.state import OutMessage
from bot.locale import is_zone
from bot.schedule.times import find_zone
from bot.store import team as repo
from bot.team import core, wizard
from bot.team.delivery import Delivery
from bot.team.pulse import cadence as group_cadence
from bot.team.views import TEAM_LANGUAGES, Views

log = logging.getLogger(__name__)

WIZARD_LIFETIME = timedelta(days=1)  # a setup wizard left this long untouched is closed
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
_HOUR = re.compile(r"^([01]?\d|2[0-3])$")  # after 'kl.' or 'at' only
_SPACES = re.compile(r"[\s-]+")


class Setup:
    """One channel's group settings."""

    def __init__(self, out: Delivery, views: Views) -> None:
        """Reply through out, render with views."""
        self.out = out
        self.views = views
        self.store = out.store
        self.clock = out.clock
        self.channel = out.channel

    def vocabulary(self) -> dict[str, tuple[str, str | int]]:
        """Setup words in every language: cadence words and phrases (hyphenated, as the
        bot words them too: 'hver-anden-uge'), weekday names (their prefixes, and the forms
        'fredagen', 'torsdager', 'Fridays'), and the little words around a day or time."""
        table: dict[str, tuple[str, str | int]] = {}
        for lang in TEAM_LANGUAGES:
            for cadence in core.CADENCES:
                words = [*self.views.ui(f"team_words_{cadence}", lang).split(","),
                         self.views.ui(f"team_cadence_{cadence}", lang)]
                for word in words:
                    table[_SPACES.sub("-", word.strip().lower())] = ("cadence", cadence)
            for index, name in enumerate(self.views.ui("team_weekdays", lang).split(",")):
                name = name.strip().lower()
                for size in range(3, len(name) + 1):
                    table.setdefault(name[:size], ("weekday", index))
                for ending in ("en", "e", "er", "ene", "s"):
                    table.setdefault(name + ending, ("weekday", index))
            for word in self.views.ui("team_words_at", lang).split(","):
                table.setdefault(word.strip().lower(), ("at", 0))
            for word in self.views.ui("team_words_on", lang).split(","):
                table.setdefault(word.strip().lower(), ("on", 0))
        return table

    def parse_setup(self, tokens: list[str], group: repo.Group) -> str | None:
        """Apply setup words to a group's settings; return the first unreadable word, if any."""
        vocabulary = self.vocabulary()
        words = [token.strip("(),;") or token for token in tokens]
        index = 0
        at = False  # the word before was 'kl.'/'at': a bare hour ('kl. 14') is a time
        while index < len(words):
            token = words[index]
            word = token.lower()
            # Phrases first, longest first: 'hver anden uge', 'every other week'.
            for size in (4, 3, 2):
                phrase = "-".join(w.lower() for w in words[index:index + size])
                if index + size <= len(words) and vocabulary.get(phrase, ("",))[0] == "cadence":
                    word = phrase
                    index += size - 1
                    break
            index += 1
            match = _TIME.match(word)
            hour = _HOUR.match(word) if at else None
            at = False
            if word in vocabulary:
                kind, value = vocabulary[word]
                if kind == "cadence":
                    group.cadence = str(value)
                elif kind == "weekday":
                    group.weekday = int(value)
                at = kind == "at"
            elif match:
                group.at_time = f"{int(match.group(1)):02d}:{match.group(2)}"
            elif hour:
                group.at_time = f"{int(hour.group(1)):02d}:00"
            elif word in TEAM_LANGUAGES or word == "no":
                group.language = "nb" if word == "no" else word
            elif re.fullmatch(r"min(imum)?=?\d{1,2}", word):
                group.min_respondents = core.threshold(int(re.sub(r"\D", "", word)))
            elif re.fullmatch(r"\d{1,3}h", word) and 1 <= int(word[:-1]) <= 336:
                group.open_hours = int(word[:-1])
            elif "/" in token or word == "utc":
                zone = find_zone(token) or token
                if not is_zone(zone):
                    return token
                group.timezone = zone
            else:
                return token
        return None

    async def setup(self, chat_id: str, lang: str, tokens: list[str]) -> None:
        """Choose cadence, weekday, time, time zone and language, and switch the pulse on;
        with no words, open the button wizard that asks for them one at a time."""
        if not tokens:
            await self.start_wizard(chat_id, lang)
            return
        async with self.store.transaction() as tx:
            # A wizard still open here (its time step itself suggests '/checkin setup 13:45'):
            # the typed words complete the choices pressed so far, and the wizard closes, so a
            # late press on it cannot overwrite what was typed.
            started = await repo.open_wizard(tx, self.channel, chat_id)
            if started is not None and (
                    parse_iso(started.updated_at) + WIZARD_LIFETIME < self.clock.now()):
                started = None

            def change(group: repo.Group) -> str | None:
                """The wizard's choices so far, then the typed words."""
                if started is not None:
                    wizard.adopt(started, group)
                return self.parse_setup(tokens, group)

            group, bad = await self.configure(tx, chat_id, lang, change)
            replaced = await repo.replace_wizards(tx, self.channel, chat_id) if bad is None else []
        if bad is not None:
            await self.out.reply(chat_id, self.views.ui("team_setup_bad", group.language,
                                                        token=bad[:40]))
            return
        for message_id in replaced:
            await self.out.edit(chat_id, message_id, OutMessage(text=self.views.ui(
                "team_wizard_replaced", wizard.lang_of(started) if started else group.language)),
                optional=True)
        await self.out.reply(chat_id, self.views.settings_text(group))

    async def configure(self, tx: aiosqlite.Connection, chat_id: str, lang: str,
                         change: Callable[[repo.Group], str | None]
                         ) -> tuple[repo.Group, str | None]:
        """Apply a change to a group's settings and switch its pulse on, in the caller's
        transaction; the typed setup and the wizard both come here. Returns the group and the
        change's complaint (nothing is saved then)."""
        now = self.clock.now()
        group = await repo.ensure_group(tx, self.channel, chat_id, lang, iso(now))
        bad = change(group)
        if bad is None:
            group.status = "active"
            group.next_pulse_at = iso(core.first_occurrence(group_cadence(group), now))
            await repo.save_group(tx, group, iso(now))
        return group, bad

    async def status(self, chat_id: str, lang: str) -> None:
        """Tell the admin the current settings."""
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, self.channel, chat_id)
        text = self.views.settings_text(group) if group else self.views.ui("team_status_off", lang)
        await self.out.reply(chat_id, text)

    async def switch(self, chat_id: str, lang: str, how: str) -> None:
        """Pause, resume or switch off the regular pulse (an open pulse runs to its close).
        A group with no regular pulse (never set up, or switched off) has nothing to pause or
        resume: it is told to use /checkin setup, which shows the schedule it starts, rather
        than getting a default one silently."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, self.channel, chat_id)
            if group is None or (group.status == "off" and how != "off"):
                group = None
            elif how == "resume":
                group.status = "active"
                group.next_pulse_at = iso(core.first_occurrence(group_cadence(group), now))
            else:
                group.status = "paused" if how == "pause" else "off"
                group.next_pulse_at = None
            if group is not None:
                await repo.save_group(tx, group, iso(now))
        if group is None:
            await self.out.reply(chat_id, self.views.ui("team_status_off", lang))
            return
        key = {"pause": "team_paused", "off": "team_off"}.get(how)
        await self.out.reply(chat_id, self.views.ui(key, group.language) if key
                          else self.views.settings_text(group))

    async def start_wizard(self, chat_id: str, lang: str) -> None:
        """Post the wizard's one message, starting from the group's settings if it has any;
        an older wizard still open in the group is closed."""
        now = iso(self.clock.now())
        async with self.store.transaction() as tx:
            group = await repo.get_group(tx, self.channel, chat_id)
            replaced = await repo.replace_wizards(tx, self.channel, chat_id)
            found = await repo.create_wizard(tx, self.channel, chat_id,
                                             group.language if group else lang,
                                             group, now)
        for message_id in replaced:
            # Take the old buttons away when the budget allows; pressed, they are closed anyway.
            await self.out.edit(chat_id, message_id,
                             OutMessage(text=self.views.ui("team_wizard_replaced", found.language)),
                             optional=True)
        posted = await self.out.post(chat_id, wizard.render(found, self.views.ui))
        async with self.store.transaction() as tx:
            await repo.set_wizard_message(tx, found.id, posted)

    async def wizard_button(self, chat_id: str, user_id: str, parts: list[str],
                             fallback: str) -> str:
        """An admin moves the wizard on (choice, back, cancel, save); returns the toast."""
        press = wizard.parse(parts)
        async with self.store.transaction() as tx:
            found = await repo.get_wizard(tx, press.wizard_id) if press else None
        refusal = self.wizard_refusal(found, press, chat_id, fallback)
        if refusal is not None:
            return refusal
        assert found is not None and press is not None
        lang = wizard.lang_of(found)
        # Checked on every press, as rights can be taken away while a wizard is open (Telegram's
        # answer is remembered for up to ADMIN_CACHE_TTL, so a demotion shows within a minute).
        if not await self.out.is_admin(chat_id, user_id):
            return self.views.ui("team_toast_wizard_admins", lang)
        if self.out.pacer.used(chat_id) >= self.out.pacer.limit:
            return self.views.ui("team_toast_wizard_busy", lang)  # the group's minute is spent
        async with self.store.transaction() as tx:
            # Read again inside the write transaction: the version check and the update are
            # one step, so of two admins pressing the same screen only the first gets through.
            current = await repo.get_wizard(tx, press.wizard_id)
            if current is None or current.version != press.version or (
                    not wizard.apply(current, press.code)) or (
                    not await repo.save_wizard(tx, current, press.version,
                                               iso(self.clock.now()))):
                return self.views.ui("team_toast_wizard_moved", lang)
            group = None
            if current.status == "saved":
                group, _ = await self.configure(tx, chat_id, lang,
                                                 lambda g: wizard.settle(current, g))
        if group is None:
            await self.out.edit(chat_id, current.message_id, wizard.render(current, self.views.ui))
            return ""
        log.info("team settings saved from the setup wizard")
        # The same confirmation the typed setup gives, in place of the wizard.
        await self.out.edit(chat_id, current.message_id,
                            OutMessage(text=self.views.settings_text(group)))
        return self.views.ui("team_toast_wizard_saved", group.language)

    def wizard_refusal(self, found: repo.Wizard | None, press: wizard.Press | None,
                        chat_id: str, fallback: str) -> str | None:
        """The toast for a press that must change nothing (checked before Telegram is asked
        anything): unknown, altered or another group's data, a finished, replaced or
        abandoned wizard, or a screen that has moved on."""
        if found is None or press is None or found.channel != self.channel or (
                found.chat_id != chat_id) or (
                found.status != "open") or (
                parse_iso(found.updated_at) + WIZARD_LIFETIME < self.clock.now()):
            return self.views.ui("team_toast_wizard_closed",
                           wizard.lang_of(found) if found else fallback)
        if found.version != press.version:
            return self.views.ui("team_toast_wizard_moved", wizard.lang_of(found))
        if press.code not in wizard.offered(found):
            return self.views.ui("team_toast_wizard_closed", wizard.lang_of(found))
        return None
