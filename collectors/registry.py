"""The feed registry in Kafka: one keyed record per feed in the compacted ``news.feeds`` topic.

Key = feed_id, value = the feed's configuration as versioned JSON; a tombstone removes a feed.
``newswatch feeds sync FILE`` makes the registry equal to the file: it writes the feeds that are new
or changed and tombstones the ones no longer in the file. Per-feed poll state (cursor, backoff, last
error) lives in another topic (``news.feed-status``), so the feeds that stay in the file keep their
state through a sync, even when their settings change. A removed feed's status is deleted: the
replica that owns its partition tombstones it when it sees the removal (``ownership.FeedTable``), so
a feed added back later starts afresh (polled soon, no validators, no backoff). One exception: a
removal that arrives while no replica has its partition loaded leaves the old status in place, and
a feed added back then resumes it.

Run the sync from one place at a time (a deploy step, or every replica with the same file):
two different files synced at once leave a mix of both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from collectors.feeds import FeedConfig
from collectors.kafka_io import StoredRecord, read_latest
from collectors.layout import CollectorTopics, feed_partition, prepare_topics
from newswatch.settings import Settings

FEED_RECORD_VERSION = 1


class RegistryRecordError(ValueError):
    """A record in the registry topic that is not a feed this build can read."""


def encode_feed(feed: FeedConfig) -> bytes:
    """The registry value of a feed; stable (sorted keys) so an unchanged feed encodes identically."""
    fields = feed.model_dump(exclude_none=True)
    return json.dumps({"v": FEED_RECORD_VERSION, **fields}, sort_keys=True, separators=(",", ":")).encode()


def decode_feed(key: str, value: bytes) -> FeedConfig:
    """The feed of a registry record; raises RegistryRecordError naming the record and the fix."""
    fix = "fix: run `newswatch feeds sync FILE` with a valid feeds file (it rewrites or removes the record)"
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise RegistryRecordError(f"feed record {key!r} is not JSON ({exc}); {fix}") from None
    if not isinstance(data, dict) or data.get("v") != FEED_RECORD_VERSION:
        version = data.get("v") if isinstance(data, dict) else None
        raise RegistryRecordError(
            f"feed record {key!r} has format version {version!r}, this build reads {FEED_RECORD_VERSION}; "
            "fix: upgrade this collector, or sync the feeds file with this version"
        )
    data.pop("v")
    try:
        feed = FeedConfig.model_validate(data)
    except ValidationError as exc:
        raise RegistryRecordError(f"feed record {key!r} is not a valid feed: {exc}; {fix}") from None
    if feed.feed_id != key:
        raise RegistryRecordError(
            f"feed record {key!r} holds the feed {feed.url!r} whose id is {feed.feed_id!r}; {fix}"
        )
    return feed


@dataclass(frozen=True)
class SyncPlan:
    """What a sync writes: feeds to (re)write with their partition, and (partition, key) tombstones."""

    upserts: tuple[tuple[int, FeedConfig], ...] = ()
    removals: tuple[tuple[int, str], ...] = ()
    unchanged: int = 0
    added: tuple[str, ...] = field(default=())  # feed ids new to the registry


def plan_sync(current: Mapping[str, StoredRecord], wanted: Sequence[FeedConfig], partitions: int) -> SyncPlan:
    """Compare the registry (latest record per key) with the feeds file. Pure.

    A record found in another partition than the feed's (written by a tool with another partitioner)
    is tombstoned there and rewritten where the collectors look for it.
    """
    upserts: list[tuple[int, FeedConfig]] = []
    removals: list[tuple[int, str]] = []
    added: list[str] = []
    unchanged = 0
    wanted_ids = set()
    for feed in wanted:
        wanted_ids.add(feed.feed_id)
        partition = feed_partition(feed.feed_id, partitions)
        existing = current.get(feed.feed_id)
        if existing is None:
            added.append(feed.feed_id)
        elif existing.partition != partition:
            removals.append((existing.partition, feed.feed_id))
        elif existing.value == encode_feed(feed):
            unchanged += 1
            continue
        upserts.append((partition, feed))
    for key, record in sorted(current.items()):
        if key not in wanted_ids:
            removals.append((record.partition, key))
    return SyncPlan(tuple(upserts), tuple(removals), unchanged, tuple(added))


@dataclass(frozen=True)
class SyncReport:
    added: int
    updated: int
    removed: int
    unchanged: int
    partitions: int

    def describe(self) -> str:
        return (
            f"feed registry synced: {self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged"
        )


def sync_feeds(settings: Settings, feeds: Sequence[FeedConfig], topics: CollectorTopics | None = None) -> SyncReport:
    """Make the registry topic equal to ``feeds`` (creating the topics if needed). Blocking."""
    from kafka import KafkaProducer

    from newswatch.clients import kafka_python_config

    topics = topics or CollectorTopics.from_settings(settings)
    partitions = prepare_topics(settings, topics)
    current = read_latest(settings, topics.feeds, timeout=settings.request_timeout * 6)
    plan = plan_sync(current, feeds, partitions)
    if plan.upserts or plan.removals:
        producer = KafkaProducer(
            **kafka_python_config(settings),
            acks="all",
            enable_idempotence=True,
            allow_auto_create_topics=False,
            max_block_ms=int(settings.request_timeout * 1000),
        )
        try:
            futures = [
                producer.send(topics.feeds, key=key.encode(), value=None, partition=partition)
                for partition, key in plan.removals
            ]
            futures += [
                producer.send(topics.feeds, key=feed.feed_id.encode(), value=encode_feed(feed), partition=partition)
                for partition, feed in plan.upserts
            ]
            producer.flush(timeout=settings.request_timeout * 3)
            for future in futures:
                future.get(timeout=settings.request_timeout)  # raises the send's error, if any
        finally:
            producer.close(timeout=settings.request_timeout)
    moved = {key for _, key in plan.removals} & {feed.feed_id for _, feed in plan.upserts}
    return SyncReport(
        added=len(plan.added),
        updated=len(plan.upserts) - len(plan.added),
        removed=len(plan.removals) - len(moved),
        unchanged=plan.unchanged,
        partitions=partitions,
    )
