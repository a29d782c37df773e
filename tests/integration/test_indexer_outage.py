"""The indexer rides out an Elasticsearch outage: nothing lost, nothing committed early, nothing doubled.

Uses a second, private Elasticsearch node (own port and state directory) so stopping it for 30 s
disturbs no other test; Kafka is the shared local broker.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from kafka import KafkaProducer

from indexers.bootstrap import bootstrap_index, detect_capabilities
from indexers.service import IndexerConfig, build_indexer
from newswatch.clients import elasticsearch_client, kafka_python_config
from newswatch.observability import configure_logging
from newswatch.schema import encode
from newswatch.settings import Settings
from newswatch.stack.local import LocalStack
from newswatch.stack.process import free_port
from newswatch.topics import Topics
from tests.factories import tagged

LOG = configure_logging("test-indexer-outage", "WARNING", json_logs=False)
OUTAGE_SECONDS = 30


def test_indexer_survives_elasticsearch_stopped_for_30s(
    stack: LocalStack, settings: Settings, unique_name: str
) -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="newswatch-es-outage-"))
    state_dir.chmod(0o755)
    private = Settings.load(
        dict(os.environ)
        | {
            "NEWSWATCH_STATE_DIR": str(state_dir),
            "NEWSWATCH_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
            "NEWSWATCH_ELASTICSEARCH_PORT": str(free_port()),
            "NEWSWATCH_ELASTICSEARCH_TRANSPORT_PORT": str(free_port()),
            "NEWSWATCH_ELASTICSEARCH_HEAP": "512m",
            "NEWSWATCH_TOPIC_PREFIX": f"{unique_name}.",
            "NEWSWATCH_INDEX_ALIAS": unique_name,
        }
    )
    es_stack = LocalStack(private)
    es_stack.up()
    topics = Topics(private.topic_prefix)
    es = elasticsearch_client(private)
    bootstrap_index(es, detect_capabilities(es), LOG, alias=private.index_alias)
    es.close()

    producer = KafkaProducer(**kafka_python_config(private), acks="all")

    def produce(first: int, last: int) -> None:
        for n in range(first, last):
            producer.send(topics.tagged, key=str(n).encode(), value=encode(tagged(n)))
        producer.flush(timeout=30)

    config = IndexerConfig(
        batch_size=100,
        flush_interval=0.2,
        max_backoff=2.0,
        alias=private.index_alias,
        deadletter_topic=topics.deadletter,
    )
    indexer = build_indexer(private, LOG, topics=topics, config=config)
    thread = threading.Thread(target=indexer.run, daemon=True)
    thread.start()
    try:
        produce(0, 300)
        deadline = time.monotonic() + 60
        while indexer.indexed_total < 300 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert indexer.indexed_total == 300

        es_stack.down()  # the outage: records keep arriving
        produce(300, 600)
        time.sleep(OUTAGE_SECONDS)
        assert indexer.es_available is False
        assert indexer.indexed_total == 300
        es_stack.up()

        deadline = time.monotonic() + 120
        while indexer.indexed_total < 600 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        indexer.stop()
        thread.join(timeout=60)
        indexer.close()
        producer.close()
    es = elasticsearch_client(private)
    try:
        es.indices.refresh(index=private.index_alias)
        assert es.count(index=private.index_alias)["count"] == 600
    finally:
        es.close()
        es_stack.down()
