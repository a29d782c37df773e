"""Where the collectors keep things in Kafka: topic names, the feed partitioner, the topics' checks.

Three compacted topics share one partitioning, so the replica that owns partition p of the feed
registry also owns partition p of the seen map and of the feed status:

- ``news.feeds``        key = feed_id, value = the feed's configuration (the registry);
- ``news.seen``         key = article id, value = the seen record, in the partition *of its feed*;
- ``news.feed-status``  key = feed_id, value = the feed's poll state (cursor, backoff, last error).

``feed_partition`` is Kafka's default partitioner (murmur2 of the key, as the Java client does), so a
record written by any client with the default partitioner lands where the collectors look for it.
Every write to these topics names the partition explicitly anyway: a seen record's key is an
article id, but its partition is its feed's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka.partitioner.default import murmur2

from newswatch.settings import Settings
from newswatch.topics import Topics, TopicSpec, ensure_topics, pipeline_topics

GROUP_SUFFIX = "newswatch-collectors"


class TopicLayoutError(RuntimeError):
    """The topics exist but cannot be used as they are (a crash: an operator must fix them)."""


def feed_partition(feed_id: str, partitions: int) -> int:
    """Partition of a feed in the co-partitioned topics (Kafka's default partitioner on the key)."""
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    return (murmur2(feed_id.encode()) & 0x7FFFFFFF) % partitions


def group_id(settings: Settings) -> str:
    """The consumer group every collector replica joins (prefixed like the topics)."""
    return f"{settings.topic_prefix}{GROUP_SUFFIX}"


@dataclass(frozen=True)
class CollectorTopics:
    """The topic names one collector uses."""

    raw: str
    feeds: str
    seen: str
    status: str

    @classmethod
    def from_settings(cls, settings: Settings) -> CollectorTopics:
        topics = Topics(settings.topic_prefix)
        return cls(raw=topics.raw, feeds=topics.feeds, seen=topics.seen, status=topics.feed_status)

    @property
    def co_partitioned(self) -> tuple[str, str, str]:
        return (self.feeds, self.seen, self.status)


def collector_topic_specs(settings: Settings) -> list[TopicSpec]:
    names = set(CollectorTopics.from_settings(settings).co_partitioned) | {Topics(settings.topic_prefix).raw}
    return [spec for spec in pipeline_topics(Topics(settings.topic_prefix)) if spec.name in names]


def check_co_partitioned(partition_counts: dict[str, int], topics: CollectorTopics) -> int:
    """The shared partition count of the three co-partitioned topics; raises when they differ."""
    counts = {name: partition_counts.get(name, 0) for name in topics.co_partitioned}
    missing = [name for name, count in counts.items() if count == 0]
    if missing:
        raise TopicLayoutError(
            f"topic(s) {', '.join(missing)} do not exist or have no partitions; "
            "fix: run `newswatch feeds sync FILE` or `newswatch collect`, which create them"
        )
    if len(set(counts.values())) != 1:
        listed = ", ".join(f"{name} has {count}" for name, count in counts.items())
        raise TopicLayoutError(
            f"the collector topics must have the same number of partitions (they are co-partitioned): {listed}; "
            f"fix: recreate the smaller ones with {max(counts.values())} partitions (their data is rebuilt: "
            "sync the feeds file again; seen ids and feed status start empty)"
        )
    return counts[topics.feeds]


def prepare_topics(settings: Settings, topics: CollectorTopics) -> int:
    """Create the collectors' topics if missing and check their layout; returns the feed partition count."""
    from kafka import KafkaAdminClient

    from newswatch.clients import kafka_python_config

    admin = KafkaAdminClient(**kafka_python_config(settings))
    try:
        created = ensure_topics(admin, collector_topic_specs(settings), settings.kafka_replication_factor)
        # A topic created a moment ago may not be in the metadata yet: ask again for a few seconds.
        deadline = time.monotonic() + (settings.request_timeout if created else 0.0)
        while True:
            described = admin.describe_topics(list(topics.co_partitioned))
            counts = {
                entry["name"]: len(entry.get("partitions") or ()) for entry in described if not entry.get("error_code")
            }
            if len(counts) == len(topics.co_partitioned) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        admin.close()
    return check_co_partitioned(counts, topics)
