"""Red and green governance rounds: members send examples privately, the merged, anonymised
list is voted on in the group, and the admin who opened the round is told the result."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

import aiosqlite

from bot.clock import iso, parse_iso
from bot.dialogue.state import OutMessage
from bot.numbers import small_int
from bot.store import team as repo
from bot.store.db import Store
from bot.team import core
from bot.team.delivery import Delivery, Mark, at_most_once, guard
from bot.team.pulse import Keys
from bot.team.views import COLOUR_CODES, VOTE_CODES, Views, member_language

log = logging.getLogger(__name__)

DEFAULT_GOV_DAYS = 3
MAX_GOV_DAYS = 14
VOTE_HOURS = 48
MAX_EXAMPLES_PER_MEMBER = 5
DRAFT_LIFETIME = timedelta(hours=1)
NOTIFY_GIVE_UP = timedelta(days=1)
# Groups existed on Telegram only before they carried a channel; its members' draft hashes keep
# their old scope, so a member half-way through an example when the bot is upgraded keeps it.
LEGACY_CHANNEL = "telegram"


class DraftHolders:
    """Which (hashed) members may have a governance example under way, kept in memory.

    Every private message a leader sends would otherwise cost a read of team_gov_drafts to
    learn that it is not an example. The set is read from SQLite once, then kept up to date by
    the steps that start and end drafts; a hash in it is still checked against SQLite (the
    draft may have expired or its round moved on), a hash not in it costs nothing.
    """

    def __init__(self, store: Store) -> None:
        """Not read yet."""
        self.store = store
        self._hashes: set[str] | None = None

    async def _known(self, tx: aiosqlite.Connection | None = None) -> set[str]:
        """The set, read from SQLite the first time it is needed."""
        if self._hashes is None:
            if tx is None:
                async with self.store.transaction() as conn:
                    self._hashes = set(await repo.draft_holders(conn))
            else:
                self._hashes = set(await repo.draft_holders(tx))
        return self._hashes

    async def maybe(self, member_hash: str) -> bool:
        """Whether the member might have a draft (False is certain)."""
        return member_hash in await self._known()

    async def started(self, tx: aiosqlite.Connection, member_hash: str) -> None:
        """A draft was written in this transaction."""
        (await self._known(tx)).add(member_hash)

    def ended(self, member_hash: str) -> None:
        """The member's draft is gone (sent, dropped, or found expired)."""
        if self._hashes is not None:
            self._hashes.discard(member_hash)


class Governance:
    """One channel's governance rounds."""

    def __init__(self, out: Delivery, views: Views, key: Keys, drafts: DraftHolders) -> None:
        """Post through out, render with views, hash members with key."""
        self.out = out
        self.views = views
        self.key = key
        self.drafts = drafts
        self.store = out.store
        self.clock = out.clock
        self.channel = out.channel
        self.marks = out.marks

    def _draft_key(self, user_id: str) -> str:
        """A member's hash for their pending example (unique across channels)."""
        scope = "draft" if self.channel == LEGACY_CHANNEL else f"draft:{self.channel}"
        return self.key(scope, user_id)

    def invitation(self, found: repo.Round, group: repo.Group, count: int) -> OutMessage:
        """The round's group message with this channel's link to the private chat."""
        return self.views.invitation(found, group, count,
                                     self.out.gateway.round_link(found.token))

    async def command(self, chat_id: str, user_id: str | None, lang: str,
                      args: list[str]) -> None:
        """Open a round, or move the running one on with 'end'. The admin who opens it gets
        the result privately, unless they wrote anonymously (user_id None)."""
        ui = self.views.ui
        if args and args[0].lower() in ("end", "next", "slut", "stop"):
            async with self.store.transaction() as tx:
                found = await repo.live_round(tx, self.channel, chat_id)
                if found is not None and found.status == "collecting":
                    await repo.set_round(tx, found.id, collect_until=iso(self.clock.now()))
            if found is None:
                await self.out.reply(chat_id, ui("team_gov_none", lang))
            elif found.status == "collecting":
                await self.start_vote(found.id)
            else:
                await self.close_vote(found.id)
            return
        days = DEFAULT_GOV_DAYS
        if args and small_int(args[0]) is not None:
            days = min(max(int(args[0]), 1), MAX_GOV_DAYS)
        now = self.clock.now()
        async with self.store.transaction() as tx:
            group = await repo.ensure_group(tx, self.channel, chat_id, lang, iso(now))
            if await repo.live_round(tx, self.channel, chat_id) is not None:
                created = None
            else:
                created = await repo.create_round(
                    tx, self.channel, chat_id, secrets.token_urlsafe(9), group.language,
                    user_id, iso(now), iso(now + timedelta(days=days)), VOTE_HOURS)
        if created is None:
            await self.out.reply(chat_id, ui("team_gov_already", group.language))
            return
        log.info("team governance round %d opened", created.id)
        message_id = await self.out.post(chat_id, self.invitation(created, group, 0))
        async with self.store.transaction() as tx:
            await repo.set_round(tx, created.id, message_id=message_id)
        if user_id is None:
            await self.out.reply(chat_id, ui("team_gov_leader_anonymous", group.language))
            return
        try:
            await self.out.private(user_id, OutMessage(text=ui("team_gov_leader_hello",
                                                               group.language)))
        except Exception as exc:  # the leader never opened a private chat with the bot
            log.info("leader of round %d not reachable privately (%s)", created.id,
                     type(exc).__name__)
            await self.out.reply(chat_id, ui("team_gov_leader_unreachable", group.language,
                                             link=self.out.gateway.private_link()))

    async def _open_round(self, tx: aiosqlite.Connection, token: str) -> tuple[
            repo.Round | None, bool]:
        """This channel's round with a link token, and whether it still collects examples."""
        found = await repo.round_by_token(tx, self.channel, token)
        open_ = found is not None and found.status == "collecting" and (
            parse_iso(found.collect_until) > self.clock.now())
        return found, open_

    async def private_start(self, chat_id: str, user_id: str, payload: str,
                            language_code: str | None = None) -> bool:
        """A member arrived through a round's link; False if the payload is not one. With no
        round to take a language from, the member's own is used."""
        token = self.out.gateway.round_token(payload)
        if token is None:
            return False
        ui = self.views.ui
        async with self.store.transaction() as tx:
            found, open_ = await self._open_round(tx, token)
            if found is not None and open_:
                draft_key = self._draft_key(user_id)
                await repo.set_draft(tx, draft_key, found.id, None, iso(self.clock.now()))
                await self.drafts.started(tx, draft_key)
        if found is None:
            await self.out.private(chat_id, OutMessage(text=ui(
                "team_gov_unknown_link", member_language(language_code))))
        elif not open_:
            await self.out.private(chat_id, OutMessage(text=ui("team_gov_round_closed",
                                                               found.language)))
        else:
            await self.out.private(chat_id, OutMessage(
                text=ui("team_gov_intro", found.language), kind="prompt",
                buttons=self.views.colour_buttons(found)))
        return True

    async def colour_button(self, chat_id: str, user_id: str, parts: list[str],
                            fallback: str) -> str:
        """A member chose red or green for the example they are about to write."""
        ui = self.views.ui
        if len(parts) != 2 or parts[1] not in COLOUR_CODES:
            return ui("team_toast_stale", fallback)
        repeated = False
        async with self.store.transaction() as tx:
            found, open_ = await self._open_round(tx, parts[0])
            if found is not None and open_:
                draft_key = self._draft_key(user_id)
                # The same colour again (a double tap): the question is asked already.
                repeated = await repo.get_draft(tx, draft_key) == (
                    found.id, COLOUR_CODES[parts[1]])
                if not repeated:
                    await repo.set_draft(tx, draft_key, found.id, COLOUR_CODES[parts[1]],
                                         iso(self.clock.now()))
                    await self.drafts.started(tx, draft_key)
        if found is None or repeated:
            return ui("team_toast_stale", found.language if found else fallback)
        if not open_:
            await self.out.private(chat_id, OutMessage(text=ui("team_gov_round_closed",
                                                               found.language)))
            return ""
        await self.out.private(chat_id, OutMessage(text=ui(
            "team_gov_ask_text", found.language, limit=core.EXAMPLE_LIMIT)))
        return ""

    async def has_draft(self, user_id: str) -> bool:
        """Whether a member is in the middle of sending a governance example (read-only;
        free for someone who has not started one)."""
        draft_key = self._draft_key(user_id)
        if not await self.drafts.maybe(draft_key):
            return False
        async with self.store.read() as conn:  # no write lock for a look
            draft = await repo.get_draft(conn, draft_key)
            created = await repo.draft_created(conn, draft_key)
        if draft is None or created is None:
            self.drafts.ended(draft_key)
            return False
        return parse_iso(created) + DRAFT_LIFETIME > self.clock.now()

    async def private_text(self, chat_id: str, user_id: str, text: str | None,
                           language_code: str | None = None) -> bool:
        """A member's example (text None: a photo, sticker…); False when no example is awaited."""
        ui = self.views.ui
        now = self.clock.now()
        draft_key = self._draft_key(user_id)
        if not await self.drafts.maybe(draft_key):
            return False
        reply: OutMessage
        added = None
        async with self.store.transaction() as tx:
            draft = await repo.get_draft(tx, draft_key)
            created = await repo.draft_created(tx, draft_key)
            if draft is None or created is None:
                self.drafts.ended(draft_key)
                return False
            if parse_iso(created) + DRAFT_LIFETIME <= now:
                # An hour later an ordinary message is not an example any more.
                await repo.drop_draft(tx, draft_key)
                self.drafts.ended(draft_key)
                return False
            found = await repo.get_round(tx, draft[0])
            if found is None or found.status != "collecting" or (
                    parse_iso(found.collect_until) <= now):
                await repo.drop_draft(tx, draft_key)
                self.drafts.ended(draft_key)
                lang = found.language if found else member_language(language_code)
                reply = OutMessage(text=ui("team_gov_round_closed", lang))
            elif draft[1] is None:
                reply = OutMessage(text=ui("team_gov_pick_colour", found.language),
                                   kind="prompt", buttons=self.views.colour_buttons(found))
            elif text is None or not core.normalise(core.anonymise(text)):
                reply = OutMessage(text=ui("team_gov_text_only", found.language))
            elif len(text.strip()) > core.EXAMPLE_LIMIT:
                reply = OutMessage(text=ui("team_gov_too_long", found.language,
                                           length=len(text.strip()), limit=core.EXAMPLE_LIMIT))
            else:
                contributor = self.key(f"contrib:{found.id}", user_id)
                if await repo.contributions(tx, found.id, contributor) >= MAX_EXAMPLES_PER_MEMBER:
                    await repo.drop_draft(tx, draft_key)
                    self.drafts.ended(draft_key)
                    reply = OutMessage(text=ui("team_gov_limit", found.language,
                                               limit=MAX_EXAMPLES_PER_MEMBER))
                else:
                    await repo.add_example(tx, found.id, secrets.token_hex(8), draft[1],
                                           core.anonymise(text), contributor)
                    await repo.drop_draft(tx, draft_key)
                    self.drafts.ended(draft_key)
                    added = found
                    reply = OutMessage(text=ui("team_gov_thanks", found.language),
                                       kind="prompt", buttons=self.views.colour_buttons(found))
        await self.out.private(chat_id, reply)
        if added is not None:
            await self.show_examples(added.id, added.chat_id)
        return True

    async def show_examples(self, round_id: int, chat_id: str) -> None:
        """Edit the invitation to the current number of examples, if the budget allows (one
        edit at a time in the group)."""
        async with self.out.lock(chat_id):
            async with self.store.transaction() as tx:
                found = await repo.get_round(tx, round_id)
                if found is None or found.status != "collecting":
                    return
                group = await repo.get_group(tx, found.channel, found.chat_id)
                count = await repo.example_count(tx, round_id)
            if group is None or count == found.shown_count:
                return
            if await self.out.edit(found.chat_id, found.message_id,
                                   self.invitation(found, group, count), optional=True):
                async with self.store.transaction() as tx:
                    await repo.set_round(tx, round_id, shown_count=count)

    async def start_vote(self, round_id: int) -> None:
        """End collection: merge and publish the examples with a vote on each red one."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status != "collecting":
                return
            group = await repo.get_group(tx, found.channel, found.chat_id)
            assert group is not None
            minimum = core.threshold(group.min_respondents)
            contributors = await repo.contributor_count(tx, round_id)
            merged = core.merge_examples(await repo.examples_of(tx, round_id))
            items: list[dict[str, Any]] = []
            number = 0
            for example in merged:
                if example.colour == "red":
                    number += 1
                items.append({"n": number if example.colour == "red" else 0,
                              "colour": example.colour, "text": example.text,
                              "count": example.count})
            result: dict[str, Any] = {"contributors": contributors, "minimum": minimum}
            if contributors < minimum or not items:
                result["too_few"] = "examples"
                await repo.set_round(tx, round_id, status="closed", closed_at=iso(now),
                                     result=result)
            elif number == 0:
                await repo.set_round(tx, round_id, status="closed", closed_at=iso(now),
                                     items=items, result={**result, "voters": 0})
            else:
                await repo.set_round(tx, round_id, status="voting", items=items, result=result,
                                     vote_until=iso(now + timedelta(hours=found.vote_hours)))
            # Only the merged, anonymised list survives; raw rows and counts go.
            await repo.forget_round_inputs(tx, round_id)
            found = await repo.get_round(tx, round_id)
        assert found is not None
        await self.out.edit(found.chat_id, found.message_id, self.invitation(found, group, 0))
        if found.status == "voting":
            message_id = await self.out.post(found.chat_id,
                                             self.views.vote_message(found, group, 0))
            async with self.store.transaction() as tx:
                await repo.set_round(tx, round_id, vote_message_id=message_id)
        else:
            await self.out.post(found.chat_id, self.views.vote_message(found, group, 0))
            await self.notify_leader(round_id)

    async def vote_button(self, chat_id: str, user_id: str, parts: list[str],
                          fallback: str) -> str:
        """A member votes on a red example (or changes the vote)."""
        ui = self.views.ui
        if len(parts) != 3 or any(small_int(p) is None for p in parts[:2]) or (
                parts[2] not in VOTE_CODES):
            return ui("team_toast_stale", fallback)
        async with self.store.transaction() as tx:
            # As for pulse answers: a press in the group's old chat still counts.
            chat_id = await repo.moved_to(tx, self.channel, chat_id) or chat_id
            found = await repo.get_round(tx, int(parts[0]))
            item = int(parts[1])
            reds = {i["n"] for i in (found.items or []) if i["colour"] == "red"} if found else set()
            if found is None or found.channel != self.channel or found.chat_id != chat_id or (
                    item not in reds):
                return ui("team_toast_stale", found.language if found else fallback)
            if found.status != "voting" or (
                    found.vote_until and parse_iso(found.vote_until) <= self.clock.now()):
                return ui("team_toast_closed", found.language)
            await repo.put_vote(tx, found.id, item, self.key(f"vote:{found.id}", user_id),
                                VOTE_CODES[parts[2]])
            voters = await repo.voter_count(tx, found.id)
            group = await repo.get_group(tx, self.channel, chat_id)
        if voters != found.shown_count and group is not None and await self.out.edit(
                chat_id, found.vote_message_id, self.views.vote_message(found, group, voters),
                optional=True):
            async with self.store.transaction() as tx:
                await repo.set_round(tx, found.id, shown_count=voters)
        return ui("team_toast_voted", found.language)

    async def close_vote(self, round_id: int) -> None:
        """End the vote: tally, forget the individual votes, show the result, tell the leader."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status != "voting":
                return
            group = await repo.get_group(tx, found.channel, found.chat_id)
            assert group is not None
            result = dict(found.result or {})
            minimum = int(result.get("minimum", core.MIN_RESPONDENTS))
            voters = await repo.voter_count(tx, round_id)
            reds = [i["n"] for i in found.items or [] if i["colour"] == "red"]
            result["voters"] = voters
            if voters < minimum:
                result["too_few"] = "votes"
            else:
                tallies = core.tally(await repo.votes_of(tx, round_id), reds)
                result["tallies"] = {str(k): v for k, v in tallies.items()}
            await repo.set_round(tx, round_id, status="closed", closed_at=iso(now),
                                 result=result)
            await repo.forget_round_inputs(tx, round_id, votes=True)
            found = await repo.get_round(tx, round_id)
        assert found is not None
        log.info("team governance round %d closed", round_id)
        final = self.views.vote_message(found, group, voters)
        if found.vote_message_id is None:
            # The vote message stayed behind when the group moved chat id: post the result.
            await self.out.post(found.chat_id, final)
        else:
            await self.out.edit(found.chat_id, found.vote_message_id, final)
        await self.notify_leader(round_id)

    @at_most_once("notify")
    async def notify_leader(self, round_id: int, mark: Mark) -> None:
        """Send the result privately to the admin who opened the round."""
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status != "closed" or found.notified:
                return
            group = await repo.get_group(tx, found.channel, found.chat_id)
            if found.leader_chat is None:
                await repo.leader_told(tx, round_id)  # the leader had their data erased
                return
            if found.closed_at and parse_iso(found.closed_at) + NOTIFY_GIVE_UP < self.clock.now():
                await repo.leader_told(tx, round_id)
                log.warning("gave up telling the leader of round %d the result", round_id)
                return
        assert group is not None
        voters = int((found.result or {}).get("voters", 0))
        text = self.views.vote_view(found, group, voters, "leader")
        async with mark as mine:
            if not mine:
                return
            await self.out.private(found.leader_chat, OutMessage(text=text, kind="summary"))
            async with self.store.transaction() as tx:
                await repo.leader_told(tx, round_id)

    async def repost(self, round_id: int) -> None:
        """Post a live round's message again (its old one is in a chat that is gone)."""
        async with self.store.transaction() as tx:
            found = await repo.get_round(tx, round_id)
            if found is None or found.status == "closed":
                return
            group = await repo.get_group(tx, found.channel, found.chat_id)
            collecting = found.status == "collecting"
            count = await (repo.example_count(tx, round_id) if collecting
                           else repo.voter_count(tx, round_id))
        if group is None:
            return
        if collecting:
            message_id = await self.out.post(found.chat_id, self.invitation(found, group, count))
            async with self.store.transaction() as tx:
                await repo.set_round(tx, round_id, message_id=message_id, shown_count=count)
        else:
            message_id = await self.out.post(found.chat_id,
                                             self.views.vote_message(found, group, count))
            async with self.store.transaction() as tx:
                await repo.set_round(tx, round_id, vote_message_id=message_id, shown_count=count)

    async def tick(self, now: str) -> None:
        """Move this channel's rounds on whose time has come, and tell leaders not yet told."""
        async with self.store.transaction() as tx:
            rounds = await repo.rounds_due(tx, self.channel, now)
        for found in rounds:
            step = {"collecting": self.start_vote, "voting": self.close_vote,
                    "closed": self.notify_leader}[found.status]
            await guard(step(found.id), "moving a governance round on")
