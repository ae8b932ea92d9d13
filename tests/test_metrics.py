"""Prometheus metrics: after a real bot run (Telegram stand-in on 127.0.0.1, scheduler, team
pulse, backup), /metrics is scraped over 127.0.0.1 and holds every family, and no person's id,
chat id or text anywhere."""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot import backups, metrics
from bot.clock import ManualClock
from bot.dialogue import Dialogues
from bot.store.db import Store
from bot.team.service import TeamService
from tests.botapi_standin import BotApiStandIn
from tests.schedule_support import Harness
from tests.test_team_service import ADMIN, GROUP, RecordingGateway
from tests.test_telegram import free_port
from tests.tgkit import InProcessBot, Phone

LEADER, STRANGER = 7310042917, 7310099931
SECRET_TEXT = "Hemmeligt svar om Karin i økonomiafdelingen"
FAMILIES = {
    "tillidsbot_updates": "counter", "tillidsbot_refusals": "counter",
    "tillidsbot_errors": "counter", "tillidsbot_reply_seconds": "histogram",
    "tillidsbot_api_calls": "counter", "tillidsbot_api_retries": "counter",
    "tillidsbot_scheduled_messages": "counter",
    "tillidsbot_scheduled_lateness_seconds": "histogram",
    "tillidsbot_schedule_due_backlog": "gauge", "tillidsbot_team_pulses": "counter",
    "tillidsbot_backups": "counter", "tillidsbot_backup_last_success_timestamp_seconds": "gauge",
    "tillidsbot_backup_size_bytes": "gauge",
}


def scrape(port: int) -> str:
    """GET /metrics over loopback."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode("utf-8"))


def value(text: str, name: str, **labels: str) -> float:
    """A sample's value in a scrape (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def scheduled_nudge(tmp_path: Path) -> None:
    """A weekly reflection sent by the scheduler, a minute late."""
    start = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # Sunday; the nudge is Monday 08:30
    h = await Harness.open(tmp_path / "sched.db", ManualClock(start))
    await h.command(LEADER, "start")
    h.clock.set(datetime(2026, 11, 23, 7, 31, tzinfo=UTC))
    await h.run()
    assert h.headers()
    await h.close()


async def team_pulse(tmp_path: Path, dialogues: Dialogues) -> None:
    """A team pulse opened and closed by the group's admin."""
    clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    store = await Store.open(tmp_path / "team.db")
    gateway = RecordingGateway(clock)
    service = TeamService.standalone(store, dialogues, clock, b"test-secret", gateway)
    await service.command(GROUP, ADMIN, "now")
    await service.command(GROUP, ADMIN, "close")
    await store.close()


async def test_a_scrape_after_a_run_has_every_family_and_no_id_or_text(
        tmp_path: Path, real_dialogues: Dialogues) -> None:
    port = free_port()
    db = tmp_path / "bot.db"
    before = {"sent": metrics.REGISTRY.get_sample_value(
        "tillidsbot_scheduled_messages_total", {"kind": "nudge", "outcome": "sent"}) or 0.0}
    async with BotApiStandIn() as api, InProcessBot(
            api, db, ALLOWED_USER_IDS=str(LEADER), METRICS_PORT=str(port),
            METRICS_HOST="127.0.0.1"):
        leader = Phone(api, db, api.user(LEADER, "Karin", "da"))
        stranger = Phone(api, db, api.user(STRANGER, "Ukendt", "da"))
        await leader.say("/start")
        api.fail_next("sendMessage", 500)  # a server error, retried
        api.fail_next("sendMessage", 429, retry_after=0)  # flood control, retried
        await leader.say(SECRET_TEXT)
        await leader.press()
        update_id = api.send_text(stranger.user, "Hej, jeg hedder Ukendt")
        await scheduled_nudge(tmp_path)
        await team_pulse(tmp_path, real_dialogues)
        backups.take_backup(db, tmp_path / "backups", 2, datetime.now(UTC))
        # the stranger's update is refused without being recorded; wait for the refusal
        for _ in range(200):
            text = await asyncio.to_thread(scrape, port)
            if value(text, "tillidsbot_refusals_total", channel="telegram") >= 1:
                break
            await asyncio.sleep(0.05)
        assert update_id  # (a refused update is not recorded: nothing to wait for there)
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    for name, kind in FAMILIES.items():
        assert families.get(name) == kind, name
    assert value(text, "tillidsbot_updates_total", channel="telegram", kind="command") >= 1
    assert value(text, "tillidsbot_updates_total", channel="telegram", kind="message") >= 1
    assert value(text, "tillidsbot_updates_total", channel="telegram", kind="button") >= 1
    assert value(text, "tillidsbot_refusals_total", channel="telegram") >= 1
    assert value(text, "tillidsbot_reply_seconds_count", channel="telegram") >= 3
    assert value(text, "tillidsbot_api_calls_total", channel="telegram", method="sendMessage",
                 status="ok") >= 2
    assert value(text, "tillidsbot_api_calls_total", channel="telegram", method="sendMessage",
                 status="5xx") >= 1
    assert value(text, "tillidsbot_api_calls_total", channel="telegram", method="sendMessage",
                 status="429") >= 1
    assert value(text, "tillidsbot_api_calls_total", channel="telegram", method="getUpdates",
                 status="ok") >= 1
    assert value(text, "tillidsbot_api_retries_total", channel="telegram",
                 method="sendMessage") >= 2
    assert value(text, "tillidsbot_scheduled_messages_total", kind="nudge",
                 outcome="sent") == before["sent"] + 1
    assert value(text, "tillidsbot_scheduled_lateness_seconds_bucket", kind="nudge",
                 le="30.0") < value(text, "tillidsbot_scheduled_lateness_seconds_bucket",
                                    kind="nudge", le="120.0")  # 60 s late: counted above 30 s
    assert value(text, "tillidsbot_team_pulses_total", event="opened") >= 1
    assert value(text, "tillidsbot_team_pulses_total", event="closed") >= 1
    assert value(text, "tillidsbot_backups_total", result="ok") >= 1
    # Nothing about a person: no ids, no chat ids, no words, no token.
    for secret in (str(LEADER), str(STRANGER), GROUP.lstrip("-"), ADMIN, "Karin", "Ukendt",
                   SECRET_TEXT, "økonomi", api.token, api.token.split(":")[1]):
        assert secret not in text, secret


async def test_metrics_are_off_unless_a_port_is_set(tmp_path: Path) -> None:
    assert metrics.start_metrics("127.0.0.1", None) is None
    server = metrics.start_metrics("127.0.0.1", 0)
    assert server is not None
    try:
        assert "tillidsbot_updates" in await asyncio.to_thread(scrape, server.port)
    finally:
        server.close()


def test_labels_outside_the_fixed_vocabulary_become_other() -> None:
    metrics.api_call("telegram", "bot123456:SECRET/sendMessage", 200)
    metrics.update_handled("tg:7310042917", "Hej Karin", 0.1)
    metrics.scheduled("Karin", "sent", 1.0)
    get = metrics.REGISTRY.get_sample_value
    assert (get("tillidsbot_api_calls_total",
                {"channel": "telegram", "method": "other", "status": "ok"}) or 0) >= 1
    assert (get("tillidsbot_updates_total", {"channel": "other", "kind": "other"}) or 0) >= 1
    assert (get("tillidsbot_scheduled_messages_total",
                {"kind": "other", "outcome": "sent"}) or 0) >= 1
    assert metrics.status_class(502) == "5xx" and metrics.status_class(429) == "429"
    assert metrics.status_class(403) == "4xx" and metrics.status_class("timeout") == "timeout"
