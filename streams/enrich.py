"""The Faust stage's enrichment as plain functions: Article in, TaggedArticle out, no Kafka.

The stage (and the ``newswatch tag`` command) does, per article::

    verdict = check_seen(article, seen_table.get)            # exact duplicate / stale version?
    if verdict is Seen.NEW:
        story = link_story(article, story_index_linker)       # near-duplicate story
        tagged = enrich(article, tagger=..., gazetteer=..., detect_language=..., story=story, now=...)
        ... send tagged, then record the story in the index and write seen_entry(article)

Everything stateful (the tables) is passed in as a lookup function, and the entries to write are
returned, so these functions are deterministic and tested without Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from newswatch.schema import Article, Evidence, TaggedArticle
from streams.neardup import StoryLink, StoryLinker, sketch

UNDETERMINED = "und"
# Below this many letters the identifier is guessing; the feed's language hint is then the better bet.
MIN_LETTERS_FOR_DETECTION = 40


# --- What enrich needs from its collaborators (streams.tagging, streams.gazetteer, streams.language) ---


class TagHitLike(Protocol):
    @property
    def term(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def weight(self) -> float: ...


class TaggingResultLike(Protocol):
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def scores(self) -> Mapping[str, float]: ...
    @property
    def evidence(self) -> Mapping[str, Sequence[TagHitLike]]: ...


class TaggerLike(Protocol):
    def tag(self, title: str, text: str, lang: str | None = None) -> TaggingResultLike: ...


class GazetteerLike(Protocol):
    def find(self, title: str, text: str = "") -> tuple[tuple[str, ...], tuple[str, ...]]: ...


LanguageDetector = Callable[[str], str]
Lookup = Callable[[str], str | None]


# --- Exact duplicates ------------------------------------------------------------------------------


class Seen(StrEnum):
    NEW = "new"  # not processed yet, or a newer version: process it
    SAME = "same"  # this id with this content was processed already (a replay or a re-poll): drop
    OLDER = "older"  # a newer version of this id was processed already: drop, it would go backwards


def seen_entry(article: Article) -> tuple[str, str]:
    """The state entry recording that this version of the article was processed: key, value."""
    return article.id, f"{article.version}:{article.content_hash}"


def check_seen(article: Article, lookup: Lookup) -> Seen:
    """Whether ``(id, content_hash)`` was processed already, from the entry ``seen_entry`` wrote."""
    stored = lookup(article.id)
    if stored is None:
        return Seen.NEW
    version_text, _, content_hash = stored.partition(":")
    if content_hash == article.content_hash:
        return Seen.SAME
    if version_text.isdigit() and int(version_text) > article.version:
        return Seen.OLDER
    return Seen.NEW


# --- Near-duplicates -------------------------------------------------------------------------------


def story_text(article: Article) -> str:
    """What two copies of a wire story share: the headline and the body (text, else the summary)."""
    return f"{article.title}\n{article.text or article.summary}"


def link_story(article: Article, linker: StoryLinker) -> StoryLink:
    """The article's story (see ``streams.neardup.link`` and ``streams.story_index``)."""
    return linker(article.id, sketch(story_text(article)))


# --- Language --------------------------------------------------------------------------------------


def language_hint(hint: str | None) -> str | None:
    """The ISO 639-1 part of a feed's language tag ("en-US" -> "en"), or None when it has none."""
    if not hint:
        return None
    primary = hint.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if len(primary) == 2 and primary.isalpha() else None


def choose_language(detected: str, hint: str | None, sample: str) -> str:
    """The article's language: the detector's answer, unless the text is too short to trust it.

    Feeds label everything with one site-wide language (a Russian outlet's English section is still
    "ru"), so the hint only decides when the detector has nothing to go on.
    """
    prior = language_hint(hint)
    if not detected or detected == UNDETERMINED:
        return prior or UNDETERMINED
    if prior and prior != detected and not _has_letters(sample, MIN_LETTERS_FOR_DETECTION):
        return prior
    return detected


def _has_letters(text: str, needed: int) -> bool:
    # Stops at the needed count: a whole article need not be scanned to know it is long enough.
    for char in text:
        if char.isalpha():
            needed -= 1
            if needed <= 0:
                return True
    return False


# --- Enrichment ------------------------------------------------------------------------------------


def article_body(article: Article) -> tuple[str, str]:
    """``(field name, text)`` the tagger reads: the full text, or the summary when there is none."""
    if article.text.strip():
        return "text", article.text
    return "summary", article.summary


def to_evidence(hit: TagHitLike, body_field: str) -> Evidence:
    # The tagger calls its second argument "text"; when that was the summary, say so, so that the
    # offsets point into the field they were measured in.
    field = body_field if hit.field == "text" else hit.field
    return Evidence(term=hit.term, field=field, start=hit.start, end=hit.end, weight=hit.weight)


def enrich(
    article: Article,
    *,
    tagger: TaggerLike,
    gazetteer: GazetteerLike,
    detect_language: LanguageDetector,
    story: StoryLink,
    now: datetime,
) -> TaggedArticle:
    """Language, tags with evidence, places and entities, and the story link, on one article."""
    body_field, body = article_body(article)
    sample = f"{article.title}\n{body}"
    lang = choose_language(detect_language(sample), article.language, sample)

    result = tagger.tag(article.title, body, lang=lang)
    evidence = {
        tag: tuple(to_evidence(hit, body_field) for hit in hits) for tag, hits in result.evidence.items() if hits
    }
    # Tags that scored nothing are left out; near misses keep their score so analysts can see them.
    scores = {tag: float(score) for tag, score in result.scores.items() if score}

    # Places may appear only in the summary (feeds often trim it from the text), so read both.
    extra = article.summary if body_field == "text" and article.summary not in article.text else ""
    places, entities = gazetteer.find(article.title, f"{body}\n{extra}" if extra else body)

    fields = {name: getattr(article, name) for name in Article.model_fields}
    return TaggedArticle(
        **fields,
        lang=lang,
        tags=tuple(result.tags),
        scores=scores,
        tag_evidence=evidence,
        places=places,
        entities=entities,
        story_id=story.story_id,
        duplicate_of=story.duplicate_of if story.duplicate_of != article.id else None,
        processed=now,
    )
