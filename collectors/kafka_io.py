"""Reading compacted partitions from the beginning to their end: blocking, bounded, cancellable.

Always ``read_committed``: records of an aborted transaction (a replica killed half-way) are never
taken as facts. What "the end" means is the caller's choice:

- the **last stable offset** (``read_committed`` end offset): never waits; what ``feeds status``
  and ``feeds sync`` need;
- the **high watermark** (``read_uncommitted`` end offset, from ``OffsetsProbe``): reaching it
  means every transaction that had written to the partition when the read began is resolved —
  committed or aborted. A new owner of a feed partition waits for that before it trusts its seen
  map, so a transaction the previous owner had in flight is seen if it commits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaTimeoutError

from newswatch.clients import kafka_python_config
from newswatch.settings import Settings


@dataclass(frozen=True, slots=True)
class StoredRecord:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes | None  # None: a tombstone


class ReadCancelled(Exception):
    """The caller no longer needs the data (e.g. the partition was revoked while loading)."""


def _consumer(settings: Settings, isolation_level: str, client_id: str) -> KafkaConsumer:
    return KafkaConsumer(
        **kafka_python_config(settings),
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation_level,
        fetch_max_wait_ms=100,  # the reader waits for the end, not for batches to fill
        allow_auto_create_topics=False,  # a broker default of 4 partitions would break co-partitioning
    )


class OffsetsProbe:
    """High watermarks of partitions, through one long-lived consumer (thread-safe)."""

    def __init__(self, settings: Settings, client_id: str = "newswatch-collector-offsets") -> None:
        self._consumer = _consumer(settings, "read_uncommitted", client_id)
        self._lock = threading.Lock()
        self._timeout_ms = int(settings.request_timeout * 1000)

    def high_watermarks(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        with self._lock:
            return dict(self._consumer.end_offsets(list(partitions), timeout_ms=self._timeout_ms))

    def partitions_of(self, topic: str) -> list[TopicPartition]:
        with self._lock:
            numbers = self._consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, number) for number in sorted(numbers)]

    def close(self) -> None:
        with self._lock:
            self._consumer.close()


def read_to_end(
    settings: Settings,
    partitions: Sequence[TopicPartition],
    on_record: Callable[[StoredRecord], None],
    *,
    targets: Mapping[TopicPartition, int] | None = None,
    timeout: float = 60.0,
    cancelled: threading.Event | None = None,
    client_id: str = "newswatch-collector-reader",
) -> dict[TopicPartition, int]:
    """Call ``on_record`` for every committed record from the beginning up to ``targets`` (default: the
    last stable offsets). Returns the offsets reached.

    Raises KafkaTimeoutError when the read makes no progress for ``timeout`` seconds (a stall, not a
    total: a big seen map may take a while to read), naming the partitions that did not reach their
    end; ReadCancelled when ``cancelled`` is set.
    """
    if not partitions:
        return {}
    consumer = _consumer(settings, "read_committed", client_id)
    try:
        consumer.assign(list(partitions))
        consumer.seek_to_beginning(*partitions)
        request_timeout_ms = int(settings.request_timeout * 1000)
        ends = dict(targets) if targets is not None else consumer.end_offsets(list(partitions), request_timeout_ms)
        pending = set(partitions)
        reached: dict[TopicPartition, int] = {}
        positions: dict[TopicPartition, int | None] = {}
        last_progress = time.monotonic()
        while pending:
            if cancelled is not None and cancelled.is_set():
                raise ReadCancelled()
            for tp in list(pending):
                position = consumer.position(tp, timeout_ms=request_timeout_ms)
                if position != positions.get(tp):
                    positions[tp] = position
                    last_progress = time.monotonic()
                if position is not None and position >= ends[tp]:
                    reached[tp] = position
                    pending.discard(tp)
            if not pending:
                break
            if time.monotonic() - last_progress > timeout:
                behind = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(pending))
                raise KafkaTimeoutError(
                    f"reading {behind} to offset(s) {[ends[tp] for tp in sorted(pending)]} stalled for "
                    f"{timeout:g} s without progress (an open transaction of a crashed replica is aborted after "
                    "NEWSWATCH_COLLECTOR_TRANSACTION_TIMEOUT; a longer wait means Kafka is slow or unreachable)"
                )
            for tp, records in consumer.poll(timeout_ms=200, max_records=10_000).items():
                for record in records:
                    key = record.key.decode("utf-8", "replace") if record.key is not None else ""
                    on_record(StoredRecord(tp.topic, tp.partition, record.offset, key, record.value))
        return reached
    finally:
        consumer.close()


def read_latest(
    settings: Settings, topic: str, *, timeout: float = 60.0, probe: OffsetsProbe | None = None
) -> dict[str, StoredRecord]:
    """The latest record per key of a whole compacted topic, tombstoned keys left out."""
    own_probe = probe is None
    probe = probe or OffsetsProbe(settings, client_id="newswatch-reader-offsets")
    try:
        partitions = probe.partitions_of(topic)
    finally:
        if own_probe:
            probe.close()
    latest: dict[str, StoredRecord] = {}

    def keep(record: StoredRecord) -> None:
        if record.value is None:
            latest.pop(record.key, None)
        else:
            latest[record.key] = record

    read_to_end(settings, partitions, keep, timeout=timeout)
    return latest
