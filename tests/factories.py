"""Builders of schema objects for tests: every field has a sensible default, override what matters."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from newswatch.schema import Article, Evidence, Source, TaggedArticle

T0 = datetime(2022, 1, 12, 9, 0, tzinfo=UTC)


def article(n: int = 1, **overrides: Any) -> Article:
    fields: dict[str, Any] = {
        "id": hashlib.sha256(f"article-{n}".encode()).hexdigest()[:32],
        "content_hash": hashlib.sha256(f"content-{n}".encode()).hexdigest()[:32],
        "url": f"https://wire.example.net/world/{n}",
        "source": Source(name="Example Wire", site="wire.example.net"),
        "title": f"Envoys meet in Brussels, report {n}",
        "summary": "Diplomats from NATO and Russia sat down for talks.",
        "text": "Diplomats from NATO and Russia sat down for talks in Brussels on Wednesday.",
        "published": T0,
        "fetched": T0,
        "feed_url": "https://wire.example.net/feed.xml",
        "language": "en",
    }
    fields.update(overrides)
    return Article(**fields)


def tagged(n: int = 1, **overrides: Any) -> TaggedArticle:
    base = article(n).model_dump()
    base.update(
        {
            "lang": "en",
            "tags": ("nato-russia-talks",),
            "scores": {"nato-russia-talks": 4.5},
            "tag_evidence": {
                "nato-russia-talks": (Evidence(term="talks", field="text", start=48, end=53, weight=1.0),)
            },
            "places": ("Belgium",),
            "entities": ("NATO",),
            "story_id": base["id"],
            "processed": T0,
        }
    )
    base.update(overrides)
    return TaggedArticle(**base)
