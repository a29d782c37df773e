"""The worker's output for a batch of articles, produced as one Kafka record batch per topic partition.

Faust's own send path (``Topic.send``, a table's ``send_changelog``) wraps every record in several
Python objects and futures and hands it to aiokafka one record at a time. For the three records an
article produces (``news.tagged`` and the two tables' changelogs) that, and the broker's work on
many small batches, cost the worker 0.6 of its 1.4 CPU-ms per article (bench/pipeline_stages.py).
Here the records of a batch of articles are grouped per topic partition (``RecordBatches``, pure)
and each group goes to Faust's own aiokafka producer as one closed record batch (``send``): it
leaves at once, without lingering, and the caller awaits its acknowledgement before marking the
articles processed, so an offset is committed only after everything it produced is durable.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

Record = tuple[bytes | None, bytes]


class RecordTooLarge(ValueError):
    """One record is larger than the producer may send in one request."""


@dataclass(frozen=True, slots=True)
class Sent:
    """One record batch: where it went, how many records, and its acknowledgement."""

    topic: str
    partition: int
    count: int
    acknowledged: asyncio.Future[Any]

    def last_offset(self) -> int:
        """The offset of the batch's last record (once acknowledged)."""
        return int(self.acknowledged.result().offset) + self.count - 1


@dataclass
class RecordBatches:
    """Records grouped by (topic, partition), each group in the order its records were added."""

    max_record_bytes: int
    groups: dict[tuple[str, int], list[Record]] = field(default_factory=lambda: defaultdict(list))

    def check(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Raise ``RecordTooLarge`` for a record the broker would refuse; call before ``add``."""
        size = len(value) + len(key or b"")
        if size > self.max_record_bytes:
            raise RecordTooLarge(
                f"the record for {topic} is {size:,} bytes, over the producer's limit of "
                f"{self.max_record_bytes:,} (its article is too long to pass on)"
            )

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        self.groups[(topic, partition)].append((key, value))

    def __len__(self) -> int:
        return sum(map(len, self.groups.values()))

    async def send(self, producer: Any) -> list[Sent]:
        """Hand every record to ``producer`` (aiokafka), as few closed batches as fit its batch size."""
        sent: list[Sent] = []
        for (topic, partition), records in self.groups.items():
            builder, count = producer.create_batch(), 0
            for key, value in records:
                # An empty builder always takes one record (a larger one gets a batch of its own).
                if builder.append(key=key, value=value, timestamp=None) is None:
                    sent.append(await _submit(producer, builder, topic, partition, count))
                    builder, count = producer.create_batch(), 0
                    builder.append(key=key, value=value, timestamp=None)
                count += 1
            if count:
                sent.append(await _submit(producer, builder, topic, partition, count))
        return sent


async def _submit(producer: Any, builder: Any, topic: str, partition: int, count: int) -> Sent:
    # A closed batch is sent at once; an open one would wait out the producer's linger first.
    builder.close()
    acknowledged = await producer.send_batch(builder, topic, partition=partition)
    return Sent(topic, partition, count, acknowledged)
