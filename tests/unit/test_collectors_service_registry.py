"""The feed registry records, the sync plan, the topic layout and the `feeds status` rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kafka.partitioner.default import murmur2

from collectors.feed_status import FeedStatus
from collectors.feeds import FeedConfig
from collectors.kafka_io import StoredRecord
from collectors.layout import CollectorTopics, TopicLayoutError, check_co_partitioned, feed_partition, group_id
from collectors.registry import RegistryRecordError, decode_feed, encode_feed, plan_sync
from collectors.status_report import relative, status_rows
from newswatch.settings import Settings

NOW = datetime(2022, 1, 12, 9, 0, tzinfo=UTC)
A = FeedConfig(url="https://a.example.org/rss.xml", name="A", interval=60, language="en")
B = FeedConfig(url="https://b.example.org/rss.xml")
C = FeedConfig(url="https://c.example.org/rss.xml")


def stored(feed: FeedConfig, partitions: int = 12, *, partition: int | None = None) -> StoredRecord:
    where = feed_partition(feed.feed_id, partitions) if partition is None else partition
    return StoredRecord("news.feeds", where, 0, feed.feed_id, encode_feed(feed))


def test_feed_partition_is_kafkas_default_partitioner() -> None:
    for feed in (A, B, C):
        expected = (murmur2(feed.feed_id.encode()) & 0x7FFFFFFF) % 12
        assert feed_partition(feed.feed_id, 12) == expected
    assert feed_partition("abc", 1) == 0
    with pytest.raises(ValueError):
        feed_partition("abc", 0)


def test_topic_names_and_group_follow_the_prefix() -> None:
    settings = Settings.load({"NEWSWATCH_TOPIC_PREFIX": "team-a."})
    topics = CollectorTopics.from_settings(settings)
    assert (topics.raw, topics.feeds, topics.seen, topics.status) == (
        "team-a.news.raw",
        "team-a.news.feeds",
        "team-a.news.seen",
        "team-a.news.feed-status",
    )
    assert group_id(settings) == "team-a.newswatch-collectors"


def test_co_partitioning_is_checked() -> None:
    topics = CollectorTopics("r", "f", "s", "st")
    assert check_co_partitioned({"f": 12, "s": 12, "st": 12}, topics) == 12
    with pytest.raises(TopicLayoutError, match="s has 6"):
        check_co_partitioned({"f": 12, "s": 6, "st": 12}, topics)
    with pytest.raises(TopicLayoutError, match="st do not exist"):
        check_co_partitioned({"f": 12, "s": 12}, topics)


def test_feed_records_round_trip_and_bad_ones_name_the_fix() -> None:
    assert decode_feed(A.feed_id, encode_feed(A)) == A
    assert encode_feed(A) == encode_feed(FeedConfig(url=A.url, name="A", interval=60, language="en"))
    with pytest.raises(RegistryRecordError, match="not JSON.*feeds sync"):
        decode_feed("k", b"{nope")
    with pytest.raises(RegistryRecordError, match="format version 2"):
        decode_feed("k", b'{"v": 2, "url": "https://x.example/"}')
    with pytest.raises(RegistryRecordError, match="not a valid feed"):
        decode_feed("k", b'{"v": 1, "url": "ftp://x.example/"}')
    with pytest.raises(RegistryRecordError, match="whose id is"):
        decode_feed("another-key", encode_feed(A))


def test_sync_plan_adds_updates_and_removes() -> None:
    renamed_b = FeedConfig(url=B.url, name="B renamed")
    current = {A.feed_id: stored(A), B.feed_id: stored(B), C.feed_id: stored(C)}

    plan = plan_sync(current, [A, renamed_b, FeedConfig(url="https://d.example.org/rss.xml")], 12)

    assert plan.unchanged == 1
    assert [feed.name for _, feed in plan.upserts] == ["B renamed", None]
    assert len(plan.added) == 1
    assert plan.removals == ((feed_partition(C.feed_id, 12), C.feed_id),)
    assert all(p == feed_partition(feed.feed_id, 12) for p, feed in plan.upserts)


def test_sync_plan_moves_a_record_written_to_the_wrong_partition() -> None:
    right = feed_partition(A.feed_id, 12)
    wrong = (right + 1) % 12
    plan = plan_sync({A.feed_id: stored(A, partition=wrong)}, [A], 12)
    assert plan.removals == ((wrong, A.feed_id),) and plan.upserts == ((right, A),)


def test_status_rows_put_failing_feeds_first() -> None:
    failing = FeedStatus(
        feed_id=B.feed_id,
        url=B.url,
        owner="r1",
        updated_at=NOW,
        next_poll_at=NOW + timedelta(seconds=120),
        consecutive_failures=3,
        last_error="http_status 500",
        last_failure_at=NOW,
    )
    rows = status_rows({A.feed_id: A, B.feed_id: B}, {B.feed_id: failing})
    assert [row.feed_id for row in rows] == [B.feed_id, A.feed_id]
    assert rows[0].last_error == "http_status 500" and rows[0].owner == "r1" and rows[0].name == "b.example.org"
    assert rows[1].next_poll_at is None and rows[1].name == "A"
    assert rows[0].as_json()["next_poll_at"] == (NOW + timedelta(seconds=120)).isoformat()


def test_relative_times() -> None:
    assert relative(None, NOW) == "never"
    assert relative(NOW - timedelta(seconds=12), NOW) == "12s ago"
    assert relative(NOW + timedelta(minutes=3, seconds=5), NOW) == "in 3m"
    assert relative(NOW - timedelta(days=2), NOW) == "2d ago"
