"""The indexer against the real broker and node: searchable, idempotent, dead-letters, rides out ES outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kafka import KafkaConsumer, KafkaProducer

from indexers.bootstrap import bootstrap_index, detect_capabilities
from indexers.service import Indexer, IndexerConfig, build_indexer
from newswatch.clients import elasticsearch_client, kafka_python_config
from newswatch.deadletter import DeadLetter
from newswatch.observability import configure_logging
from newswatch.schema import encode
from newswatch.settings import Settings
from newswatch.stack.local import LocalStack
from tests.factories import tagged

LOG = configure_logging("test-indexer", "WARNING", json_logs=False)


@dataclass(frozen=True)
class TopicsFor:
    tagged: str


@dataclass
class Running:
    indexer: Indexer
    thread: threading.Thread

    def stop(self) -> None:
        self.indexer.stop()
        self.thread.join(timeout=60)
        self.indexer.close()


def start_indexer(settings: Settings, topic: str, alias: str, deadletters: str, group: str = "indexer") -> Running:
    config = IndexerConfig(
        batch_size=200, flush_interval=0.2, max_backoff=2.0, alias=alias, deadletter_topic=deadletters
    )
    indexer = build_indexer(settings, LOG, topics=TopicsFor(topic), group_id=f"{topic}-{group}", config=config)
    thread = threading.Thread(target=indexer.run, daemon=True)
    thread.start()
    return Running(indexer, thread)


def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(**kafka_python_config(settings), acks="all")
    for value in values:
        producer.send(topic, key=b"k", value=value)
    producer.flush(timeout=30)
    producer.close()


def count(settings: Settings, alias: str) -> int:
    es = elasticsearch_client(settings)
    try:
        es.indices.refresh(index=alias)
        return int(es.count(index=alias)["count"])
    finally:
        es.close()


def wait_for_count(settings: Settings, alias: str, expected: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        seen = count(settings, alias)
        if seen >= expected:
            return seen
        time.sleep(0.3)
    return seen


@pytest.fixture
def names(unique_name: str) -> dict[str, str]:
    return {"topic": f"{unique_name}.tagged", "alias": unique_name, "dead": f"{unique_name}.dead"}


@pytest.fixture
def index(stack: LocalStack, settings: Settings, names: dict[str, str]) -> Iterator[str]:
    es = elasticsearch_client(settings)
    bootstrap_index(es, detect_capabilities(es), LOG, alias=names["alias"])
    yield names["alias"]
    es.indices.delete(index=f"{names['alias']}-v1", ignore_unavailable=True)
    es.indices.delete_index_template(name=f"{names['alias']}-template", ignore=[404])
    es.close()


def test_records_become_searchable_and_replay_changes_nothing(
    settings: Settings, names: dict[str, str], index: str
) -> None:
    articles = [tagged(i) for i in range(50)]
    produce(settings, names["topic"], [encode(a) for a in articles])
    running = start_indexer(settings, names["topic"], index, names["dead"])
    try:
        assert wait_for_count(settings, index, 50) == 50
    finally:
        running.stop()
    es = elasticsearch_client(settings)
    hit = es.search(index=index, query={"match_phrase": {"text": "sat down for talks in Brussels"}}, size=1)
    assert hit["hits"]["total"]["value"] == 50
    doc = es.get(index=index, id=articles[7].id)["_source"]
    assert doc["tags"] == ["nato-russia-talks"] and doc["tag_evidence"]["nato-russia-talks"][0]["term"] == "talks"
    es.close()

    # Replay everything (a new group reads the topic from the start): the count stays the same.
    produce(settings, names["topic"], [encode(articles[0]), encode(tagged(0, version=2, title="Revised"))])
    replay = start_indexer(settings, names["topic"], index, names["dead"], group="replay")
    try:
        deadline = time.monotonic() + 30
        while replay.indexer.indexed_total < 50 and time.monotonic() < deadline:
            time.sleep(0.3)
        # Every record was read again (the newest version of article 0 wins inside the batch) ...
        assert replay.indexer.indexed_total == 50
        # ... and the index still holds one document per article.
        assert count(settings, index) == 50
    finally:
        replay.stop()
    es = elasticsearch_client(settings)
    assert es.get(index=index, id=articles[0].id)["_source"]["title"] == "Revised"
    es.close()


def test_older_version_never_overwrites_newer(settings: Settings, names: dict[str, str], index: str) -> None:
    newer, older = tagged(1, version=3, title="Third take"), tagged(1, version=2, title="Second take")
    produce(settings, names["topic"], [encode(newer)])
    running = start_indexer(settings, names["topic"], index, names["dead"])
    try:
        wait_for_count(settings, index, 1)
        produce(settings, names["topic"], [encode(older)])
        time.sleep(2)
    finally:
        running.stop()
    es = elasticsearch_client(settings)
    assert es.get(index=index, id=newer.id)["_source"]["title"] == "Third take"
    es.close()


def test_poison_record_is_dead_lettered_and_the_stream_continues(
    settings: Settings, names: dict[str, str], index: str
) -> None:
    produce(settings, names["topic"], [encode(tagged(1)), b"\xff\x00 not an article", encode(tagged(2))])
    running = start_indexer(settings, names["topic"], index, names["dead"])
    try:
        assert wait_for_count(settings, index, 2) == 2
    finally:
        running.stop()
    consumer = KafkaConsumer(
        names["dead"], **kafka_python_config(settings), auto_offset_reset="earliest", consumer_timeout_ms=10_000
    )
    letters = [DeadLetter.model_validate_json(m.value) for m in consumer]
    consumer.close()
    assert len(letters) == 1
    assert letters[0].stage == "indexer" and letters[0].error_kind == "schema" and letters[0].offset == 1
    assert letters[0].original_value() == b"\xff\x00 not an article"
