"""`alerts list` and `alerts test` through the Typer app (the same `register` the `newswatch` CLI uses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from alerts.cli import register
from newswatch.clients import elasticsearch_client
from newswatch.settings import Settings
from tests.integration.test_alerts_support import (
    ArticleIndex,
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
  window: 1m
  threshold: 3
  group_by: places
  channels: [webhook]
"""


@dataclass
class Desk:
    es: Elasticsearch
    articles: ArticleIndex
    alerts_index: str
    rules: Path
    webhook: WebhookReceiver
    app: typer.Typer
    tmp: Path


@pytest.fixture
def desk(
    stack: object, settings: Settings, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    es = elasticsearch_client(settings)
    articles = ArticleIndex(es, f"{unique_name}-news")
    alerts_index = f"{unique_name}-alerts"
    webhook = WebhookReceiver()
    for key, value in alerter_env(articles.name, alerts_index, webhook, None).items():
        if key.startswith("NEWSWATCH_"):
            monkeypatch.setenv(key, value)
    app = typer.Typer()
    register(app)
    try:
        yield Desk(es, articles, alerts_index, write_rules(tmp_path / "rules.yaml", RULES), webhook, app, tmp_path)
    finally:
        webhook.close()
        delete_indices(es, articles.name, alerts_index, f"{alerts_index}-state")
        es.close()


def test_alerts_test_prints_what_it_would_send_and_sends_nothing(desk: Desk) -> None:
    desk.articles.burst(3, datetime.now(UTC), places=("Ukraine",))
    desk.articles.add(datetime.now(UTC), places=("Belarus",))
    result = CliRunner().invoke(desk.app, ["alerts", "test", "buildup", "--rules", str(desk.rules)])
    assert result.exit_code == 0, result.output
    assert "places=Ukraine: 3 articles -> crosses" in result.output
    assert "places=Belarus: 1 articles" in result.output
    assert "would send (nothing is sent by `alerts test`)" in result.output
    assert "e-mail subject: newswatch alert: buildup [places=Ukraine]: 3 articles in 1m" in result.output
    assert '"text": ":rotating_light: *buildup [places=Ukraine]' in result.output, result.output
    assert desk.webhook.received == [] and not desk.es.indices.exists(index=desk.alerts_index)

    unknown = CliRunner().invoke(desk.app, ["alerts", "test", "nope", "--rules", str(desk.rules)])
    assert unknown.exit_code == 2 and "no rule 'nope'; the rules are: buildup" in unknown.output


def test_alerts_list_shows_recent_alerts_with_their_deliveries(desk: Desk, settings: Settings) -> None:
    import os

    alerter = start_alerter(dict(os.environ), desk.rules, desk.tmp / "alerter.log")
    try:
        desk.articles.burst(3, datetime.now(UTC), places=("Ukraine",), refresh=False)
        assert poll_until(lambda: len(desk.webhook.received) == 1, 10), alerter.log()
        time_limit = 5
        assert poll_until(lambda: _delivered(desk), time_limit)
    finally:
        alerter.terminate()
    result = CliRunner().invoke(desk.app, ["alerts", "list", "--since", "1h", "--json"])
    assert result.exit_code == 0, result.output
    (alert,) = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert alert["rule"] == "buildup" and alert["group"] == "Ukraine" and alert["count"] == 3
    assert alert["deliveries"]["webhook"]["status"] == "sent"
    table = CliRunner().invoke(desk.app, ["alerts", "list"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "webhook:sent" in table.output and "3/3" in table.output
    bad = CliRunner().invoke(desk.app, ["alerts", "list", "--since", "yesterday"])
    assert bad.exit_code == 2 and "is not a duration" in bad.output


def _delivered(desk: Desk) -> bool:
    desk.es.indices.refresh(index=desk.alerts_index)
    hits = desk.es.search(index=desk.alerts_index, query={"term": {"delivery_state": "done"}})["hits"]["hits"]
    return len(hits) == 1
