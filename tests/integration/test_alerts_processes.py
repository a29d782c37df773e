"""The alerter as real processes (`python -m alerts alert`): kill -9 and restart, two at once, bad rules files.

Real time here (the processes have their own clocks): windows of 20 s, evaluation every second.
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

    def start(self, name: str) -> AlerterProcess:
        process = start_alerter(self.env, self.rules, self.tmp / f"{name}.log")
        self.processes.append(process)
        return process

    def groups_notified(self) -> list[str]:
        return sorted(body["alert"]["group"] for body in self.webhook.bodies())

    def alert_docs(self) -> list[dict[str, Any]]:
        self.es.indices.refresh(index=self.alerts_index)
        return [hit["_source"] for hit in self.es.search(index=self.alerts_index, size=100)["hits"]["hits"]]


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
    first = setup.start("first")
    setup.articles.burst(3, datetime.now(UTC), places=("Ukraine",), refresh=False)
    assert poll_until(lambda: len(setup.webhook.received) == 1 and len(setup.smtp.messages) == 1, 10)
    first.kill9()

    # restart while the crossing window still holds the articles: no repeat
    second = setup.start("second")
    time.sleep(3)
    assert setup.groups_notified() == ["Ukraine"] and len(setup.smtp.messages) == 1
    second.kill9()

    # a crossing while nothing runs is alerted once by the next process
    setup.articles.burst(3, datetime.now(UTC), places=("Belarus",), refresh=False)
    time.sleep(2)
    third = setup.start("third")
    assert poll_until(lambda: len(setup.webhook.received) == 2, 10), third.log()
    time.sleep(3)
    assert setup.groups_notified() == ["Belarus", "Ukraine"] and len(setup.smtp.messages) == 2
    assert sorted(doc["group"] for doc in setup.alert_docs()) == ["Belarus", "Ukraine"]
    metrics = third.metrics()
    assert 'newswatch_alerts_fired_total{rule="buildup"} 1.0' in metrics
    assert 'newswatch_alert_deliveries_total{channel="webhook",outcome="sent"} 1.0' in metrics
    assert "newswatch_alert_evaluation_lag_seconds" in metrics
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
