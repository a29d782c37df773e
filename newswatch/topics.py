"""Kafka topic names and their layout, and the idempotent step that creates them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

RAW = "news.raw"
TAGGED = "news.tagged"
DEADLETTER = "news.deadletter"
FEEDS = "news.feeds"  # compacted: the feed registry; its partitions are the unit of feed ownership
SEEN = "news.seen"  # compacted: what each feed partition has emitted (id -> content hash, version)
FEED_STATUS = "news.feed-status"  # compacted: each feed's poll state (cursor, backoff, last success/error)

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "3600000"}


@dataclass(frozen=True)
class Topics:
    """The pipeline's topic names, with the settings' prefix applied (tests use a unique prefix)."""

    prefix: str = ""

    @property
    def raw(self) -> str:
        return self.prefix + RAW

    @property
    def tagged(self) -> str:
        return self.prefix + TAGGED

    @property
    def deadletter(self) -> str:
        return self.prefix + DEADLETTER

    @property
    def feeds(self) -> str:
        return self.prefix + FEEDS

    @property
    def seen(self) -> str:
        return self.prefix + SEEN

    @property
    def feed_status(self) -> str:
        return self.prefix + FEED_STATUS


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def pipeline_topics(topics: Topics = Topics(), feed_partitions: int = 12, data_partitions: int = 4) -> list[TopicSpec]:
    return [
        TopicSpec(topics.raw, data_partitions),
        TopicSpec(topics.tagged, data_partitions),
        TopicSpec(topics.deadletter, 1, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
        TopicSpec(topics.feeds, feed_partitions, COMPACTED),
        # Co-partitioned with FEEDS: the replica that owns feed partition p also owns seen partition p.
        TopicSpec(topics.seen, feed_partitions, COMPACTED),
        # Co-partitioned with FEEDS too: the owner of feed partition p keeps its feeds' poll state there.
        TopicSpec(topics.feed_status, feed_partitions, COMPACTED),
    ]


def ensure_topics(admin, specs: Iterable[TopicSpec], replication_factor: int = 1) -> list[str]:  # type: ignore[no-untyped-def]
    """Create the topics that do not exist yet (kafka-python admin client); returns the names created."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    existing = set(admin.list_topics())
    missing = [spec for spec in specs if spec.name not in existing]
    created: list[str] = []
    for spec in missing:
        try:
            admin.create_topics([NewTopic(spec.name, spec.partitions, replication_factor, topic_configs=spec.config)])
            created.append(spec.name)
        except TopicAlreadyExistsError:
            pass  # another process created it between list and create
    return created


def ensure_pipeline_topics(settings) -> list[str]:  # type: ignore[no-untyped-def]
    """Create every pipeline topic that is missing, with the settings' prefix and replication factor."""
    from kafka import KafkaAdminClient

    from newswatch.clients import kafka_python_config

    admin = KafkaAdminClient(**kafka_python_config(settings))
    try:
        return ensure_topics(admin, pipeline_topics(Topics(settings.topic_prefix)), settings.kafka_replication_factor)
    finally:
        admin.close()
