"""The Teams connector sender against the stand-in: pacing per conversation and tenant (with an
injected clock: nothing waits for real), Retry-After, retries, and no doubles on 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from bot.channels.teams_send import (
    CONVERSATION_WINDOWS,
    ConnectorSender,
    TeamsSendError,
    Windows,
)
from tests.connector_standin import ConnectorStandIn

TENANT = "t-1"


class FakeTime:
    """A monotonic clock that sleep() moves forward: every wait is recorded, none is real."""

    def __init__(self) -> None:
        """Start at 1000 s."""
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        """Now."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance time instead of waiting."""
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
async def connector() -> AsyncIterator[ConnectorStandIn]:
    """The stand-in on 127.0.0.1."""
    async with ConnectorStandIn() as standin:
        yield standin


@pytest.fixture
async def client(connector: ConnectorStandIn) -> AsyncIterator[TeamsConnectorClient]:
    """The SDK's own connector client, pointed at the stand-in."""
    sdk = TeamsConnectorClient(endpoint=connector.service_url, token="")
    yield sdk
    await sdk.close()


def message(text: str) -> Activity:
    """A message activity."""
    return Activity(type="message", text=text)


async def test_sends_are_paced_per_conversation_under_every_window(
        connector: ConnectorStandIn, client: TeamsConnectorClient) -> None:
    fake = FakeTime()
    sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep)
    sent_at: list[float] = []
    for n in range(70):
        await sender.send(client.conversations, "a:one", TENANT, message(str(n)))
        sent_at.append(fake.now)
    assert [a["text"] for a in connector.messages("a:one")] == [str(n) for n in range(70)]
    for count, seconds in CONVERSATION_WINDOWS:
        for i in range(len(sent_at) - count):
            # No `count + 1` sends fit into one window of `seconds`.
            assert sent_at[i + count] - sent_at[i] >= seconds, (count, seconds, i)
    # Another conversation is not held up by the first one's windows.
    before = fake.now
    await sender.send(client.conversations, "a:two", TENANT, message("x"))
    assert fake.now == before


def test_the_tenant_ceiling_holds_across_conversations() -> None:
    fake = FakeTime()
    windows = Windows(((50, 1.0),), fake.clock, fake.sleep)
    assert windows.wait_time("t") == 0
    import asyncio

    async def burst() -> list[float]:
        """110 operations of one tenant."""
        times = []
        for _ in range(110):
            await windows.acquire("t")
            times.append(fake.now)
        return times

    times = asyncio.run(burst())
    for i in range(len(times) - 50):
        assert times[i + 50] - times[i] >= 1.0


async def test_429_waits_for_retry_after_and_the_message_arrives_once(
        connector: ConnectorStandIn, client: TeamsConnectorClient) -> None:
    fake = FakeTime()
    sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep)
    connector.fail_next("POST", 429, retry_after=7)
    activity_id = await sender.send(client.conversations, "a:one", TENANT, message("hej"))
    assert activity_id and [a["text"] for a in connector.messages("a:one")] == ["hej"]
    assert 7 in fake.sleeps
    assert [c.status for c in connector.calls] == [429, 201]


@pytest.mark.parametrize("status", [412, 502, 503, 504])
async def test_transient_errors_are_retried_with_backoff(
        connector: ConnectorStandIn, client: TeamsConnectorClient, status: int) -> None:
    fake = FakeTime()
    sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep, backoff=0.5)
    connector.fail_next("POST", status, times=2)
    await sender.send(client.conversations, "a:one", TENANT, message("hej"))
    assert [a["text"] for a in connector.messages("a:one")] == ["hej"]
    assert fake.sleeps[:2] == [0.5, 1.0]


async def test_a_500_on_a_new_message_is_not_retried_so_nothing_arrives_twice(
        connector: ConnectorStandIn, client: TeamsConnectorClient) -> None:
    fake = FakeTime()
    sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep)
    connector.fail_next("POST", 500, applied=True)  # it went through, yet the answer is 500
    with pytest.raises(TeamsSendError) as raised:
        await sender.send(client.conversations, "a:one", TENANT, message("hej"))
    assert raised.value.status == 500
    assert [a["text"] for a in connector.messages("a:one")] == ["hej"]
    assert len(connector.calls) == 1


async def test_updates_are_idempotent_and_retried_after_a_500(
        connector: ConnectorStandIn, client: TeamsConnectorClient) -> None:
    fake = FakeTime()
    sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep)
    activity_id = await sender.send(client.conversations, "a:one", TENANT, message("før"))
    assert activity_id is not None
    connector.fail_next("PUT", 500)
    await sender.update(client.conversations, "a:one", TENANT, activity_id, message("efter"))
    assert [a["text"] for a in connector.messages("a:one")] == ["efter"]
    await sender.delete(client.conversations, "a:one", TENANT, activity_id)
    assert connector.messages("a:one") == []


async def test_giving_up_after_the_retries_and_on_a_long_retry_after(
        connector: ConnectorStandIn, client: TeamsConnectorClient) -> None:
    fake = FakeTime()
    sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep, retries=2)
    connector.fail_next("POST", 503, times=3)
    with pytest.raises(TeamsSendError):
        await sender.send(client.conversations, "a:one", TENANT, message("hej"))
    connector.fail_next("POST", 429, retry_after=3600)
    with pytest.raises(TeamsSendError):
        await sender.send(client.conversations, "a:one", TENANT, message("hej"))
    assert connector.messages("a:one") == []
    connector.fail_next("POST", 400)
    with pytest.raises(TeamsSendError) as raised:
        await sender.send(client.conversations, "a:one", TENANT, message("hej"))
    assert raised.value.status == 400 and connector.calls[-1].status == 400


async def test_a_personal_conversation_is_created_once_and_retried_after_429(
        connector: ConnectorStandIn, client: TeamsConnectorClient) -> None:
    from microsoft_agents.activity import ChannelAccount, ConversationParameters

    fake = FakeTime()
    sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep)
    parameters = ConversationParameters.model_validate({
        "isGroup": False, "bot": ChannelAccount(id="28:bot"),
        "members": [ChannelAccount(id="member-aad")], "tenantId": TENANT})
    connector.fail_next("POST", 429, retry_after=2)
    created = await sender.create_conversation(client.conversations, TENANT, parameters)
    assert created.id == "a:standin-member-aad"
    assert [c.status for c in connector.calls] == [429, 201]
    assert connector.calls[-1].body is not None
    assert connector.calls[-1].body["members"] == [{"id": "member-aad"}]
    assert connector.calls[-1].body["tenantId"] == TENANT


async def test_every_connector_call_is_counted_by_method_and_status(
        connector: ConnectorStandIn, client: TeamsConnectorClient) -> None:
    from bot import metrics

    def calls(method: str, status: str) -> float:
        """The counter of Teams calls of one method with one status class."""
        return metrics.REGISTRY.get_sample_value("tillidsbot_api_calls_total", {
            "channel": "teams", "method": method, "status": status}) or 0.0

    def retries(method: str) -> float:
        """The counter of Teams calls made again."""
        return metrics.REGISTRY.get_sample_value("tillidsbot_api_retries_total", {
            "channel": "teams", "method": method}) or 0.0

    before = (calls("sendToConversation", "ok"), calls("sendToConversation", "429"),
              calls("sendToConversation", "5xx"), retries("sendToConversation"),
              calls("updateActivity", "ok"))
    fake = FakeTime()
    sender = ConnectorSender(clock=fake.clock, sleep=fake.sleep)
    connector.fail_next("POST", 429, retry_after=1)
    connector.fail_next("POST", 503)
    sent = await sender.send(client.conversations, "a:count", TENANT, message("hej"))
    assert sent is not None
    await sender.update(client.conversations, "a:count", TENANT, sent, message("hej igen"))
    after = (calls("sendToConversation", "ok"), calls("sendToConversation", "429"),
             calls("sendToConversation", "5xx"), retries("sendToConversation"),
             calls("updateActivity", "ok"))
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1, 2, 1]
