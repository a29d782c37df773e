"""The worker's batched output: grouping per partition, batch splitting, table encoding, delivery failures.

The producer here is a stand-in for aiokafka's batch interface (``create_batch``/``send_batch``) that
records what it is handed; what reaches a real broker is covered by tests/integration/test_streams.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from newswatch.deadletter import DeadLetter
from newswatch.settings import Settings
from streams.outputs import DeliveryFailed, Outputs, TableOutput
from streams.processor import Reject
from streams.record_batches import RecordBatches, RecordTooLarge


@dataclass
class Builder:
    capacity: int
    records: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    closed: bool = False

    def append(self, *, key: bytes | None, value: bytes, timestamp: None) -> object | None:
        assert not self.closed, "appended to a closed batch"
        size = len(value) + len(key or b"")
        if self.records and sum(len(v) + len(k or b"") for k, v in self.records) + size > self.capacity:
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True


@dataclass
class RecordingProducer:
    capacity: int = 100
    fail_topic: str | None = None
    sent: list[tuple[str, int, Builder]] = field(default_factory=list)
    next_offset: int = 40

    def create_batch(self) -> Builder:
        return Builder(self.capacity)

    async def send_batch(self, builder: Builder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        assert builder.closed, "a batch must be closed before it is submitted (or it lingers)"
        self.sent.append((topic, partition, builder))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if topic == self.fail_topic:
            future.set_exception(TimeoutError("no answer from the broker"))
        else:
            future.set_result(SimpleNamespace(offset=self.next_offset))
            self.next_offset += len(builder.records)
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1} if topic.endswith("deadletter") else {0, 1, 2, 3}


def test_records_are_grouped_per_topic_partition_in_the_order_they_came() -> None:
    batch = RecordBatches(max_record_bytes=1000)
    batch.add("t", 1, b"a", b"1")
    batch.add("u", 0, b"b", b"2")
    batch.add("t", 1, b"c", b"3")
    producer = RecordingProducer()
    sent = asyncio.run(batch.send(producer))
    assert [(s.topic, s.partition, s.count) for s in sent] == [("t", 1, 2), ("u", 0, 1)]
    assert producer.sent[0][2].records == [(b"a", b"1"), (b"c", b"3")]
    assert len(batch) == 3


def test_a_group_larger_than_one_producer_batch_is_split_and_an_oversized_record_goes_alone() -> None:
    batch = RecordBatches(max_record_bytes=1000)
    for index, size in enumerate([40, 40, 40, 300, 10]):
        batch.add("t", 0, None, bytes([index]) * size)
    producer = RecordingProducer(capacity=100)
    sent = asyncio.run(batch.send(producer))
    assert [s.count for s in sent] == [2, 1, 1, 1]
    assert [len(v) for _, _, b in producer.sent for _, v in b.records] == [40, 40, 40, 300, 10]


def test_a_record_over_the_producers_request_limit_is_refused_with_its_size() -> None:
    batch = RecordBatches(max_record_bytes=100)
    with pytest.raises(RecordTooLarge, match=r"news\.tagged is 150 bytes, over the producer's limit of 100"):
        batch.check("news.tagged", b"k" * 50, b"v" * 100)
    batch.check("news.tagged", b"k", b"v" * 99)


def emitted(article_id: str, seen_writes: dict[str, str], size: int = 2) -> Any:
    """What the processor's ``Emit`` carries, as far as ``Outputs.emit`` reads it."""
    article = SimpleNamespace(id=article_id, model_dump_json=lambda: "{" + " " * (size - 2) + "}")
    return SimpleNamespace(tagged=article, seen_writes=seen_writes, story=None)


def no_story(story: Any) -> dict[str, str]:
    return {}


def _app_and_tables(tmp_path: Path) -> tuple[Any, Any, Any]:
    from streams.app import create_app

    app = create_app(Settings(state_dir=tmp_path), processor=cast(Any, object()), web_port=16069)
    return app, app.tables["seen"], app.tables["stories"]


def test_table_entries_are_stored_at_once_and_encoded_as_fausts_own_changelog_records(tmp_path: Path) -> None:
    app, seen, _ = _app_and_tables(tmp_path)
    output = TableOutput.of(app, seen)
    [(topic, partition, key, value)] = output.records(3, {"article-1": "hash@0:5"})
    assert seen.get("article-1") is None  # encoding alone stores nothing
    output.store_all({"article-1": "hash@0:5"})
    assert seen.get("article-1") == "hash@0:5"  # what the next article's duplicate check reads
    assert (topic, partition) == (seen.changelog_topic.get_topic_name(), 3)
    assert key == seen.changelog_topic.prepare_key("article-1", seen.key_serializer)[0]
    assert value == seen.changelog_topic.prepare_value("hash@0:5", seen.value_serializer)[0]


def test_delivery_records_each_tables_last_changelog_offset(tmp_path: Path) -> None:
    app, seen, stories = _app_and_tables(tmp_path)
    producer = RecordingProducer(capacity=10_000)
    persisted: dict[Any, int] = {}
    for table in (seen, stories):
        table.data.set_persisted_offset = lambda tp, offset: persisted.__setitem__(tuple(tp), offset)

    async def scenario() -> None:
        outputs = await Outputs.open(app, producer, "news.tagged", "news.deadletter", seen, stories)
        batch = RecordBatches(max_record_bytes=10_000)
        outputs.emit(batch, 2, emitted("a1", {"a1": "h@2:7", "a2": "h@2:8"}), no_story)
        await outputs.deliver(batch)

    asyncio.run(scenario())
    # news.tagged took offsets 40 (one record), the seen changelog 41 and 42.
    assert persisted == {(seen.changelog_topic.get_topic_name(), 2): 42}


def test_a_batch_the_broker_does_not_acknowledge_fails_the_delivery(tmp_path: Path) -> None:
    app, seen, stories = _app_and_tables(tmp_path)
    producer = RecordingProducer(fail_topic="news.tagged")

    async def scenario() -> None:
        outputs = await Outputs.open(app, producer, "news.tagged", "news.deadletter", seen, stories)
        batch = RecordBatches(max_record_bytes=1000)
        outputs.emit(batch, 0, emitted("a1", {}), no_story)
        await outputs.deliver(batch)

    with pytest.raises(DeliveryFailed, match="the broker did not take 1 records: TimeoutError"):
        asyncio.run(scenario())


def test_outputs_keep_the_news_raw_partition_modulo_each_topics_partition_count(tmp_path: Path) -> None:
    app, seen, stories = _app_and_tables(tmp_path)
    message = SimpleNamespace(topic="news.raw", partition=3, offset=9, key=b"k", value=b"{bad")

    async def scenario() -> RecordBatches:
        outputs = await Outputs.open(app, RecordingProducer(), "news.tagged", "news.deadletter", seen, stories)
        batch = RecordBatches(max_record_bytes=10_000)
        outputs.emit(batch, 3, emitted("a1", {}), no_story)
        outputs.dead_letter(batch, message, Reject("schema", "not JSON"))
        return batch

    batch = asyncio.run(scenario())
    assert set(batch.groups) == {("news.tagged", 3), ("news.deadletter", 1)}
    [(key, value)] = batch.groups[("news.deadletter", 1)]
    letter = DeadLetter.model_validate_json(value)
    assert key == b"k"
    assert (letter.stage, letter.error_kind, letter.offset) == ("streams", "schema", 9)


def test_an_article_that_fails_midway_leaves_nothing_in_the_batch(tmp_path: Path) -> None:
    app, seen, stories = _app_and_tables(tmp_path)

    def broken_index(story: Any) -> dict[str, str]:
        raise RuntimeError("story index bug")

    async def scenario() -> RecordBatches:
        outputs = await Outputs.open(app, RecordingProducer(), "news.tagged", "news.deadletter", seen, stories)
        batch = RecordBatches(max_record_bytes=100)
        with pytest.raises(RecordTooLarge):
            outputs.emit(batch, 0, emitted("big", {"big": "h@0:1"}, size=500), no_story)
        assert seen.get("big") is None  # refused before any table was written
        with pytest.raises(RuntimeError, match="story index bug"):
            outputs.emit(batch, 1, emitted("a1", {"a1": "h@1:1"}), broken_index)
        assert seen.get("a1") is None  # the story index failed before any table was written
        return batch

    assert len(asyncio.run(scenario())) == 0  # the caller dead-letters both; no half of either goes out
