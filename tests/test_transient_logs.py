"""Logs an operator can alert on (issue 17): a platform fault the bot retries and survives is a
one-line WARNING without a traceback; ERROR is kept for what a person must look at.

Against the real PTB Application and the Bot API stand-in (getUpdates answering 500 once, a
send answering 500 and 429 once) and the Teams connector stand-in (5xx and 429)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient
from telegram.error import Conflict, Forbidden, NetworkError, TimedOut

from bot.channels.teams_send import ConnectorSender
from bot.channels.telegram import polling_error
from tests.botapi_standin import BotApiStandIn
from tests.connector_standin import ConnectorStandIn
from tests.test_teams_send import FakeTime
from tests.tgkit import InProcessBot, Phone, until


def one_line(record: logging.LogRecord) -> bool:
    """No traceback and no second line."""
    return record.exc_info is None and record.stack_info is None and (
        "\n" not in record.getMessage())


async def test_a_500_on_get_updates_is_one_warning_and_polling_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bot.db"
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.INFO, logger="telegram")
    async with BotApiStandIn() as api, InProcessBot(api, db, ACCESS_MODE="open"):
        phone = Phone(api, db, api.user(6301, "Alice", "da"))
        await phone.say("/start")  # the bot is polling
        api.fail_next("getUpdates", 500)
        polls = api.polls
        await until(lambda: api.polls > polls + 1, what="a poll after the failed one")
        # A send that fails once with a 500 and once with a 429 is retried, and arrives.
        api.fail_next("sendMessage", 500)
        api.fail_next("sendMessage", 429, retry_after=1)
        await phone.say("/help")
        assert phone.last()["text"]
    failed = [c for c in api.calls if not c.ok]
    assert [(c.method, c.status) for c in failed] == [
        ("getUpdates", 500), ("sendMessage", 500), ("sendMessage", 429)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("fetching updates failed with NetworkError" in r.getMessage()
               for r in warnings), [r.getMessage() for r in warnings]
    assert any("sendMessage failed with a server or network error" in r.getMessage()
               for r in warnings)
    assert all(one_line(r) for r in caplog.records if r.levelno >= logging.WARNING)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(("error", "level"), [
    (NetworkError("Internal Server Error (500)"), logging.WARNING),
    (NetworkError("httpx.ConnectError: All connection attempts failed"), logging.WARNING),
    (NetworkError("Bad Gateway"), logging.WARNING),
    (TimedOut(), logging.WARNING),
    (Conflict("terminated by other getUpdates request"), logging.ERROR),
    (Forbidden("Forbidden: bot was blocked"), logging.ERROR),
])
def test_the_polling_error_callback_logs_one_line_by_kind(
        error: Exception, level: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    polling_error(error)  # type: ignore[arg-type]
    [record] = caplog.records
    assert record.levelno == level and one_line(record)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_teams_connector_faults_that_are_retried_are_one_line_warnings(
        status: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeTime()
    async with ConnectorStandIn() as connector:
        client = TeamsConnectorClient(endpoint=connector.service_url, token="")
        try:
            sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep, backoff=0.5)
            connector.fail_next("POST", status, retry_after=2 if status == 429 else None)
            await sender.send(client.conversations, "a:one", "t-1",
                              Activity(type="message", text="hej"))
        finally:
            await client.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(";")[0] for r in warnings] == [f"Teams send got {status}"]
    assert all(one_line(r) for r in caplog.records if r.levelno >= logging.WARNING)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
