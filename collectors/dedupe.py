"""Has this article been emitted before, and if so, did it change? Pure logic over a "seen" map.

The seen map (article id -> ``SeenRecord``) is kept in a compacted Kafka topic keyed by article
id; this module only decides and returns the record to write back.

- unknown id                       -> NEW, emit as version 1;
- known id, known content hash     -> UNCHANGED, skip;
- known id, new content hash       -> CHANGED, emit as version + 1.

"Known content hash" means any of the last ``RECENT_HASHES`` hashes emitted for the id, not just
the latest: the same link often appears in two feeds with different summaries, and comparing only
with the latest would emit a new version on every poll of either feed, flip-flopping forever.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from newswatch.schema import Article

RECENT_HASHES = 8


class Decision(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class SeenRecord:
    content_hash: str  # of the latest emitted version
    version: int
    recent_hashes: tuple[str, ...] = ()  # newest first, includes content_hash

    def knows(self, content_hash: str) -> bool:
        return content_hash == self.content_hash or content_hash in self.recent_hashes


@dataclass(frozen=True, slots=True)
class DedupeResult:
    decision: Decision
    article: Article | None  # to emit (with its version set), or None when unchanged
    record: SeenRecord | None  # to write back to the seen map, or None when nothing changed


def decide(article: Article, seen: SeenRecord | None) -> DedupeResult:
    if seen is None:
        record = SeenRecord(article.content_hash, 1, (article.content_hash,))
        return DedupeResult(Decision.NEW, article.model_copy(update={"version": 1}), record)
    if seen.knows(article.content_hash):
        return DedupeResult(Decision.UNCHANGED, None, None)
    version = seen.version + 1
    recent = (article.content_hash, *(h for h in seen.recent_hashes if h != article.content_hash))
    record = SeenRecord(article.content_hash, version, recent[:RECENT_HASHES])
    return DedupeResult(Decision.CHANGED, article.model_copy(update={"version": version}), record)


def dedupe_batch(
    articles: Iterable[Article], seen: Mapping[str, SeenRecord]
) -> tuple[list[DedupeResult], dict[str, SeenRecord]]:
    """Decide a batch in order; an id repeated within the batch sees the earlier decision.

    Returns every decision (for metrics) and the seen-map updates to write back.
    """
    updates: dict[str, SeenRecord] = {}
    results: list[DedupeResult] = []
    for article in articles:
        result = decide(article, updates.get(article.id) or seen.get(article.id))
        if result.record is not None:
            updates[article.id] = result.record
        results.append(result)
    return results, updates


def encode_seen(record: SeenRecord) -> bytes:
    """Value of the seen-map record in the compacted topic (key = article id)."""
    return json.dumps(
        {
            "v": 1,
            "content_hash": record.content_hash,
            "version": record.version,
            "recent": record.recent_hashes,
        },
        separators=(",", ":"),
    ).encode()


def decode_seen(payload: bytes | None) -> SeenRecord | None:
    """The record from a topic value; None for a tombstone or a value this build cannot read."""
    if not payload:
        return None
    try:
        data = json.loads(payload)
        return SeenRecord(
            content_hash=str(data["content_hash"]),
            version=int(data["version"]),
            recent_hashes=tuple(str(h) for h in data.get("recent", ())),
        )
    except (ValueError, KeyError, TypeError):
        return None
