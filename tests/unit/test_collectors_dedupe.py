"""New / changed / unchanged decisions over the seen map (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.dedupe import (
    RECENT_HASHES,
    Decision,
    SeenRecord,
    decide,
    decode_seen,
    dedupe_batch,
    encode_seen,
)
from collectors.normalize import content_hash
from newswatch.schema import Article, Source

NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def article(article_id: str = "a1", title: str = "Title", summary: str = "Summary") -> Article:
    return Article(
        id=article_id,
        content_hash=content_hash(title, summary, ""),
        url=f"https://news.example/{article_id}",
        source=Source(name="News", site="news.example"),
        title=title,
        summary=summary,
        published=NOW,
        fetched=NOW,
        feed_url="https://news.example/rss",
    )


def test_new_article_is_emitted_as_version_1() -> None:
    result = decide(article(), None)
    assert result.decision is Decision.NEW
    assert result.article is not None and result.article.version == 1
    assert result.record == SeenRecord(article().content_hash, 1, (article().content_hash,))


def test_unchanged_article_is_skipped() -> None:
    first = decide(article(), None)
    again = decide(article(), first.record)
    assert again.decision is Decision.UNCHANGED and again.article is None and again.record is None


def test_changed_article_is_emitted_as_the_next_version_with_the_same_id() -> None:
    first = decide(article(), None)
    changed = decide(article(title="Title (updated)"), first.record)
    assert changed.decision is Decision.CHANGED
    assert changed.article is not None and changed.article.version == 2 and changed.article.id == "a1"
    assert changed.record is not None and changed.record.version == 2
    third = decide(article(title="Title (updated again)"), changed.record)
    assert third.article is not None and third.article.version == 3


def test_two_feeds_with_different_summaries_do_not_flip_flop() -> None:
    from_feed_a, from_feed_b = article(summary="short"), article(summary="a longer summary")
    record = decide(from_feed_a, None).record
    second = decide(from_feed_b, record)
    assert second.decision is Decision.CHANGED  # the first time the variant is seen
    record = second.record
    for _ in range(3):
        assert decide(from_feed_a, record).decision is Decision.UNCHANGED
        assert decide(from_feed_b, record).decision is Decision.UNCHANGED


def test_recent_hashes_are_bounded() -> None:
    record = decide(article(title="v0"), None).record
    for n in range(1, 20):
        result = decide(article(title=f"v{n}"), record)
        assert result.record is not None
        record = result.record
    assert record is not None and len(record.recent_hashes) == RECENT_HASHES and record.version == 20


def test_batch_sees_its_own_earlier_decisions() -> None:
    seen = {"old": decide(article("old"), None).record}
    results, updates = dedupe_batch(
        [article("new"), article("new"), article("old"), article("old", title="Changed")],
        {k: v for k, v in seen.items() if v},
    )
    assert [r.decision for r in results] == [
        Decision.NEW,
        Decision.UNCHANGED,
        Decision.UNCHANGED,
        Decision.CHANGED,
    ]
    assert set(updates) == {"new", "old"} and updates["old"].version == 2


def test_seen_record_codec() -> None:
    record = SeenRecord("h2", 2, ("h2", "h1"))
    assert decode_seen(encode_seen(record)) == record
    assert decode_seen(None) is None and decode_seen(b"") is None  # tombstone
    assert decode_seen(b"not json") is None and decode_seen(b'{"version": 1}') is None
