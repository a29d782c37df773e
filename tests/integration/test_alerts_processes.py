"""The alerter as real processes (`python -m alerts alert`): kill -9 and restart, two at once, bad rules files.

Real time here (the processes have their own clocks): windows of 20 s (5 s in the kill -9 test, so that a
crossing's windows can close while no alerter runs), evaluation every second, the default 30 s delivery lease.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from newswatch.clients import elasticsearch_client
from newswatch.settings import Settings
from tests.integration.test_alerts_support import (
    ROOT,
    AlerterProcess,
    ArticleIndex,
    Received,
    SmtpSink,
    WebhookReceiver,
    alerter_env,
    delete_indices,
    start_alerter,
    write_rules,
)
from tests.integration.waiting import poll_until

RULES = """
- name: buildup
  query: 'tags:"troop-buildup"'
  window: 20s
  threshold: 3
  group_by: places
  cooldown: 60s
  channels: [webhook, email]
"""

# Every window holding a burst has ended 5 s after it: a test can let one close before an alerter starts.
SHORT_WINDOW_RULES = RULES.replace("window: 20s", "window: 5s")
LEASE_SECONDS = 30  # AlerterConfig.lease_seconds: not a setting, so the test waits it out
HOUSEKEEPING_SECONDS = 5  # AlerterConfig.housekeeping_interval: how often abandoned alerts are looked for


@dataclass
class Setup:
    es: Elasticsearch
    articles: ArticleIndex
    alerts_index: str
    webhook: WebhookReceiver
    smtp: SmtpSink
    env: dict[str, str]
    rules: Path
    tmp: Path
    processes: list[AlerterProcess]

    def start(self, name: str, rules: Path | None = None) -> AlerterProcess:
        process = start_alerter(self.env, rules or self.rules, self.tmp / f"{name}.log")
        self.processes.append(process)
        return process

    def groups_notified(self) -> list[str]:
        return sorted(body["alert"]["group"] for body in self.webhook.bodies())

    def alert_docs(self) -> list[dict[str, Any]]:
        self.es.indices.refresh(index=self.alerts_index)
        return [hit["_source"] for hit in self.es.search(index=self.alerts_index, size=100)["hits"]["hits"]]

    def alert_of(self, group: str) -> dict[str, Any] | None:
        return next((doc for doc in self.alert_docs() if doc["group"] == group), None)

    def webhooks_of(self, group: str) -> list[Received]:
        return [r for r in self.webhook.received if r.body["alert"]["group"] == group]


def header(received: Received, name: str) -> str | None:
    return next((value for key, value in received.headers.items() if key.lower() == name.lower()), None)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def setup(stack: object, settings: Settings, unique_name: str, tmp_path: Path) -> Iterator[Setup]:
    es = elasticsearch_client(settings)
    alerts_index = f"{unique_name}-alerts"
    articles = ArticleIndex(es, f"{unique_name}-news")
    webhook, smtp = WebhookReceiver(), SmtpSink()
    env = alerter_env(articles.name, alerts_index, webhook, smtp)
    rules = write_rules(tmp_path / "rules.yaml", RULES)
    state = Setup(es, articles, alerts_index, webhook, smtp, env, rules, tmp_path, [])
    try:
        yield state
    finally:
        for process in state.processes:
            process.terminate()
        webhook.close()
        smtp.close()
        delete_indices(es, articles.name, alerts_index, f"{alerts_index}-state")
        es.close()


def test_kill9_and_restart_neither_repeats_nor_misses(setup: Setup) -> None:
    rules = write_rules(setup.tmp / "short-window.yaml", SHORT_WINDOW_RULES)
    # The first webhook POST is answered only after 8 s, so the kill below lands in the middle of that send.
    setup.webhook.hold_first, setup.webhook.hold_seconds = 1, 8.0
    first = setup.start("first", rules)
    setup.articles.burst(3, datetime.now(UTC), places=("Ukraine",), refresh=False)

    def email_recorded_as_sent() -> bool:
        doc = setup.alert_of("Ukraine")
        return doc is not None and doc["deliveries"]["email"]["status"] == "sent"

    assert poll_until(lambda: len(setup.webhook.received) == 1 and email_recorded_as_sent(), 10), first.log()
    first.kill9()
    ukraine = setup.alert_of("Ukraine")
    assert ukraine is not None and ukraine["deliveries"]["webhook"]["status"] == "pending"  # died mid-send
    assert ukraine["delivery_state"] == "delivering"

    # restart at once: the crossing is not alerted again
    second = setup.start("second", rules)
    time.sleep(3)
    assert setup.groups_notified() == ["Ukraine"] and len(setup.smtp.messages) == 1
    second.kill9()

    # a crossing while no alerter runs, whose every window has ended before the next alerter starts
    crossed_at = datetime.now(UTC)
    setup.articles.burst(3, crossed_at, places=("Belarus",), refresh=False)
    time.sleep(7)
    third_started = datetime.now(UTC)
    third = setup.start("third", rules)
    assert poll_until(lambda: setup.alert_of("Belarus") is not None, 10), third.log()
    belarus = setup.alert_of("Belarus")
    assert belarus is not None
    assert parse_time(belarus["window_end"]) < third_started, "the crossing window was still open at the restart"
    assert belarus["detection_delay_seconds"] > 5  # caught up, and marked as late
    assert poll_until(lambda: len(setup.webhooks_of("Belarus")) == 1 and len(setup.smtp.messages) == 2, 10)

    # The Ukraine webhook was in flight when `first` died, so "sent" was never recorded. When its lease
    # ends, the running alerter takes the alert over and sends that channel again — the documented
    # at-least-once of a crash during a send — with the same Idempotency-Key, so the receiver can drop
    # the copy. The e-mail, recorded as sent, is not sent again.
    lease_over = parse_time(ukraine["lease_until"]).timestamp() + HOUSEKEEPING_SECONDS + 10 - time.time()
    assert poll_until(lambda: len(setup.webhooks_of("Ukraine")) == 2, lease_over, 0.2), third.log()
    time.sleep(HOUSEKEEPING_SECONDS + 1)  # one more round of housekeeping: nothing more is sent
    ukraine_posts = setup.webhooks_of("Ukraine")
    assert len(ukraine_posts) == 2
    assert {header(post, "Idempotency-Key") for post in ukraine_posts} == {ukraine["alert_id"]}
    assert {post.body["alert"]["alert_id"] for post in ukraine_posts} == {ukraine["alert_id"]}
    assert setup.groups_notified() == ["Belarus", "Ukraine", "Ukraine"]
    assert len(setup.smtp.messages) == 2  # Ukraine once, Belarus once
    docs = setup.alert_docs()
    assert sorted(doc["group"] for doc in docs) == ["Belarus", "Ukraine"]
    assert all(doc["delivery_state"] == "done" for doc in docs)
    ukraine = setup.alert_of("Ukraine")
    assert ukraine is not None and ukraine["deliveries"]["webhook"]["status"] == "sent"
    assert ukraine["deliveries"]["email"]["attempts"] == 1
    metrics = third.metrics()
    assert 'newswatch_alerts_fired_total{rule="buildup"} 1.0' in metrics  # Belarus; Ukraine was only finished
    assert 'newswatch_alert_deliveries_total{channel="webhook",outcome="sent"} 2.0' in metrics
    assert 'newswatch_alert_deliveries_total{channel="email",outcome="sent"} 1.0' in metrics
    assert "newswatch_alert_evaluation_lag_seconds" in metrics
    assert "finishing the deliveries of an abandoned alert" in third.log()
    assert third.terminate() == 0  # SIGTERM: a clean stop
    logs = first.log() + second.log() + third.log()
    assert "alerter started" in logs and "alert fired" in logs
    assert "sEcReTpAtH" not in logs and "tok-test-secret" not in logs  # secrets never logged


def test_two_alerters_at_once_send_each_alert_once(setup: Setup) -> None:
    setup.start("a")
    setup.start("b")
    places = ["Ukraine", "Belarus", "Crimea", "Donbas"]
    for place in places:
        setup.articles.burst(3, datetime.now(UTC), places=(place,), refresh=False)
        time.sleep(0.3)
    assert poll_until(lambda: len(setup.webhook.received) >= 4 and len(setup.smtp.messages) >= 4, 15)
    time.sleep(3)
    assert setup.groups_notified() == sorted(places)
    assert len(setup.smtp.messages) == 4
    docs = setup.alert_docs()
    assert sorted(doc["group"] for doc in docs) == sorted(places)
    assert all(doc["delivery_state"] == "done" for doc in docs)


def run_alert(env: dict[str, str], rules: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alerts", "alert", "--rules", str(rules)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_invalid_rules_file_is_a_clear_error_at_start(setup: Setup) -> None:
    bad = write_rules(
        setup.tmp / "bad.yaml",
        """
- name: troop-buildup
  query: 'tags:"troop-buildup"'
  window: 15 minutes
  threshold: -1
  channels: [pager]
""",
    )
    result = run_alert(setup.env, bad)
    assert result.returncode == 2
    assert "rule 'troop-buildup': window: '15 minutes' is not a duration" in result.stderr
    assert "rule 'troop-buildup': threshold: -1 is not a whole number of at least 1" in result.stderr
    assert "rule 'troop-buildup': channels: 'pager' is not configured" in result.stderr

    # a query only Elasticsearch can judge (a date field given a word) is rejected at start too
    es_bad = write_rules(
        setup.tmp / "es-bad.yaml", "- {name: dated, query: 'published:yesterday', window: 1m, threshold: 1}\n"
    )
    result = run_alert(setup.env, es_bad)
    assert result.returncode == 2, result.stderr
    assert "rule 'dated': query:" in result.stderr and "yesterday" in result.stderr

    missing = run_alert(setup.env, setup.tmp / "missing.yaml")
    assert missing.returncode == 2 and "cannot read it" in missing.stderr
