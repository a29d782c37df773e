"""Bulk actions and bulk answers, without Elasticsearch."""

from __future__ import annotations

from datetime import UTC, datetime

from indexers.actions import Record, build_batch, classify_bulk_response
from indexers.document import ClusterCapabilities, index_template, mappings, to_document
from newswatch.schema import encode
from tests.factories import tagged

NOW = datetime(2022, 1, 12, 10, tzinfo=UTC)


def record(offset: int, value: bytes | None, partition: int = 0) -> Record:
    return Record("news.tagged", partition, offset, b"k", value)


def test_each_article_becomes_a_versioned_index_action() -> None:
    batch = build_batch([record(0, encode(tagged(1))), record(1, encode(tagged(2)))], "news", NOW)
    actions = batch.operations[0::2]
    assert [a["index"]["_id"] for a in actions] == [tagged(1).id, tagged(2).id]
    assert all(a["index"]["version_type"] == "external_gte" and a["index"]["version"] == 1 for a in actions)
    assert batch.operations[1]["title"] == tagged(1).title and batch.operations[1]["source"] == "Example Wire"


def test_only_the_newest_version_in_a_batch_is_sent() -> None:
    v1, v2 = tagged(1), tagged(1, version=2, title="Updated headline")
    batch = build_batch([record(0, encode(v2)), record(1, encode(v1))], "news", NOW)
    assert len(batch.records) == 1
    assert batch.operations[0]["index"]["version"] == 2 and batch.operations[1]["title"] == "Updated headline"


def test_bad_records_are_rejected_not_raised() -> None:
    batch = build_batch(
        [record(0, b"{not json"), record(1, None), record(2, b'{"schema_version": 99}'), record(3, encode(tagged(3)))],
        "news",
        NOW,
    )
    assert [r.record.offset for r in batch.rejected] == [0, 1, 2]
    assert {r.kind for r in batch.rejected} == {"schema"}
    assert len(batch.records) == 1


def test_bulk_answer_classification() -> None:
    records = [record(i, b"x") for i in range(4)]
    response = {
        "items": [
            {"index": {"status": 201}},
            {"index": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
            {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
            {"index": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad date"}}},
        ]
    }
    outcome = classify_bulk_response(response, records)
    assert (outcome.written, outcome.stale) == (1, 1)
    assert [r.offset for r in outcome.retry] == [2]
    assert [(r.record.offset, r.kind, r.reason) for r in outcome.rejected] == [
        (3, "mapper_parsing_exception", "bad date")
    ]


def test_document_fields_exist_in_the_mapping() -> None:
    properties = mappings(ClusterCapabilities(language_analyzers=False, ilm=False))["properties"]
    assert set(to_document(tagged(1), NOW)) <= set(properties)


def test_language_analyzers_used_only_when_the_cluster_has_them() -> None:
    bare = index_template(ClusterCapabilities(language_analyzers=False, ilm=False))
    full = index_template(ClusterCapabilities(language_analyzers=True, ilm=True))
    assert "fields" not in bare["template"]["mappings"]["properties"]["text"]
    assert full["template"]["mappings"]["properties"]["text"]["fields"]["russian"]["analyzer"] == "russian"
    assert bare["template"]["settings"]["refresh_interval"] == "1s"
