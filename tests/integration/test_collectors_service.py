"""The collector service against the real broker, one replica at a time (real `newswatch collect`
subprocesses, feeds served by a local HTTP server): exactly once across restarts, new versions of
changed entries, conditional GET, and broken feeds that never stop the good ones."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newswatch.settings import Settings
from newswatch.stack.local import LocalStack
from tests.integration.test_collectors_support import (
    Feed,
    FeedServer,
    Item,
    Replica,
    collector_env,
    delete_topics,
    kill_leftover_replicas,
    prefixed_settings,
    raw_articles,
    write_feeds_file,
)
from tests.integration.waiting import wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


def items(prefix: str, count: int) -> list[Item]:
    return [Item(f"{prefix}-{n}", f"Story {prefix} {n}") for n in range(count)]


@pytest.fixture
def prefix(stack: LocalStack, unique_name: str) -> Iterator[str]:
    name = f"{unique_name}."
    yield name
    kill_leftover_replicas()
    delete_topics(prefixed_settings(name))


def test_articles_reach_raw_exactly_once_across_restarts(prefix: str, tmp_path: Path) -> None:
    settings = prefixed_settings(prefix)
    with FeedServer() as server:
        server.feeds["/etag.xml"] = Feed(items=items("a", 5))
        server.feeds["/plain.xml"] = Feed(items=items("b", 5), validators=False)
        # A new body on every poll: parsed every time, so only the seen map in Kafka stops copies.
        server.feeds["/volatile.xml"] = Feed(items=items("c", 5), validators=False, volatile=True)
        feeds_file = write_feeds_file(tmp_path / "feeds.yaml", server, list(server.feeds), interval=1)
        env = collector_env(prefix)

        def polled(after: float, count: int) -> bool:
            return all(len(server.requests_for(path, after)) >= count for path in server.feeds)

        first = Replica("first", env, tmp_path, feeds_file)
        try:
            # 100 s: past the 90 s after which a replica whose group join stalled starts over (collectors/
            # membership.py); this test is about copies, not start-up time. A replica that died says why.
            try:
                wait_until(lambda: first.alive() and len(raw_articles(settings)) >= 15, 100, "the first 15 articles")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{first.tail()}") from None
            started = time.monotonic()
            wait_until(lambda: polled(started, 2), 20, "two more polls of every feed")
        finally:
            assert first.stop() == 0, first.tail()

        second = Replica("second", env, tmp_path)  # no --feeds: the registry comes from Kafka
        try:
            started = time.monotonic()
            wait_until(lambda: polled(started, 3), 40, lambda: f"three polls by the restarted replica\n{second.tail()}")
        finally:
            second.kill()  # no clean exit: its group membership and any open transaction just expire

        third = Replica("third", env, tmp_path)
        started = time.monotonic()
        try:
            wait_until(lambda: polled(started, 3), 60, lambda: f"three polls after a SIGKILL\n{third.tail()}")
        finally:
            assert third.stop() == 0, third.tail()

    records = raw_articles(settings)
    copies = Counter((article.id, article.version) for article in records)
    assert len(records) == 15, f"expected 15 articles exactly once, got {len(records)}: {copies.most_common(3)}"
    assert set(copies.values()) == {1}
    assert {article.version for article in records} == {1}


def test_updated_entry_yields_a_new_version(prefix: str, tmp_path: Path) -> None:
    settings = prefixed_settings(prefix)
    with FeedServer() as server:
        feed = server.feeds["/news.xml"] = Feed(items=[Item("v-1", "Talks begin"), Item("v-2", "Troops gather")])
        replica = Replica(
            "updater", collector_env(prefix), tmp_path, write_feeds_file(tmp_path / "f.yaml", server, ["/news.xml"])
        )
        try:
            wait_until(
                lambda: len(raw_articles(settings)) >= 2, 60, lambda: f"the first two articles\n{replica.tail()}"
            )
            feed.items = [Item("v-1", "Talks begin in Geneva", text="An updated text."), Item("v-2", "Troops gather")]
            wait_until(lambda: any(a.version == 2 for a in raw_articles(settings)), 20, "version 2")
            # Back to the first wording: a content hash already emitted is not a new version.
            feed.items = [Item("v-1", "Talks begin"), Item("v-2", "Troops gather")]
            since = time.monotonic()
            wait_until(lambda: len(server.requests_for("/news.xml", since)) >= 3, 20, "three more polls")
        finally:
            assert replica.stop() == 0, replica.tail()

    records = raw_articles(settings)
    by_title = {(a.title, a.version): a for a in records}
    assert len(records) == 3, [(a.title, a.version) for a in records]
    original, updated = by_title[("Talks begin", 1)], by_title[("Talks begin in Geneva", 2)]
    assert original.id == updated.id and original.content_hash != updated.content_hash
    assert updated.summary == "An updated text."
    assert ("Troops gather", 1) in by_title


def test_conditional_get_is_honoured_and_304_produces_nothing(prefix: str, tmp_path: Path) -> None:
    settings = prefixed_settings(prefix)
    with FeedServer() as server:
        server.feeds["/cond.xml"] = Feed(items=items("k", 3))
        replica = Replica(
            "conditional", collector_env(prefix), tmp_path, write_feeds_file(tmp_path / "f.yaml", server, ["/cond.xml"])
        )
        try:
            wait_until(lambda: len(server.requests_for("/cond.xml")) >= 5, 60, lambda: f"five polls\n{replica.tail()}")
            time.sleep(1.5)  # let the last poll's transaction commit
            not_modified = replica.metric("newswatch_collector_not_modified_total")
            polls_304 = replica.metric('newswatch_collector_polls_total{result="not_modified"}')
        finally:
            assert replica.stop() == 0, replica.tail()

    requests = server.requests_for("/cond.xml")
    first, later = requests[0], requests[1:]
    assert first.if_none_match is None and first.status == 200
    etag = later[0].if_none_match
    assert etag and all(r.if_none_match == etag and r.if_modified_since for r in later)
    assert all(r.status == 304 for r in later)
    assert not_modified >= 4 and polls_304 >= 4
    assert len(raw_articles(settings)) == 3  # the 304s added nothing


def test_broken_feeds_never_stop_the_others(
    prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    from collectors.cli import feeds_app

    good = ["/good-1.xml", "/good-2.xml"]
    broken = {
        "/error.xml": Feed(status=500),
        "/missing.xml": Feed(status=404),
        "/malformed.xml": Feed(body=(FIXTURES / "malformed.xml").read_bytes()),
        "/html.xml": Feed(body=(FIXTURES / "html_page.html").read_bytes(), content_type="text/html"),
        "/bomb.xml": Feed(body=(FIXTURES / "entity_bomb.xml").read_bytes()),
        "/hang.xml": Feed(items=items("h", 1), delay=25.0),  # longer than the 10 s read timeout
    }
    with FeedServer() as server:
        for index, path in enumerate(good):
            server.feeds[path] = Feed(items=items(f"g{index}", 4), validators=False, volatile=True)
        server.feeds.update(broken)
        feeds_file = write_feeds_file(tmp_path / "f.yaml", server, [*good, *broken])
        replica = Replica("sturdy", collector_env(prefix), tmp_path, feeds_file)
        try:
            wait_until(
                lambda: len(raw_articles(prefixed_settings(prefix))) >= 8, 60, lambda: f"articles\n{replica.tail()}"
            )
            wait_until(lambda: replica.metric('newswatch_collector_errors_total{kind="timeout",') >= 1, 60, "timeout")
            # While the hanging feed's first request was pending (10 s read timeout), the good feeds went on.
            hang = server.requests_for("/hang.xml")[0].at
            during = {path: len([r for r in server.requests_for(path, hang) if r.at < hang + 9]) for path in good}
            assert all(count >= 5 for count in during.values()), during
            errors = {
                kind: replica.metric(f'newswatch_collector_errors_total{{kind="{kind}",')
                for kind in ("http_status", "parse_error", "not_a_feed", "refused_entities", "timeout")
            }
            by_status = {
                status: replica.metric(f'newswatch_collector_errors_total{{kind="http_status",status="{status}"}}')
                for status in ("404", "500")
            }
            monkeypatch.setenv("NEWSWATCH_TOPIC_PREFIX", prefix)
            table = CliRunner().invoke(feeds_app, ["status"], env={"COLUMNS": "200"})
            as_json = CliRunner().invoke(feeds_app, ["status", "--json"])
        finally:
            assert replica.stop() == 0, replica.tail()

    assert all(count >= 1 for count in errors.values()), errors
    assert all(count >= 1 for count in by_status.values()), by_status  # a 404 is told from a 500
    assert table.exit_code == 0, table.output
    assert "HTTP 500" in table.output and "good-1" in table.output
    rows = {row["url"].rsplit("/", 1)[1]: row for row in map(json.loads, as_json.output.splitlines())}
    assert rows["good-1.xml"]["last_success_at"] and rows["good-1.xml"]["consecutive_failures"] == 0
    for path in ("error.xml", "missing.xml", "malformed.xml", "html.xml", "bomb.xml"):
        assert rows[path]["consecutive_failures"] >= 1 and rows[path]["last_error"], rows[path]
        assert rows[path]["next_poll_at"]
    # One clear line per broken feed (not one per poll), naming the feed and the error.
    failures = [line for line in replica.log_lines() if line.get("event") == "feed poll failed"]
    assert Counter(line["url"].rsplit("/", 1)[1] for line in failures)["error.xml"] == 1
