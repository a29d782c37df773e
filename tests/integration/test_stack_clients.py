"""The real broker and node answer the clients every stage uses: kafka-python, aiokafka, elasticsearch-py."""

from __future__ import annotations

import asyncio

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from newswatch.clients import (
    aiokafka_config,
    async_elasticsearch_client,
    elasticsearch_client,
    kafka_python_config,
)
from newswatch.settings import Settings
from newswatch.stack.local import LocalStack


def test_create_topic_with_partitions(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    admin = KafkaAdminClient(**kafka_python_config(settings))
    try:
        admin.create_topics([NewTopic(unique_name, num_partitions=3, replication_factor=1)])
        described = admin.describe_topics([unique_name])
        assert len(described[0]["partitions"]) == 3
    finally:
        admin.close()


def test_kafka_python_round_trip(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    config = kafka_python_config(settings)
    producer = KafkaProducer(**config, acks="all", enable_idempotence=True)
    for i in range(5):
        producer.send(unique_name, key=f"k{i}".encode(), value=f"v{i}".encode())
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        unique_name, **config, auto_offset_reset="earliest", consumer_timeout_ms=15_000, group_id=unique_name
    )
    received = {(m.key, m.value) for m in consumer}
    consumer.close()
    assert received == {(f"k{i}".encode(), f"v{i}".encode()) for i in range(5)}


async def test_aiokafka_round_trip(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(**aiokafka_config(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(unique_name, key=f"k{i}".encode(), value=f"v{i}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        unique_name, **aiokafka_config(settings), auto_offset_reset="earliest", group_id=unique_name
    )
    await consumer.start()
    try:
        got: list[bytes] = []
        async with asyncio.timeout(30):
            while len(got) < 5:
                batch = await consumer.getmany(timeout_ms=1000)
                got += [m.value for messages in batch.values() for m in messages]
        await consumer.commit()
    finally:
        await consumer.stop()
    assert sorted(got) == [f"v{i}".encode() for i in range(5)]


def test_elasticsearch_index_and_search_sync(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    es = elasticsearch_client(settings)
    try:
        es.index(index=unique_name, id="a1", document={"title": "NATO and Russia meet in Brussels"}, refresh=True)
        found = es.search(index=unique_name, query={"match": {"title": "brussels"}})
        assert found["hits"]["total"]["value"] == 1
        assert found.meta.headers["x-elastic-product"] == "Elasticsearch"
    finally:
        es.indices.delete(index=unique_name, ignore_unavailable=True)
        es.close()


async def test_elasticsearch_index_and_search_async(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    es = async_elasticsearch_client(settings)
    try:
        await es.index(index=unique_name, id="a1", document={"title": "Troops gather near the border"}, refresh=True)
        found = await es.search(index=unique_name, query={"match_phrase": {"title": "near the border"}})
        assert [hit["_id"] for hit in found["hits"]["hits"]] == ["a1"]
    finally:
        await es.indices.delete(index=unique_name, ignore_unavailable=True)
        await es.close()


@pytest.mark.parametrize("module", ["apm", "transport-netty4", "x-pack-core", "x-pack-security"])
def test_local_node_module_inventory(stack: LocalStack, settings: Settings, module: str) -> None:
    """The README's list of what the local node has is checked against the node itself."""
    if not settings.uses_local_elasticsearch:
        pytest.skip("inventory of the local integ-test-zip node only")
    es = elasticsearch_client(settings)
    try:
        nodes = es.nodes.info(node_id="_local", metric="plugins")
        names = {m["name"] for node in nodes["nodes"].values() for m in node["modules"]}
        assert module in names
        assert "analysis-common" not in names and "lang-painless" not in names
    finally:
        es.close()
