"""The indexer process: `news.tagged` -> Elasticsearch, offsets committed only after ES acknowledged.

Order of a cycle (at-least-once, made exactly-once in effect by idempotent writes):
1. poll records until the batch is full or the flush interval has passed;
2. bulk-write them; transient failures (ES down, 429, 5xx) are retried with capped backoff, holding
   the batch: nothing is committed and nothing is lost;
3. records that can never be indexed go to `news.deadletter`, and that producer is flushed;
4. only then are the batch's offsets committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch
from prometheus_client import Counter, Gauge, Histogram
from pydantic_core import to_json

from indexers.actions import BULK_RESPONSE_FIELDS, Batch, Record, Rejected, build_batch, classify_bulk_response
from indexers.document import ALIAS
from newswatch.deadletter import DeadLetter
from newswatch.topics import DEADLETTER, Topics

DOCS = Counter("newswatch_indexer_documents_total", "Documents handled by the indexer", ["outcome"])
BULK_SECONDS = Histogram("newswatch_indexer_bulk_seconds", "Duration of one bulk request")
ES_UNAVAILABLE = Counter("newswatch_indexer_es_unavailable_total", "Bulk attempts that found ES unavailable")
BATCH_SIZE = Gauge("newswatch_indexer_last_batch_size", "Records in the last flushed batch")


class IndexUnavailable(RuntimeError):
    """Elasticsearch cannot take writes right now (down, overloaded): retry later."""


@dataclass(frozen=True)
class IndexerConfig:
    batch_size: int = 500
    flush_interval: float = 0.5  # seconds: a lone article waits at most this long for company
    max_backoff: float = 10.0
    alias: str = ALIAS
    deadletter_topic: str = DEADLETTER


class Indexer:
    def __init__(
        self,
        *,
        consumer: Any,  # kafka.KafkaConsumer, subscribed to news.tagged, auto-commit off
        producer: Any,  # kafka.KafkaProducer for dead letters
        es: Elasticsearch,
        log: Any,
        config: IndexerConfig = IndexerConfig(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.es = es
        self.log = log
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.stopping = threading.Event()
        self.es_available = True
        self.indexed_total = 0

    def health(self) -> tuple[bool, dict[str, object]]:
        return self.es_available, {"elasticsearch": self.es_available, "indexed": self.indexed_total}

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            records = self._poll_batch()
            if records and self._flush(records):
                self._commit(records)

    def _poll_batch(self) -> list[Record]:
        records: list[Record] = []
        deadline: float | None = None
        while len(records) < self.config.batch_size and not self.stopping.is_set():
            wait = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            if deadline is not None and wait == 0.0:
                break
            polled = self.consumer.poll(timeout_ms=int(wait * 1000), max_records=self.config.batch_size - len(records))
            for tp, messages in polled.items():
                records += [Record(tp.topic, tp.partition, m.offset, m.key, m.value) for m in messages]
            if records and deadline is None:
                deadline = time.monotonic() + self.config.flush_interval
        return records

    def _flush(self, records: list[Record]) -> bool:
        """Index ``records``; True once every one is written, stale, or dead-lettered."""
        batch = build_batch(records, self.config.alias, self.clock())
        BATCH_SIZE.set(len(records))
        self._dead_letter(batch.rejected)
        attempt = 0
        while batch.operations:
            try:
                response = self._bulk(batch)
            except IndexUnavailable as exc:
                ES_UNAVAILABLE.inc()
                self.es_available = False
                delay = min(self.config.max_backoff, 0.5 * 2**attempt)
                self.log.warning("elasticsearch unavailable; holding the batch", error=str(exc), retry_in=delay)
                attempt += 1
                if self.stopping.wait(delay):
                    return False  # stop without committing: the batch is replayed on restart
                continue
            self.es_available = True
            outcome = classify_bulk_response(response, batch.records)
            DOCS.labels("written").inc(outcome.written)
            DOCS.labels("stale").inc(outcome.stale)
            self.indexed_total += outcome.written + outcome.stale
            self._dead_letter(outcome.rejected)
            if not outcome.retry:
                break
            attempt += 1
            self.sleep(min(self.config.max_backoff, 0.2 * 2**attempt))
            batch = build_batch(outcome.retry, self.config.alias, self.clock())
        self.producer.flush(timeout=30)
        return True

    def _bulk(self, batch: Batch) -> dict[str, Any]:
        started = time.monotonic()
        try:
            # Only what classify_bulk_response reads: the full per-item results (index, version, shards,
            # sequence numbers) are ~5 times larger, for Elasticsearch to write and for us to parse.
            response = self.es.bulk(operations=encode_operations(batch.operations), filter_path=BULK_RESPONSE_FIELDS)
        except (EsConnectionError, ConnectionTimeout) as exc:
            raise IndexUnavailable(str(exc)) from exc
        except ApiError as exc:
            if exc.status_code in (429, 502, 503, 504):
                raise IndexUnavailable(f"HTTP {exc.status_code}: {exc.message}") from exc
            raise
        finally:
            BULK_SECONDS.observe(time.monotonic() - started)
        return dict(response.body)

    def _dead_letter(self, rejected: list[Rejected]) -> None:
        for item in rejected:
            DOCS.labels("dead_lettered").inc()
            letter = DeadLetter.of(
                stage="indexer",
                error_kind=item.kind,
                error=item.reason,
                topic=item.record.topic,
                partition=item.record.partition,
                offset=item.record.offset,
                key=item.record.key,
                value=item.record.value,
                at=self.clock(),
            )
            self.producer.send(
                self.config.deadletter_topic, key=item.record.key, value=letter.model_dump_json().encode()
            )
            self.log.warning(
                "record dead-lettered",
                kind=item.kind,
                reason=item.reason[:300],
                partition=item.record.partition,
                offset=item.record.offset,
            )

    def _commit(self, records: list[Record]) -> None:
        from kafka import TopicPartition
        from kafka.errors import CommitFailedError, KafkaError
        from kafka.structs import OffsetAndMetadata

        offsets: dict[Any, Any] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp not in offsets or offsets[tp].offset <= record.offset:
                offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        try:
            self.consumer.commit(offsets)
        except CommitFailedError as exc:
            # The partitions moved to another indexer during a long outage: it replays them, and the
            # writes are idempotent, so nothing is lost or doubled.
            self.log.warning("commit refused after a rebalance; the new owner will replay", error=str(exc))
        except KafkaError as exc:
            # The broker is unreachable (restarting). The batch is in Elasticsearch and the consumer's
            # position has moved on, so the next successful commit covers these offsets too; until then
            # a restart replays them (idempotent). Crashing here would only turn a broker restart into
            # an indexer restart.
            self.log.warning("offset commit failed; the next commit covers these records", error=str(exc))

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.producer.flush(timeout=30)
        self.producer.close(timeout=30)
        self.es.close()


def encode_operations(operations: list[dict[str, Any]]) -> list[bytes | dict[str, Any]]:
    """The bulk body's lines as JSON bytes, encoded by pydantic-core.

    The client would encode them with the standard library's ``json`` (the same JSON, ~3x slower);
    it passes bytes through as they are. An operation pydantic-core refuses (a string with a lone
    surrogate) is left to the client's serializer, as before.
    """
    lines: list[bytes | dict[str, Any]] = []
    for operation in operations:
        try:
            lines.append(to_json(operation))
        except ValueError:
            lines.append(operation)
    return lines


def build_indexer(
    settings: Any,
    log: Any,
    *,
    topics: Topics,
    group_id: str | None = None,
    config: IndexerConfig | None = None,
) -> Indexer:
    """Wire an Indexer to Kafka and Elasticsearch from settings (the CLI and the tests share this)."""
    from kafka import KafkaConsumer, KafkaProducer

    from newswatch.clients import elasticsearch_client, kafka_python_config

    source_topic = topics.tagged
    group_id = group_id or f"{settings.topic_prefix}newswatch-indexer"
    config = config or IndexerConfig(
        batch_size=settings.indexer_batch_size,
        flush_interval=settings.indexer_flush_interval,
        alias=settings.index_alias,
        deadletter_topic=topics.deadletter,
    )
    kafka_config = kafka_python_config(settings)
    consumer = KafkaConsumer(
        **kafka_config,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=config.batch_size,
        max_poll_interval_ms=600_000,  # an ES outage holds a batch; don't leave the group for it
        # kafka-python 3's default session timeout is 45 s: a restarted indexer would wait that long for
        # the group to drop its killed predecessor before it may read. Heartbeats come from a background
        # thread, so a held batch (ES outage) does not need a long session.
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
    )
    # Join (at the first poll) only once the topic's partitions are in the metadata: kafka-python can
    # otherwise join the group with an empty assignment for a just-created topic and keep it until the
    # next rebalance. Subscribed first, so that the metadata the group leader assigns from includes the
    # topic: subscribed after, kafka-python 3 rebalanced a second time at its next metadata refresh,
    # and a rebalance started that way can leave a member without its assignment (collectors/membership.py).
    consumer.subscribe([source_topic])
    deadline = time.monotonic() + 30
    while not consumer.partitions_for_topic(source_topic) and time.monotonic() < deadline:
        time.sleep(0.2)
    producer = KafkaProducer(**kafka_config, acks="all", enable_idempotence=True, linger_ms=5)
    return Indexer(consumer=consumer, producer=producer, es=elasticsearch_client(settings), log=log, config=config)
