"""One raw record in, one decision out: the Faust agent's whole logic, with its tables passed in.

Exact duplicates and replays. The seen table remembers, per article id, the version and content
hash processed *and the source offset that produced it*. A different record with the same content
is a duplicate (dropped). The *same* record seen again is a replay after a crash: Faust may have
written the table's changelog before the crash while the `news.tagged` record never left the
producer (the two are different topics, so nothing orders them), so a replay is emitted again —
downstream writes are idempotent, and nothing can be lost this way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from newswatch.schema import SchemaError, TaggedArticle, decode_article
from streams.enrich import (
    GazetteerLike,
    LanguageDetector,
    Lookup,
    Seen,
    TaggerLike,
    check_seen,
    enrich,
    link_story,
    seen_entry,
)
from streams.neardup import StoryLink, StoryLinker


@dataclass(frozen=True)
class Emit:
    tagged: TaggedArticle
    story: StoryLink  # for the story index to record (streams.story_index)
    seen_writes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    reason: str  # "duplicate" or "older_version"


@dataclass(frozen=True)
class Reject:
    kind: str  # "schema" (bad record) or "enrichment" (a bug met this record)
    error: str


Outcome = Emit | Skip | Reject


def seen_value(entry: str, source: str) -> str:
    return f"{entry}@{source}"


def split_seen_value(stored: str | None) -> tuple[str | None, str | None]:
    if stored is None:
        return None, None
    entry, _, source = stored.rpartition("@")
    return (entry, source) if entry else (stored, None)


class ArticleProcessor:
    def __init__(
        self,
        *,
        tagger: TaggerLike,
        gazetteer: GazetteerLike,
        detect_language: LanguageDetector,
        clock: Callable[[], datetime],
    ) -> None:
        self.tagger = tagger
        self.gazetteer = gazetteer
        self.detect_language = detect_language
        self.clock = clock

    def process(self, value: bytes | None, source: str, seen: Lookup, stories: StoryLinker) -> Outcome:
        """``source`` identifies the record ("partition:offset"), so a replay is told from a duplicate."""
        if value is None:
            return Reject("schema", "empty record (tombstone) on news.raw")
        try:
            article = decode_article(value)
        except SchemaError as exc:
            return Reject("schema", str(exc))
        stored_entry, stored_source = split_seen_value(seen(article.id))
        verdict = check_seen(article, lambda _key: stored_entry)
        if verdict is Seen.SAME and stored_source != source:
            return Skip("duplicate")
        if verdict is Seen.OLDER:
            return Skip("older_version")
        try:
            story = link_story(article, stories)
            tagged = enrich(
                article,
                tagger=self.tagger,
                gazetteer=self.gazetteer,
                detect_language=self.detect_language,
                story=story,
                now=self.clock(),
            )
        except Exception as exc:  # noqa: BLE001 - a bug on one record must not stop the stream: dead-letter it
            return Reject("enrichment", f"{type(exc).__name__}: {exc}")
        key, entry = seen_entry(article)
        return Emit(tagged, story, {key: seen_value(entry, source)})
