"""Sending to the Bot Connector under Teams' limits, with the retries the SDK does not do.

Teams allows about 7 operations a second, 8 in 2 seconds, 60 in 30 seconds and 1,800 an hour per
conversation, and about 50 requests a second per app and tenant; over them it answers 429 with
Retry-After.
`ConnectorSender` waits for a free slot in every window before each attempt (sliding windows,
so a burst never exceeds them), honours Retry-After, and retries 412, 502, 503 and 504 with
exponential backoff. A new message (POST) is not retried after a 500 or a dropped connection:
it may have arrived, and a leader should never read the same question twice; updates and
deletes are idempotent and are retried after those too. The clock and sleep are injected, so
tests run without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp

from bot import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
# (operations, seconds) per conversation and per tenant (learn.microsoft.com: "Rate limiting
# for bots" in Teams).
CONVERSATION_WINDOWS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
TENANT_WINDOWS = ((50, 1.0),)
RETRIED = frozenset({412, 429, 502, 503, 504})
IDEMPOTENT_RETRIED = RETRIED | {500}
# The connector operation behind each of ours, as bot/metrics.py labels API calls.
CONNECTOR_METHODS = {"send": "sendToConversation", "update": "updateActivity",
                     "delete": "deleteActivity", "create": "createConversation"}
MAX_RETRY_AFTER = 120.0  # seconds; a longer Retry-After fails the send instead of stalling


class TeamsSendError(Exception):
    """The connector refused a call (after the retries that were safe)."""

    def __init__(self, operation: str, status: int | None) -> None:
        """Name the operation and the HTTP status (None: no answer)."""
        super().__init__(f"{operation} failed with {status if status else 'no answer'}")
        self.operation = operation
        self.status = status


class Conversations(Protocol):
    """What the SDK's connector client offers as `.conversations` (the part used here)."""

    async def send_to_conversation(self, conversation_id: str, body: Any) -> Any:
        """POST /v3/conversations/{id}/activities."""
        ...

    async def update_activity(self, conversation_id: str, activity_id: str, body: Any) -> Any:
        """PUT /v3/conversations/{id}/activities/{activityId}."""
        ...

    async def delete_activity(self, conversation_id: str, activity_id: str) -> Any:
        """DELETE /v3/conversations/{id}/activities/{activityId}."""
        ...

    async def create_conversation(self, body: Any) -> Any:
        """POST /v3/conversations."""
        ...


class Windows:
    """Sliding-window limits per key: acquire() waits until one more operation fits."""

    def __init__(self, limits: tuple[tuple[int, float], ...], clock: Callable[[], float],
                 sleep: Sleep) -> None:
        """limits: (operations, seconds) pairs that must all hold."""
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self.longest = max(seconds for _, seconds in limits)
        self._times: dict[str, deque[float]] = {}

    def wait_time(self, key: str) -> float:
        """Seconds until one more operation for key fits every window (0: now)."""
        now = self.clock()
        times = self._times.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.longest:
            times.popleft()
        wait = 0.0
        for count, seconds in self.limits:
            if len(times) >= count:
                # The count-th newest must leave its window before one more fits.
                wait = max(wait, times[-count] + seconds - now)
        return wait

    async def acquire(self, key: str) -> None:
        """Wait for a slot and take it."""
        while (wait := self.wait_time(key)) > 0:
            await self.sleep(wait)
        self._times.setdefault(key, deque()).append(self.clock())
        if len(self._times) > 10_000:
            self._forget_idle()

    def _forget_idle(self) -> None:
        """Drop keys with nothing in any window (memory stays flat)."""
        cutoff = self.clock() - self.longest
        for key in [k for k, t in self._times.items() if not t or t[-1] <= cutoff]:
            del self._times[key]


# The SDK's connector client logs every non-2xx answer at ERROR ('Error accessing
# v3/conversations/<id>/activities: 503') before it raises, a conversation id included. The
# sender decides what a failure means: a retried 429/5xx is a one-line WARNING here, a final one
# raises TeamsSendError to the caller, who logs it. So that line is demoted to DEBUG.
SDK_CONNECTOR_LOGGER = "microsoft_agents.hosting.core.connector.client.connector_client"
SDK_FAILURE_LINES = ("Error accessing", "Bad request for")


class _SdkFailureLines(logging.Filter):
    """Demotes the SDK's own ERROR line about a failed connector call to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record; lower its level if it is the SDK's failure line."""
        if record.levelno >= logging.ERROR and str(record.msg).startswith(SDK_FAILURE_LINES):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_SDK_FILTER = _SdkFailureLines()


@dataclass
class ConnectorSender:
    """Paced, retried connector calls; one per process, shared by replies and proactive sends."""

    clock: Callable[[], float] = time.monotonic
    sleep: Sleep = asyncio.sleep
    retries: int = 4
    backoff: float = 0.5

    def __post_init__(self) -> None:
        """The windows per conversation and per tenant."""
        self.conversations = Windows(CONVERSATION_WINDOWS, self.clock, self.sleep)
        self.tenants = Windows(TENANT_WINDOWS, self.clock, self.sleep)
        logging.getLogger(SDK_CONNECTOR_LOGGER).addFilter(_SDK_FILTER)  # once: same filter

    async def send(self, client: Conversations, conversation_id: str, tenant_id: str,
                   activity: Any) -> str | None:
        """Post a new activity; its id (for later updates)."""
        response = await self._call(
            "send", conversation_id, tenant_id, False,
            lambda: client.send_to_conversation(conversation_id, activity))
        return getattr(response, "id", None) or None

    async def update(self, client: Conversations, conversation_id: str, tenant_id: str,
                     activity_id: str, activity: Any) -> None:
        """Replace a sent activity (e.g. a pressed card)."""
        await self._call("update", conversation_id, tenant_id, True,
                         lambda: client.update_activity(conversation_id, activity_id, activity))

    async def delete(self, client: Conversations, conversation_id: str, tenant_id: str,
                     activity_id: str) -> None:
        """Delete a sent activity."""
        await self._call("delete", conversation_id, tenant_id, True,
                         lambda: client.delete_activity(conversation_id, activity_id))

    async def create_conversation(self, client: Conversations, tenant_id: str,
                                  parameters: Any) -> Any:
        """Open (or find) a 1:1 conversation with a member; the connector's answer."""
        return await self._call("create", f"create:{tenant_id}", tenant_id, False,
                                lambda: client.create_conversation(parameters))

    async def _call(self, operation: str, conversation_id: str, tenant_id: str,
                    idempotent: bool, call: Callable[[], Awaitable[T]]) -> T:
        """One connector call under the limits, retried while that is safe."""
        retried = IDEMPOTENT_RETRIED if idempotent else RETRIED
        method = CONNECTOR_METHODS.get(operation, operation)
        for attempt in range(self.retries + 1):
            await self.conversations.acquire(conversation_id)
            await self.tenants.acquire(tenant_id)
            if attempt:
                metrics.api_retry("teams", method)
            try:
                result = await call()
            except aiohttp.ClientResponseError as exc:
                status = exc.status
                metrics.api_call("teams", method, status)
                if status not in retried or attempt == self.retries:
                    raise TeamsSendError(operation, status) from None
                delay = self._delay(exc, attempt)
                if delay is None:
                    raise TeamsSendError(operation, status) from None
            except aiohttp.ClientConnectorError:
                metrics.api_call("teams", method, "network_error")
                # Nothing was sent: the connection was never made.
                if attempt == self.retries:
                    raise TeamsSendError(operation, None) from None
                status, delay = None, self.backoff * 2 ** attempt
            except (TimeoutError, aiohttp.ClientError) as exc:
                metrics.api_call("teams", method, "timeout" if isinstance(exc, TimeoutError)
                                 else "network_error")
                # Sent, but no answer: a new message may have arrived, so only idempotent
                # calls are repeated.
                if not idempotent or attempt == self.retries:
                    raise TeamsSendError(operation, None) from None
                status, delay = None, self.backoff * 2 ** attempt
            else:
                metrics.api_call("teams", method, 200)
                return result
            log.warning("Teams %s got %s; retrying in %.1f s", operation,
                        status or "no answer", delay)
            await self.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, exc: aiohttp.ClientResponseError, attempt: int) -> float | None:
        """Seconds to wait before retrying: Retry-After on a 429, else exponential backoff;
        None when the connector asks for longer than is worth waiting."""
        if exc.status == 429:
            after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            if after is not None:
                return after if after <= MAX_RETRY_AFTER else None
        return self.backoff * 2 ** attempt


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the connector sends seconds; a date is not expected)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)
