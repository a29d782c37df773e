"""Fault run: while articles stream through `newswatch run`, each service is SIGKILLed in turn and `run`
restarts it; at the end every distinct article served is indexed once and no alert was sent twice.

Real processes on the real local stack; the test has its own topic prefix, alias and alerts index.
"""

from __future__ import annotations

import collections
import time
from datetime import datetime
from pathlib import Path

import pytest

from newswatch.clients import elasticsearch_client
from newswatch.settings import Settings
from newswatch.stack.local import LocalStack
from tests.integration.pipeline_support import (
    BUILDUP,
    SERVICES,
    TALKS,
    FeedServer,
    FeedSpec,
    PipelineRun,
    Story,
    alerts,
    count,
    deadletter_count,
    documents,
    filler_stories,
    new_names,
    running,
    shared_stack_env,
    write_rules,
)
from tests.integration.test_alerts_support import WebhookReceiver
from tests.integration.waiting import wait_until

ARTICLES = 200
STREAM_SECONDS = 60.0
FEEDS = [
    FeedSpec("/baltic-courier.xml", "Baltic Courier", "baltic-courier.example"),
    FeedSpec("/meridian-wire.xml", "Meridian Wire", "meridian-wire.example"),
    FeedSpec("/valley-gazette.xml", "Valley Gazette", "valley-gazette.example"),
    FeedSpec("/coastal-radio.xml", "Coastal Radio", "coastal-radio.example"),
]
# Seconds into the stream at which each service is killed (in this order), so that every kill
# happens with articles in flight at every stage.
KILLS = [("collector", 8.0), ("streams", 20.0), ("indexer", 32.0), ("alerter", 44.0)]


def stream_of_stories() -> list[Story]:
    """200 distinct stories: unrelated news with talks coverage and buildup reports spread through it."""
    english_talks = [s for s in TALKS if not s.slug.endswith(("-de", "-fr"))]
    # Talks at 21, 42, ... 126 and buildup at 130, 145, 160, 175: dealt round-robin over the four feeds,
    # so each kind comes from every source.
    special = {21 + 21 * i: story for i, story in enumerate(english_talks)}
    special |= {130 + 15 * i: story for i, story in enumerate(BUILDUP)}
    filler = iter(filler_stories(ARTICLES - len(special)))
    return [special.get(i) or next(filler) for i in range(ARTICLES)]


@pytest.mark.timeout(420)
def test_every_service_sigkilled_in_turn_loses_nothing_and_repeats_no_alert(
    stack: LocalStack, settings: Settings, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    started = time.monotonic()
    names = new_names()
    server = FeedServer(FEEDS)
    webhook = WebhookReceiver()
    items = server.add(stream_of_stories())
    assert len({item.url for item in items}) == ARTICLES
    feeds_file = server.write_feeds_file(tmp_path / "feeds.yaml", interval=1)
    rules = write_rules(
        tmp_path / "rules.yaml",
        [
            {
                "name": "talks",
                "query": 'tags:"nato-russia-talks"',
                "window": "10m",
                "threshold": 3,
                "min_sources": 2,
                "channels": ["webhook"],
            },
            {
                "name": "buildup",
                "query": 'tags:"troop-buildup"',
                "window": "10m",
                "threshold": 3,
                "group_by": "places",
                "min_sources": 2,
                "channels": ["webhook"],
            },
        ],
    )
    env = shared_stack_env(settings, names, tmp_path / "state", NEWSWATCH_ALERTS_WEBHOOK_URL=webhook.url)
    run = PipelineRun(env, feeds_file, rules, tmp_path / "run.out")
    es = elasticsearch_client(settings)
    kills: dict[str, tuple[str, float, float]] = {}
    try:
        with running(run, settings, names):
            run.wait_for_children(timeout=90)
            server.release_over(items, STREAM_SECONDS)
            stream_start = time.monotonic()
            for name, at in KILLS:
                time.sleep(max(0.0, stream_start + at - time.monotonic()))
                killed_at, wall = time.monotonic(), time.strftime("%H:%M:%S")
                run.kill_child(name)
                kills[name] = (wall, killed_at - stream_start, time.monotonic() - killed_at)
            wait_until(server.all_due, STREAM_SECONDS + 10, "the feeds to serve every article")
            served = {item.url for item in items}
            wait_until(
                lambda: count(es, names.alias) >= ARTICLES, 180, f"all {ARTICLES} articles to be searchable", every=1
            )
            drained = time.monotonic() - stream_start

            def delivered() -> bool:
                fired = alerts(es, names.alerts_index)
                return len(fired) >= 2 and all(a["deliveries"]["webhook"]["status"] == "sent" for a in fired)

            # An alert whose owner was killed before delivering is taken over when its 30 s lease ends.
            wait_until(delivered, 90, "both alerts to be delivered", every=1)
            time.sleep(5)  # a duplicate (re-fired alert or repeated delivery) would arrive now
            code = run.stop()
            output = run.output()
            docs = documents(es, names.alias)
            fired = alerts(es, names.alerts_index)
            dead = deadletter_count(settings, names)
    finally:
        es.close()
        server.close()
        webhook.close()

    # `run` saw every crash, restarted the service, and still stopped cleanly.
    assert code == 0, output[-3000:]
    flat = " ".join(output.split())
    for name in SERVICES:
        assert f"{name} stopped (signal 9)" in flat, name
        assert f"{name} restarted (restart #1)" in flat, name

    # Every distinct article served is indexed, exactly once; none was dead-lettered.
    urls = [doc["url"] for doc in docs]
    assert len(urls) == len(set(urls)) == ARTICLES
    assert set(urls) == served == server.served_urls()
    assert dead == 0

    # Each alert was fired once and POSTed once: talks (one group) and buildup near Ukraine.
    posts = collections.Counter(r.headers.get("Idempotency-Key") for r in webhook.received)
    assert posts and max(posts.values()) == 1, posts
    assert set(posts) == {a["alert_id"] for a in fired}
    assert sorted((a["rule"], a["group"]) for a in fired) == [("buildup", "Ukraine"), ("talks", None)]

    # (The indexer stamps a batch when it builds it, so a pause shows where nothing new reached it.)
    stamps = sorted(datetime.fromisoformat(doc["indexed"]) for doc in docs)
    longest = max((b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False))
    took = time.monotonic() - started
    figures = ", ".join(f"{name} at {at:.0f}s ({wall}) back in {back:.1f}s" for name, (wall, at, back) in kills.items())
    by = {a["rule"]: a["fired_by"].rsplit(":", 2)[-2] for a in fired}  # the alerter's pid
    print(
        f"\nkilled: {figures}; all {ARTICLES} indexed {drained:.0f}s after the stream began "
        f"(longest pause in indexing {longest:.0f}s); alerts fired by alerter pid {by}; test {took:.0f}s"
    )
    record_property("drained_seconds", round(drained, 1))
