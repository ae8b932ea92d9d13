"""Every Prometheus metric of the bot, in one registry, with small functions to record events.

Served on METRICS_HOST:METRICS_PORT at /metrics when METRICS_PORT is set (off by default).
No label or value ever carries a person's id, a chat id or any text: labels are a small fixed
vocabulary (channel, kind, outcome, Bot API method name, status class), and every recording
function maps anything else to 'other'.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

log = logging.getLogger(__name__)

disable_created_metrics()  # no *_created series: they double the scrape and nobody charts them

REGISTRY = CollectorRegistry(auto_describe=True)
NS = "tillidsbot"

CHANNELS = {"telegram", "console", "teams"}
UPDATE_KINDS = {"message", "command", "button", "edit", "membership", "group", "other"}
SCHEDULE_KINDS = {"nudge", "followup", "reminder", "snooze"}
SCHEDULE_OUTCOMES = {"sent", "missed", "unconfirmed", "failed", "skipped", "cancelled"}
# A Bot API method name is letters only (sendMessage); anything else is not a method.
_METHOD = re.compile(r"^[A-Za-z]{1,40}$")
LATE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 3 * 3600, 12 * 3600)
REPLY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)

UPDATES = Counter(f"{NS}_updates", "Updates handled, per channel and kind",
                  ["channel", "kind"], registry=REGISTRY)
REFUSALS = Counter(f"{NS}_refusals", "Updates from people who are not admitted leaders",
                   ["channel"], registry=REGISTRY)
ERRORS = Counter(f"{NS}_errors", "Failures, by where they happened", ["where"],
                 registry=REGISTRY)
REPLY_SECONDS = Histogram(f"{NS}_reply_seconds",
                          "Time from an update's arrival to the end of its reply",
                          ["channel"], buckets=REPLY_BUCKETS, registry=REGISTRY)
API_CALLS = Counter(f"{NS}_api_calls", "Bot API / connector calls by method and status",
                    ["channel", "method", "status"], registry=REGISTRY)
API_RETRIES = Counter(f"{NS}_api_retries", "Bot API / connector calls made again",
                      ["channel", "method"], registry=REGISTRY)
SCHEDULED = Counter(f"{NS}_scheduled_messages",
                    "Scheduled messages by kind and outcome", ["kind", "outcome"],
                    registry=REGISTRY)
LATENESS = Histogram(f"{NS}_scheduled_lateness_seconds",
                     "How long after it was due a scheduled message went out", ["kind"],
                     buckets=LATE_BUCKETS, registry=REGISTRY)
BACKLOG = Gauge(f"{NS}_schedule_due_backlog", "Scheduled messages due and waiting to be sent",
                registry=REGISTRY)
TEAM_PULSES = Counter(f"{NS}_team_pulses", "Team pulses opened and closed", ["event"],
                      registry=REGISTRY)
REDELIVERIES = Counter(f"{NS}_reply_redeliveries",
                       "Replies sent again after a crash or a failed send, by outcome",
                       ["channel", "outcome"], registry=REGISTRY)
REDELIVERY_OUTCOMES = {"delivered", "failed", "given_up"}
BACKUPS = Counter(f"{NS}_backups", "Backups taken, by result", ["result"], registry=REGISTRY)
BACKUP_LAST = Gauge(f"{NS}_backup_last_success_timestamp_seconds",
                    "When the last sound backup was taken (Unix time)", registry=REGISTRY)
SHED = Counter(f"{NS}_updates_shed",
               "Events a flooding conversation's bounded backlog dropped (bot/backlog.py)",
               ["channel"], registry=REGISTRY)
CHAT_BACKLOG_PEAK = Gauge(f"{NS}_conversation_backlog_peak",
                          "The longest backlog any one conversation had since start",
                          ["channel"], registry=REGISTRY)
BACKUP_BYTES = Gauge(f"{NS}_backup_size_bytes", "Size of the last sound backup",
                     registry=REGISTRY)


def _one_of(value: str, allowed: set[str]) -> str:
    """The value if it is in the fixed vocabulary, else 'other'."""
    return value if value in allowed else "other"


def status_class(status: int | str) -> str:
    """An HTTP status as a label: 'ok', '429', '5xx', '4xx', or a named failure."""
    if isinstance(status, str):
        return _one_of(status, {"network_error", "timeout"})
    if 200 <= status < 300:
        return "ok"
    if status == 429:
        return "429"
    if 500 <= status < 600:
        return "5xx"
    if 400 <= status < 500:
        return "4xx"
    return "other"


def method_label(method: str) -> str:
    """A Bot API method name, or 'other' for anything that is not one."""
    return method if _METHOD.match(method) else "other"


def update_handled(channel: str, kind: str, seconds: float) -> None:
    """One update handled, and how long its reply took."""
    channel = _one_of(channel, CHANNELS)
    UPDATES.labels(channel, _one_of(kind, UPDATE_KINDS)).inc()
    REPLY_SECONDS.labels(channel).observe(max(0.0, seconds))


def refused(channel: str) -> None:
    """An update from someone who is not let in."""
    REFUSALS.labels(_one_of(channel, CHANNELS)).inc()


def redelivery(channel: str, outcome: str, count: int = 1) -> None:
    """Replies of a step sent late (delivered), failing again, or given up."""
    REDELIVERIES.labels(_one_of(channel, CHANNELS),
                        _one_of(outcome, REDELIVERY_OUTCOMES)).inc(count)


def error(where: str) -> None:
    """A failure: 'update', 'schedule', 'backup', 'team'."""
    ERRORS.labels(_one_of(where, {"update", "schedule", "backup", "team"})).inc()


def api_call(channel: str, method: str, status: int | str) -> None:
    """One HTTP call to the Bot API or a connector, with its status."""
    API_CALLS.labels(_one_of(channel, CHANNELS), method_label(method), status_class(status)).inc()


def api_retry(channel: str, method: str) -> None:
    """A call made again after a 429, a 5xx or a network error."""
    API_RETRIES.labels(_one_of(channel, CHANNELS), method_label(method)).inc()


def scheduled(kind: str, outcome: str, late_seconds: float | None = None, count: int = 1) -> None:
    """Scheduled messages that reached an outcome; for sent ones, how late they went out."""
    kind = _one_of(kind, SCHEDULE_KINDS | {"any"})
    SCHEDULED.labels(kind, _one_of(outcome, SCHEDULE_OUTCOMES)).inc(count)
    if late_seconds is not None:
        LATENESS.labels(kind).observe(max(0.0, late_seconds))


def due_backlog(count: int) -> None:
    """How many due scheduled messages wait to be sent now."""
    BACKLOG.set(count)


def shed(channel: str) -> None:
    """One event shed from a flooding conversation's backlog."""
    SHED.labels(_one_of(channel, CHANNELS)).inc()


def backlog_peak(channel: str, length: int) -> None:
    """A conversation's backlog reached a new longest length."""
    CHAT_BACKLOG_PEAK.labels(_one_of(channel, CHANNELS)).set(length)


def team_pulse(event: str) -> None:
    """A team pulse 'opened' or 'closed'."""
    TEAM_PULSES.labels(_one_of(event, {"opened", "closed"})).inc()


def backup_done(result: str, size: int | None = None, at: datetime | None = None) -> None:
    """A backup 'ok', 'failed_check' or 'error'."""
    BACKUPS.labels(_one_of(result, {"ok", "failed_check", "error"})).inc()
    if result == "ok" and at is not None:
        BACKUP_LAST.set(at.timestamp())
        BACKUP_BYTES.set(size or 0)


T = TypeVar("T")


def timed_update(channel: str, kind_of: Callable[[Any], str],
                 handler: Callable[..., Awaitable[T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """Wrap an update handler: count the update by kind, time its reply, count failures."""

    async def wrapped(update: Any, *args: Any) -> T:
        """The handler, measured."""
        started = time.perf_counter()
        try:
            return await handler(update, *args)
        except Exception:
            error("update")
            raise
        finally:
            update_handled(channel, kind_of(update), time.perf_counter() - started)

    return wrapped


class MetricsServer:
    """The /metrics HTTP endpoint on its own address and port (a daemon thread)."""

    def __init__(self, host: str, port: int) -> None:
        """Listen now; port 0 picks a free one (see .port)."""
        self._server, self._thread = start_http_server(port, host, registry=REGISTRY)
        self.port = int(self._server.server_port)
        log.info("metrics on http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()


def start_metrics(host: str, port: int | None) -> MetricsServer | None:
    """The endpoint when a port is configured (METRICS_PORT), else None."""
    return None if port is None else MetricsServer(host, port)
