"""The alert document, its ids, and what a watch officer receives (webhook, e-mail, console, Kibana link)."""

from __future__ import annotations

from urllib.parse import unquote

from alerts.document import (
    FAILED,
    SENT,
    alert_id,
    build_alert,
    chain_after,
    epoch_ms,
    group_query,
    iso,
    unfinished_channels,
)
from alerts.kibana import discover_url, rison_string
from alerts.notify import console_text, email_message, slack_text, webhook_payload
from alerts.queries import ArticleRef, WindowArticles, window_filters
from alerts.rule import Rule
from alerts.windows import WindowCount

T = 1_641_978_000_000  # 2022-01-12 09:00:00 UTC
RULE = Rule(
    name="troop-buildup",
    query='tags:"troop-buildup"',
    window_seconds=900,
    threshold=3,
    group_by="places",
    min_sources=2,
    channels=("console", "webhook", "email"),
    window_text="15m",
)
WINDOW = WindowCount("Ukraine", T, T + 900_000, 4, frozenset({"Wire", "Post"}), live=False)
ARTICLES = WindowArticles(
    articles=(
        ArticleRef("a1", "Troops <massing> & tanks | near border", "Wire", "https://wire.example/1", iso(T + 600_000)),
        ArticleRef("a2", "Satellite images show build-up", "Post", "https://post.example/2", iso(T + 300_000)),
    ),
    first_ms=T + 60_000,
    last_ms=T + 600_000,
    sources=("Wire", "Post"),
    source_count=2,
)


def alert(**overrides: object) -> dict:  # type: ignore[type-arg]
    doc = build_alert(
        RULE,
        WINDOW,
        ARTICLES,
        seq=3,
        fired_at_ms=T + 901_000,
        fired_by="host:1:abc",
        targets={"console": "stdout", "webhook": "https://hooks.example", "email": "smtp://mx:587 to d@x"},
        lease_until_ms=T + 931_000,
        kibana_base="https://kibana.example/",
        kibana_data_view="news",
    )
    doc.update(overrides)
    return doc


def test_ids_are_deterministic_per_rule_group_and_sequence() -> None:
    assert alert_id("troop-buildup", "Ukraine", 3) == alert_id("troop-buildup", "Ukraine", 3)
    assert alert_id("troop-buildup", "Ukraine", 3) != alert_id("troop-buildup", "Україна", 3)
    assert alert_id("talks", None, 1) == "talks:all:000001"
    assert alert()["alert_id"].endswith(":000003")


def test_alert_document_carries_what_the_issue_lists() -> None:
    doc = alert()
    assert doc["rule"] == "troop-buildup" and doc["group"] == "Ukraine" and doc["group_by"] == "places"
    assert doc["window"] == "15m" and doc["count"] == 4 and doc["threshold"] == 3
    assert doc["window_start"] == "2022-01-12T09:00:00.000Z" and doc["window_end"] == "2022-01-12T09:15:00.000Z"
    assert doc["first_article"] == "2022-01-12T09:01:00.000Z" and doc["last_article"] == "2022-01-12T09:10:00.000Z"
    assert [a["title"] for a in doc["top_articles"]][1] == "Satellite images show build-up"
    assert doc["top_articles"][0]["source"] == "Wire" and doc["top_articles"][0]["url"] == "https://wire.example/1"
    assert doc["query"] == RULE.query and doc["kibana_url"].startswith("https://kibana.example/app/discover#/")
    assert doc["deliveries"]["email"] == {"status": "pending", "attempts": 0, "target": "smtp://mx:587 to d@x"}
    assert doc["detection_delay_seconds"] == 1.0
    assert chain_after(doc).seq == 3 and chain_after(doc).fired_at_ms == T + 901_000


def test_unfinished_channels() -> None:
    doc = alert()
    doc["deliveries"]["webhook"]["status"] = SENT
    doc["deliveries"]["email"]["status"] = FAILED
    assert unfinished_channels(doc) == ["console"]


def test_time_helpers_round_trip() -> None:
    assert epoch_ms(iso(T + 123)) == T + 123 and epoch_ms(T) == T


def test_kibana_link_holds_query_group_and_absolute_times() -> None:
    assert rison_string("it's!") == "'it!'s!!'"
    link = unquote(discover_url("https://k.example", "news", group_query(RULE, 'Kyiv "Oblast"'), T, T + 60_000))
    assert "time:(from:'2022-01-12T09:00:00.000Z',to:'2022-01-12T09:01:00.000Z')" in link
    assert "index:'news'" in link and "language:lucene" in link
    assert 'query:\'(tags:"troop-buildup") AND places:"Kyiv \\"Oblast\\""\'' in link
    assert " " not in discover_url("https://k.example", "news", "a b", T, T)


def test_webhook_payload_is_slack_compatible_and_complete() -> None:
    payload = webhook_payload(alert())
    text = payload["text"]
    assert text.startswith(":rotating_light: *troop-buildup [places=Ukraine]: 4 articles in 15m from 2 sources")
    # Slack control characters escaped; a | inside a link label would end it early
    assert "<https://wire.example/1|Troops &lt;massing&gt; &amp; tanks ¦ near border> — Wire" in text
    assert "|Open in Kibana>" in text
    assert payload["alert"]["alert_id"] == alert()["alert_id"] and "deliveries" not in payload["alert"]
    assert "lease_owner" not in payload["alert"]


def test_email_message() -> None:
    message = email_message(alert(), "newswatch@desk.example", ["duty@desk.example", "lead@desk.example"])
    assert (
        message["Subject"]
        == "newswatch alert: troop-buildup [places=Ukraine]: 4 articles in 15m from 2 sources (threshold 3)"
    )
    assert message["To"] == "duty@desk.example, lead@desk.example"
    assert message["X-Newswatch-Alert-Id"] == alert()["alert_id"]
    assert message["Message-ID"] == email_message(alert(), "a@b", ["c@d"])["Message-ID"]  # stable on redelivery
    body = message.get_content()
    assert "Satellite images show build-up" in body and "https://post.example/2" in body
    assert "Open in Kibana: https://kibana.example/app/discover" in body


def test_console_text_and_late_note() -> None:
    assert console_text(alert()).startswith("ALERT troop-buildup [places=Ukraine]: 4 articles in 15m")
    late = alert(detection_delay_seconds=600.0)
    assert "seen 10 min after the window closed" in console_text(late) and "10 min" in slack_text(late)


def test_window_filters_select_what_the_window_counted() -> None:
    closed = window_filters(RULE, WINDOW)
    assert {"term": {"places": "Ukraine"}} in closed
    assert closed[1]["range"]["published"] == {"gte": T, "lt": T + 900_000, "format": "epoch_millis"}
    live = window_filters(RULE, WindowCount(None, T, T + 5, 3, frozenset(), live=True))
    assert "lte" in live[1]["range"]["published"] and len(live) == 2
