"""End to end: the real `tillidsbot run` process against the Bot API stand-in on 127.0.0.1.

A leader is invited with `tillidsbot invite create`, opens the link (/start CODE), answers the
first-contact questions and the pre-delegation check by pressing inline buttons and typing;
the bot is killed mid-conversation, restarted, and the conversation continues from the same
question until the summary arrives.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bot.channels.compose import JOIN
from bot.dialogue import Dialogues
from tests.botapi_standin import BotApiStandIn
from tests.conftest import ROOT
from tests.tgkit import SAMPLE_ANSWERS, BotProcess, Phone, bot_command, query, said, walk


async def invite(db: Path, *args: str) -> str:
    """Create an invite code with the real CLI; return the code it printed."""
    proc = await asyncio.create_subprocess_exec(
        *bot_command(), "--db", str(db), "invite", "create", *args, cwd=ROOT,
        env={**os.environ}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    first = out.decode().splitlines()[0]
    assert first.startswith("Invite code: ")
    return first.split()[2]


async def test_invited_leader_finishes_the_delegation_check_across_a_crash(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    code = await invite(db, "--uses", "1")
    ui = real_dialogues.strings
    async with BotApiStandIn() as api:
        bot = await BotProcess(api, db).start()
        leader = api.user(4242, "Lene", "da")
        phone = Phone(api, db, leader)

        await phone.say(f"/start {code}")
        assert said(ui("welcome", "da"), phone.texts_since(0))
        assert query(db, "SELECT leader_id FROM leaders") == [("tg:4242",)]
        await phone.press()  # language
        await phone.press()  # time zone
        # One message: the time zone, the weekly time offered and the menu.
        parts = phone.last()["text"].split(JOIN)
        assert [parts[0], parts[-1], len(parts)] == [
            ui("ob_timezone_set", "da", timezone="Europe/Copenhagen"), ui("menu", "da"), 3]

        await phone.say("/delegate")
        typed = await walk(phone, real_dialogues, steps=4)
        question = phone.last()["text"]
        step = phone.step()
        assert step is not None

        await bot.kill()
        api.note(leader.id, "the bot process is killed (SIGKILL) and started again")
        first_log = bot.output
        bot = await BotProcess(api, db, args=()).start()  # bare `tillidsbot` with a token
        mark = phone.mark()
        await phone.say("/start")
        after_restart = phone.texts_since(mark)
        # One message: the welcome, 'where we were' and the open question.
        assert after_restart == [JOIN.join([ui("welcome", "da"), ui("resume", "da"), question])]
        assert phone.step() == step

        typed += await walk(phone, real_dialogues, typed_before=len(typed))
        assert typed[0] == SAMPLE_ANSWERS[0]
        summary = [t for t in phone.texts_since(mark) if typed[0] in t and typed[1] in t]
        assert summary, "the summary quoting the leader's own words never arrived"
        rows = query(db, "SELECT status, summary IS NOT NULL FROM threads "
                         "WHERE conversation = 'delegation'")
        assert rows == [("finished", 1)]
        assert await bot.stop() == 0

    transcript = "\n".join(api.transcript(leader.id))
    (tmp_path / "transcript.txt").write_text(transcript, encoding="utf-8")
    print(transcript)
    logs = first_log + bot.output
    assert "receiving updates by polling" in logs
    assert api.token.split(":")[1] not in logs, "the token reached the log"
    assert typed[0] not in logs, "a leader's words reached the log"


async def test_invite_cli_lists_and_revokes_codes(tmp_path: Path,
                                                  real_dialogues: Dialogues) -> None:
    db = tmp_path / "bot.db"
    code = await invite(db, "--note", "Skoleforvaltningen")

    async def cli(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            *bot_command(), "--db", str(db), "invite", *args, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    code_list, listing = await cli("list")
    assert code_list == 0 and code in listing and "active" in listing
    assert "Skoleforvaltningen" in listing
    assert (await cli("revoke", code))[0] == 0
    assert (await cli("revoke", code))[0] == 1
    assert "revoked" in (await cli("list"))[1]
    async with BotApiStandIn() as api:
        bot = await BotProcess(api, db).start()
        late = api.user(5151, "Sen", "nb")
        api.send_text(late, f"/start {code}")
        refusal = real_dialogues.strings("tg_refused", "nb")
        await api.wait_for(lambda: api.sent_texts(late.id) == [refusal], what="a refusal")
        assert await bot.stop() == 0
    assert query(db, "SELECT COUNT(*) FROM leaders") == [(0,)]
