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
from streams.neardup import StoryLink
from streams.processor import Emit, Reject
from streams.record_batches import RecordBatches

Addressed = tuple[str, int, bytes | None, bytes]  # topic, partition, key, value
StoryRecorder = Callable[[StoryLink], Mapping[str, str]]  # the story index's record: entries to persist


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

    def records(self, partition: int, entries: Mapping[str, str]) -> list[Addressed]:
        """The changelog records for ``entries``, encoded; the store is not touched."""
        return [
            (self.topic, partition, self.dumps_key(key), self.dumps_value(value) or b"")
            for key, value in entries.items()
        ]

    def store_all(self, entries: Mapping[str, str]) -> None:
        # A persistent store (RocksDB) picks the partition's database from Faust's current event: the
        # agent sets it to the article's own before this (see streams.app).
        for key, value in entries.items():
            self.store[key] = value

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

    def emit(self, batch: RecordBatches, partition: int, outcome: Emit, record_story: StoryRecorder) -> None:
        """An enriched article and its table entries. Everything that can fail on a bad article
        (encoding, the size check, the story index) comes before the tables' stores are written and
        before anything joins the batch: then the batch has nothing of it (the caller dead-letters it).

        ``news.tagged`` gets the partition number of the article's news.raw record (its versions stay
        in order); the tables are written at once, so the next article of the batch sees them.
        """
        article = outcome.tagged
        key, value = article.id.encode(), article.model_dump_json().encode()
        batch.check(self.tagged_topic, key, value)
        story_entries = record_story(outcome.story)
        records = [(self.tagged_topic, partition % self.partitions[self.tagged_topic], key, value)]
        records += self.seen.records(partition, outcome.seen_writes)
        records += self.stories.records(partition, story_entries)
        self.seen.store_all(outcome.seen_writes)
        self.stories.store_all(story_entries)
        for record in records:
            batch.add(*record)

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
