"""Where the worker's records go: ``news.tagged``, the two tables (in memory and their changelogs), dead letters.

Every record of a batch of articles is collected in one ``RecordBatches`` and delivered at once
(``deliver``), see ``streams.record_batches``. A table entry is set in the table's store at once, so
the next article of the same batch sees it (an exact duplicate two records later is dropped), and
its changelog record is encoded exactly as Faust's ``Table.__setitem__`` would, to the partition of
the article that wrote it, as Faust does: recovery and standby replicas read it unchanged.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faust.types import TP

from newswatch.deadletter import DeadLetter
from streams.processor import Reject
from streams.record_batches import RecordBatches


class DeliveryFailed(RuntimeError):
    """The broker did not acknowledge a batch within the producer's timeouts (the worker must restart)."""


@dataclass(frozen=True)
class TableOutput:
    """One Faust table written in bulk: its store, its changelog topic, and Faust's encoders for both."""

    topic: str
    store: Any
    dumps_key: Callable[[str], bytes | None]
    dumps_value: Callable[[str], bytes | None]

    @classmethod
    def of(cls, app: Any, table: Any) -> TableOutput:
        changelog = table.changelog_topic
        serializers = app.serializers
        return cls(
            changelog.get_topic_name(),
            table.data,
            functools.partial(serializers.dumps_key, changelog.key_type, serializer=table.key_serializer),
            functools.partial(serializers.dumps_value, changelog.value_type, serializer=table.value_serializer),
        )

    def write(self, batch: RecordBatches, partition: int, entries: Mapping[str, str]) -> None:
        for key, value in entries.items():
            self.store[key] = value
            batch.add(self.topic, partition, self.dumps_key(key), self.dumps_value(value) or b"")

    def persisted(self, partition: int, offset: int) -> None:
        # What Faust's own changelog callback does: a persistent store (RocksDB) then knows at start
        # which changelog records it already holds.
        self.store.set_persisted_offset(TP(self.topic, partition), offset)


@dataclass(frozen=True)
class Outputs:
    tagged_topic: str
    deadletter_topic: str
    partitions: Mapping[str, int]  # topic -> partition count, for the outputs not keyed like news.raw
    seen: TableOutput
    stories: TableOutput
    producer: Any

    @classmethod
    async def open(cls, app: Any, producer: Any, tagged: str, deadletter: str, seen: Any, stories: Any) -> Outputs:
        partitions = {topic: len(await producer.partitions_for(topic)) for topic in (tagged, deadletter)}
        return cls(tagged, deadletter, partitions, TableOutput.of(app, seen), TableOutput.of(app, stories), producer)

    def tagged(self, batch: RecordBatches, partition: int, article_id: str, value: bytes) -> None:
        """An enriched article. Same partition number as its news.raw record (its versions stay in order)."""
        key = article_id.encode()
        batch.check(self.tagged_topic, key, value)
        batch.add(self.tagged_topic, partition % self.partitions[self.tagged_topic], key, value)

    def dead_letter(self, batch: RecordBatches, message: Any, outcome: Reject) -> None:
        letter = DeadLetter.of(
            stage="streams",
            error_kind=outcome.kind,
            error=outcome.error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            at=datetime.now(UTC),
        )
        partition = message.partition % self.partitions[self.deadletter_topic]
        batch.add(self.deadletter_topic, partition, message.key, letter.model_dump_json().encode())

    async def deliver(self, batch: RecordBatches) -> None:
        """Send the batch and wait until the broker has acknowledged all of it."""
        sent = await batch.send(self.producer)
        try:
            await asyncio.gather(*(each.acknowledged for each in sent))
        except Exception as exc:
            raise DeliveryFailed(f"the broker did not take {len(batch)} records: {type(exc).__name__}: {exc}") from exc
        tables = {self.seen.topic: self.seen, self.stories.topic: self.stories}
        for each in sent:
            table = tables.get(each.topic)
            if table is not None:
                table.persisted(each.partition, each.last_offset())
