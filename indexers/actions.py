"""Pure bulk logic: Kafka records in, Elasticsearch bulk operations out, bulk answers classified.

Idempotence comes from the id and the version: ``_id`` is the article id and the document is
written with ``version_type=external_gte`` and the article's version, so a replay rewrites the
same version (no new document) and an older version never overwrites a newer one (409, which is
success here: the newer one is already there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from indexers.document import to_document
from newswatch.schema import SchemaError, TaggedArticle, decode_tagged


@dataclass(frozen=True)
class Record:
    """One Kafka record, as the indexer needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Rejected:
    record: Record
    kind: str
    reason: str


@dataclass(frozen=True)
class Batch:
    operations: list[dict[str, Any]]  # alternating action / source lines, as the bulk API takes them
    records: list[Record]  # the record behind each action, in the same order
    rejected: list[Rejected]  # records that could not become a document (dead-letter them)


def build_batch(records: Iterable[Record], index: str, indexed_at: datetime) -> Batch:
    newest: dict[str, tuple[Record, TaggedArticle]] = {}
    rejected: list[Rejected] = []
    for record in records:
        if record.value is None:
            rejected.append(Rejected(record, "schema", "empty record (tombstone) on a data topic"))
            continue
        try:
            article = decode_tagged(record.value)
        except SchemaError as exc:
            rejected.append(Rejected(record, "schema", str(exc)))
            continue
        # Within one batch only the newest version of an article is sent: the bulk API would apply
        # every copy, and the 409 of an older one is noise.
        held = newest.get(article.id)
        if held is None or article.version >= held[1].version:
            newest[article.id] = (record, article)
    operations: list[dict[str, Any]] = []
    for _record, article in newest.values():
        action = {"_index": index, "_id": article.id, "version": article.version, "version_type": "external_gte"}
        operations += [{"index": action}, to_document(article, indexed_at)]
    return Batch(operations, [record for record, _ in newest.values()], rejected)


@dataclass(frozen=True)
class BulkOutcome:
    written: int
    stale: int  # an equal-or-newer version was already indexed
    retry: list[Record]  # transient failures (429, 5xx): send again later
    rejected: list[Rejected]  # permanent failures (mapping errors ...): dead-letter


RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


# The parts of a bulk response that classify_bulk_response reads (Elasticsearch's filter_path).
BULK_RESPONSE_FIELDS = "items.*.status,items.*.error"


def classify_bulk_response(response: dict[str, Any], records: Sequence[Record]) -> BulkOutcome:
    written = stale = 0
    retry: list[Record] = []
    rejected: list[Rejected] = []
    for item, record in zip(response.get("items", []), records, strict=True):
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status < 300:
            written += 1
        elif status == 409:
            stale += 1
        elif status in RETRYABLE_STATUS:
            retry.append(record)
        else:
            error = result.get("error", {})
            rejected.append(Rejected(record, str(error.get("type", status)), str(error.get("reason", error))))
    return BulkOutcome(written, stale, retry, rejected)
