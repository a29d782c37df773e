"""enrich(): language, tags with evidence, places/entities and story link composed into a TaggedArticle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from newswatch.schema import Article, Evidence, Source, TaggedArticle, decode_tagged, encode
from streams.enrich import (
    Seen,
    article_body,
    check_seen,
    choose_language,
    enrich,
    language_hint,
    link_story,
    seen_entry,
    story_text,
)
from streams.gazetteer import default_gazetteer
from streams.neardup import StoryLink, table_linker

NOW = datetime(2022, 1, 10, 18, 30, tzinfo=UTC)

TITLE = "Ryabkov and Sherman end Geneva talks without a deal"
TEXT = (
    "Russian deputy foreign minister Sergei Ryabkov said after the meeting in Geneva that Moscow "
    "wanted firm guarantees that NATO would not take in Ukraine. Wendy Sherman said the United States "
    "would not let anyone close the alliance's open door."
)


@dataclass(frozen=True)
class FakeHit:
    term: str
    field: str
    start: int
    end: int
    weight: float


@dataclass(frozen=True)
class FakeResult:
    lang: str
    tags: tuple[str, ...]
    scores: dict[str, float]
    evidence: dict[str, tuple[FakeHit, ...]]


@dataclass
class FakeTagger:
    """Tags "talks" when the word "talks" or "guarantees" appears; records what it was asked."""

    calls: list[tuple[str, str, str | None]] = field(default_factory=list)

    def tag(self, title: str, text: str, lang: str | None = None) -> FakeResult:
        self.calls.append((title, text, lang))
        hits = []
        for field_name, value in (("title", title), ("text", text)):
            for term in ("talks", "guarantees"):
                start = value.find(term)
                if start >= 0:
                    hits.append(FakeHit(term, field_name, start, start + len(term), 0.5))
        tags = ("diplomacy",) if hits else ()
        scores = {"diplomacy": 0.5 * len(hits), "military": 0.0, "energy": 0.25}
        return FakeResult(lang or "??", tags, scores, {tag: tuple(hits) for tag in tags})


def make_article(**overrides: object) -> Article:
    values: dict[str, object] = {
        "id": "a1",
        "content_hash": "h1",
        "url": "https://example.org/geneva-talks",
        "source": Source(name="Example Wire", site="example.org"),
        "title": TITLE,
        "summary": "Talks in Geneva ended without agreement.",
        "text": TEXT,
        "published": NOW - timedelta(hours=1),
        "fetched": NOW - timedelta(minutes=50),
        "language": "ru",
        "feed_url": "https://example.org/feed.xml",
    }
    values.update(overrides)
    return Article.model_validate(values)


def run(article: Article, *, story: StoryLink | None = None, detected: str = "en") -> TaggedArticle:
    return enrich(
        article,
        tagger=FakeTagger(),
        gazetteer=default_gazetteer(),
        detect_language=lambda text: detected,
        story=story or StoryLink(story_id=article.id),
        now=NOW,
    )


def test_enrich_composes_every_part() -> None:
    article = make_article()
    tagged = run(article, story=StoryLink(story_id="first", duplicate_of="first", similarity=0.9))

    assert isinstance(tagged, TaggedArticle)
    assert tagged.model_dump(include=set(Article.model_fields)) == article.model_dump()
    assert tagged.lang == "en"  # detected, not the feed's "ru"
    assert tagged.tags == ("diplomacy",)
    assert tagged.scores == {"diplomacy": 1.0, "energy": 0.25}  # zero scores are dropped
    assert tagged.tag_evidence["diplomacy"][0] == Evidence(
        term="talks", field="title", start=TITLE.find("talks"), end=TITLE.find("talks") + 5, weight=0.5
    )
    for hit in tagged.tag_evidence["diplomacy"]:
        source = tagged.title if hit.field == "title" else tagged.text
        assert source[hit.start : hit.end] == hit.term
    assert tagged.places == ("Geneva", "Switzerland", "Moscow", "Russia", "Ukraine", "United States")
    assert tagged.entities == ("Sergei Ryabkov", "Wendy Sherman", "NATO")
    assert (tagged.story_id, tagged.duplicate_of) == ("first", "first")
    assert tagged.processed == NOW


def test_the_result_survives_the_topic_encoding() -> None:
    tagged = run(make_article())
    assert decode_tagged(encode(tagged)) == tagged


def test_the_tagger_gets_the_chosen_language_and_the_body() -> None:
    tagger = FakeTagger()
    article = make_article()
    enrich(
        article,
        tagger=tagger,
        gazetteer=default_gazetteer(),
        detect_language=lambda t: "en",
        story=StoryLink("a1"),
        now=NOW,
    )
    assert tagger.calls == [(TITLE, TEXT, "en")]


def test_summary_only_articles_are_tagged_on_the_summary_with_the_right_field() -> None:
    summary = "Diplomats say the Geneva talks produced no guarantees."
    tagged = run(make_article(text="", summary=summary))
    fields = {hit.field for hit in tagged.tag_evidence["diplomacy"]}
    assert fields == {"title", "summary"}
    for hit in tagged.tag_evidence["diplomacy"]:
        assert (tagged.title if hit.field == "title" else tagged.summary)[hit.start : hit.end] == hit.term
    assert "Geneva" in tagged.places


def test_places_only_in_the_summary_are_found() -> None:
    tagged = run(make_article(summary="Officials in Kyiv were briefed."))
    assert "Kyiv" in tagged.places


def test_a_story_link_to_itself_is_not_a_duplicate() -> None:
    tagged = run(make_article(), story=StoryLink(story_id="a1", duplicate_of="a1"))
    assert (tagged.story_id, tagged.duplicate_of) == ("a1", None)


def test_processed_time_must_be_timezone_aware() -> None:
    naive = datetime(2022, 1, 10)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError):
        enrich(
            make_article(),
            tagger=FakeTagger(),
            gazetteer=default_gazetteer(),
            detect_language=lambda t: "en",
            story=StoryLink("a1"),
            now=naive,
        )


# --- language ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "expected"),
    [("en", "en"), ("en-US", "en"), ("EN_gb", "en"), ("uk-UA", "uk"), ("", None), (None, None), ("eng", None)],
)
def test_language_hint_is_reduced_to_iso_639_1(hint: str | None, expected: str | None) -> None:
    assert language_hint(hint) == expected


def test_detection_wins_over_the_feed_hint_on_real_text() -> None:
    assert choose_language("uk", "ru", TEXT) == "uk"


def test_the_hint_decides_when_the_text_is_too_short_or_undetermined() -> None:
    assert choose_language("pl", "uk", "Харків") == "uk"
    assert choose_language("und", "de-AT", "12:30") == "de"
    assert choose_language("und", None, "12:30") == "und"
    assert choose_language("pl", None, "Kyiv") == "pl"


def test_enrich_uses_the_hint_for_a_headline_only_item() -> None:
    tagged = run(make_article(title="Харків", summary="", text="", language="uk"), detected="bg")
    assert tagged.lang == "uk"


# --- exact duplicates ----------------------------------------------------------------------------


def test_exact_duplicates_and_stale_versions_are_recognised() -> None:
    state: dict[str, str] = {}
    v1 = make_article(content_hash="h1", version=1)
    assert check_seen(v1, state.get) is Seen.NEW
    state.update([seen_entry(v1)])
    assert check_seen(v1, state.get) is Seen.SAME

    v2 = make_article(content_hash="h2", version=2)
    assert check_seen(v2, state.get) is Seen.NEW
    state.update([seen_entry(v2)])
    assert check_seen(v2, state.get) is Seen.SAME
    assert check_seen(v1, state.get) is Seen.OLDER  # a late copy of version 1 must not win

    assert check_seen(make_article(id="other"), state.get) is Seen.NEW


# --- story linking glue --------------------------------------------------------------------------


def test_link_story_links_a_republished_copy() -> None:
    state: dict[str, str] = {}
    original = make_article(id="wire-1")
    first = link_story(original, table_linker(state.get))
    state.update(first.new_entries)
    copy = make_article(id="outlet-2", title="Geneva talks end with no deal", url="https://other.example/x")
    second = link_story(copy, table_linker(state.get))
    assert (first.story_id, first.duplicate_of) == ("wire-1", None)
    assert (second.story_id, second.duplicate_of) == ("wire-1", "wire-1")

    tagged = run(copy, story=second)
    assert (tagged.story_id, tagged.duplicate_of) == ("wire-1", "wire-1")


def test_story_text_and_body_fall_back_to_the_summary() -> None:
    article = make_article(text="", summary="Short item.")
    assert article_body(article) == ("summary", "Short item.")
    assert story_text(article) == f"{TITLE}\nShort item."
    assert article_body(make_article()) == ("text", TEXT)
