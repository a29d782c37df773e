"""What a replica knows about one owned feed partition, rebuilt from Kafka when it gets the partition.

On assignment the new owner reads partition p of ``news.seen`` (article id -> seen record) and of
``news.feed-status`` (feed_id -> poll state) from the beginning to the high watermark, read_committed
(see ``kafka_io``). Blocking: run it in a worker thread.

Re-acquiring a partition after a rebalance need not re-read it: the replica keeps what it knew at
release, with the high watermarks of both topics at that moment (after its last commit). Only the
owner writes to a partition, so unchanged high watermarks at re-acquisition prove that nobody wrote
in between and the kept state is exact. Any other write (even an abort marker) moves them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kafka import TopicPartition

from collectors.dedupe import SeenRecord, decode_seen
from collectors.feed_status import FeedStatus, decode_status
from collectors.kafka_io import OffsetsProbe, StoredRecord, read_to_end
from collectors.layout import CollectorTopics
from newswatch.settings import Settings


@dataclass(frozen=True, slots=True)
class Watermarks:
    seen: int
    status: int


@dataclass
class PartitionState:
    seen: dict[str, SeenRecord] = field(default_factory=dict)
    statuses: dict[str, FeedStatus] = field(default_factory=dict)
    unreadable: int = 0  # records this build could not decode (their ids count as not seen)


class PartitionStore:
    """Loads partition state and reads high watermarks; thread-safe."""

    def __init__(self, settings: Settings, topics: CollectorTopics, probe: OffsetsProbe) -> None:
        self._settings = settings
        self._topics = topics
        self._probe = probe

    def _partitions(self, numbers: list[int]) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in numbers for topic in (self._topics.seen, self._topics.status)]

    def watermarks(self, numbers: list[int]) -> dict[int, Watermarks]:
        ends = self._probe.high_watermarks(self._partitions(numbers))
        return {
            p: Watermarks(ends[TopicPartition(self._topics.seen, p)], ends[TopicPartition(self._topics.status, p)])
            for p in numbers
        }

    def load(
        self, numbers: list[int], *, cancelled: threading.Event | None = None, stall_timeout: float = 60.0
    ) -> tuple[dict[int, PartitionState], dict[int, Watermarks]]:
        """Read the partitions to their high watermarks; returns their state and the watermarks reached."""
        partitions = self._partitions(numbers)
        targets = self._probe.high_watermarks(partitions)
        states = {p: PartitionState() for p in numbers}
        seen_topic = self._topics.seen

        def keep(record: StoredRecord) -> None:
            state = states[record.partition]
            if record.topic == seen_topic:
                seen = decode_seen(record.value)
                if seen is not None:
                    state.seen[record.key] = seen
                else:
                    state.seen.pop(record.key, None)
                    state.unreadable += record.value is not None
            else:
                status = decode_status(record.value)
                if status is not None:
                    state.statuses[record.key] = status
                else:
                    state.statuses.pop(record.key, None)
                    state.unreadable += record.value is not None

        read_to_end(
            self._settings,
            partitions,
            keep,
            targets=targets,
            timeout=stall_timeout,
            cancelled=cancelled,
            client_id="newswatch-collector-loader",
        )
        return states, {
            p: Watermarks(targets[TopicPartition(seen_topic, p)], targets[TopicPartition(self._topics.status, p)])
            for p in numbers
        }
