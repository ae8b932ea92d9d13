"""PTB on aiohttp (bot/channels/telegram_request.py): a real PTB Application and Bot against the
Bot API stand-in, uploads, PTB's error mapping, timeouts and transport failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot, InputFile, Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes, MessageHandler, filters
from telegram.request import BaseRequest

from bot.channels.telegram_metrics import MetricsRequest, requests
from bot.channels.telegram_request import AiohttpRequest
from tests.botapi_standin import BotApiStandIn


@contextlib.asynccontextmanager
async def bot_on(api: BotApiStandIn, request: AiohttpRequest) -> AsyncIterator[Bot]:
    """A PTB Bot of the stand-in's token whose calls go through the request."""
    bot = Bot(api.token, base_url=api.base_url, request=request,
              get_updates_request=AiohttpRequest(connection_pool_size=1))
    await bot.initialize()
    try:
        yield bot
    finally:
        await bot.shutdown()


async def test_a_ptb_application_polls_and_replies_through_aiohttp() -> None:
    async with BotApiStandIn() as api:
        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.effective_message is not None
            await update.effective_message.reply_text(f"ekko: {update.effective_message.text}")

        app = (Application.builder().token(api.token).base_url(api.base_url)
               .request(requests()["request"])
               .get_updates_request(requests()["get_updates_request"]).build())
        app.add_handler(MessageHandler(filters.TEXT, echo))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            leader = api.user(301, "Åse")
            api.send_text(leader, "Blåbærgrød & 50 % — /ok?")
            await api.wait_for(lambda: api.sent_texts(301), what="the echo")
            await app.updater.stop()
            await app.stop()
    assert api.sent_texts(301) == ["ekko: Blåbærgrød & 50 % — /ok?"]
    assert isinstance(app.bot.request, MetricsRequest)


async def test_uploads_go_as_multipart_with_their_parameters() -> None:
    async with BotApiStandIn() as api, bot_on(api, AiohttpRequest()) as bot:
        api.user(302, "Bo")
        data = bytes(range(256)) * 40
        await bot.send_document(302, InputFile(data, filename="eksport æøå.json"),
                                caption="Din eksport")
    [call] = api.calls_of("sendDocument")
    assert call.params["caption"] == "Din eksport"
    assert call.files["document"] == ("eksport æøå.json", len(data))


async def test_telegram_refusals_become_ptbs_own_exceptions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # as the bot runs PTB (bot/channels/telegram.py)
    async with BotApiStandIn() as api, bot_on(api, AiohttpRequest()) as bot:
        api.user(303, "Carl")
        api.fail_next("sendMessage", 400, "Bad Request: chat not found")
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(303, "hej")
        api.fail_next("sendMessage", 429, retry_after=7)
        with pytest.raises(RetryAfter) as retry:
            await bot.send_message(303, "hej")
        assert retry.value.retry_after.total_seconds() == 7  # type: ignore[union-attr]
        api.fail_next("sendMessage", 502, "Bad Gateway")
        with pytest.raises(NetworkError):
            await bot.send_message(303, "hej")
        await bot.send_message(303, "igen")
    assert api.sent_texts(303) == ["igen"]


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 that reads requests and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read(65536)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_a_silent_server_times_out_and_a_closed_port_is_a_network_error() -> None:
    request = AiohttpRequest(read_timeout=0.2)
    await request.initialize()
    try:
        async with silent_server() as base:
            with pytest.raises(TimedOut):
                await request.post(f"{base}123:abc/getMe")
            with pytest.raises(TimedOut):  # a timeout passed per call wins over the default
                await request.post(f"{base}123:abc/getMe", read_timeout=0.1)
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        with pytest.raises(NetworkError) as failed:
            await request.post(f"http://127.0.0.1:{port}/bot123:abc/getMe")
        assert not isinstance(failed.value, TimedOut)
        assert str(failed.value).startswith("aiohttp.")
    finally:
        await request.shutdown()


async def test_timeouts_follow_ptbs_defaults_and_per_call_values() -> None:
    request = AiohttpRequest()
    default: Any = BaseRequest.DEFAULT_NONE
    plain = request._timeout(False, default, default, default, default)
    assert (plain.sock_read, plain.sock_connect, plain.connect) == (5.0, 5.0, 6.0)
    upload = request._timeout(True, default, default, default, default)
    assert upload.sock_read == 25.0  # read 5 s after a write of up to 20 s
    poll = request._timeout(False, 15.0, default, 2.0, None)
    assert (poll.sock_read, poll.sock_connect, poll.connect) == (15.0, 2.0, 2.0)
    endless = request._timeout(False, None, None, None, None)
    assert (endless.sock_read, endless.connect) == (None, None)
    assert request.read_timeout == 5.0


async def test_an_unopened_or_closed_request_refuses_to_send() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/bot1:a/getMe", "POST")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/bot1:a/getMe", "POST")


@contextlib.asynccontextmanager
async def recording_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP proxy on 127.0.0.1 that answers every request as getMe would and records each
    request line (a proxied request names the whole target URL in it)."""
    lines: list[str] = []
    body = (b'{"ok": true, "result": {"id": 123, "is_bot": true, "first_name": "Prox",'
            b' "username": "prox_bot"}}')

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines.append(head.split(b"\r\n", 1)[0].decode())
        length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                       if h.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", lines
    finally:
        server.close()


async def test_the_proxy_from_the_environment_carries_requests_unless_no_proxy_names_the_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    closed = probe.sockets[0].getsockname()[1]  # nothing listens here: only a proxy can answer
    probe.close()
    await probe.wait_closed()
    async with recording_proxy() as (proxy, lines):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        request = AiohttpRequest()
        await request.initialize()
        try:
            for _ in range(2):
                await request.post(f"http://127.0.0.1:{closed}/bot123:abc/getMe")
        finally:
            await request.shutdown()
        assert lines == [f"POST http://127.0.0.1:{closed}/bot123:abc/getMe HTTP/1.1"] * 2
        async with BotApiStandIn() as api:
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            async with bot_on(api, AiohttpRequest()) as bot:
                assert (await bot.get_me()).id != 123  # the stand-in's own bot, directly
        assert len(lines) == 2
