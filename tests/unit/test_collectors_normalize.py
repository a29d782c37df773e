"""Normalising rules: canonical URLs, ids, plain text, UTC dates, content hash, entry -> Article."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from collectors.dates import DateProblem, resolve_published, to_utc
from collectors.feeds import FeedConfig
from collectors.normalize import (
    TITLE_MAX,
    ChannelInfo,
    EntryRejected,
    NormalizedEntry,
    RejectReason,
    content_hash,
    entry_to_article,
    normalize_entry,
)
from collectors.text import field_to_text, html_to_text, is_unreadable, repair_mojibake
from collectors.urls import (
    InvalidUrl,
    article_id_from_guid,
    article_id_from_title,
    article_id_from_url,
    canonical_url,
)

FETCHED = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
FEED = FeedConfig(url="https://feeds.example/rss", name="Example Feed", language="en")
OTHER_FEED = FeedConfig(url="https://other.example/rss")


# --- canonical URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTP://News.Example.COM/Story", "http://news.example.com/Story"),
        ("https://news.example:443/a", "https://news.example/a"),
        ("http://news.example:80/a", "http://news.example/a"),
        ("https://news.example:8443/a", "https://news.example:8443/a"),
        ("https://news.example", "https://news.example/"),
        ("https://news.example/a#comments", "https://news.example/a"),
        ("https://news.example/a?utm_source=rss&utm_medium=feed&UTM_Campaign=x", "https://news.example/a"),
        (
            "https://news.example/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&ref=home&id=9",
            "https://news.example/a?id=9",
        ),
        ("https://news.example/a?b=2&a=1&c=3", "https://news.example/a?a=1&b=2&c=3"),
        ("https://news.example/a?xtor=RSS-3208&p=1", "https://news.example/a?p=1"),
        ("https://news.example/a?&&b=2&", "https://news.example/a?b=2"),
        ("https://news.example/a?flag", "https://news.example/a?flag"),  # not rewritten to ?flag=
        ("https://news.example/a?q=a+b&r=%2f", "https://news.example/a?q=a+b&r=%2F"),
        ("https://news.example/caf%c3%a9", "https://news.example/caf%C3%A9"),
        ("https://user:secret@news.example/a", "https://news.example/a"),
        ("https://news.example./a", "https://news.example/a"),
        ("  https://news.example/a  ", "https://news.example/a"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
    ],
)
def test_canonical_url(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


def test_canonical_url_resolves_relative_links_against_a_base() -> None:
    assert canonical_url("/2024/x?utm_source=a", "https://site.example/feed.xml") == "https://site.example/2024/x"


@pytest.mark.parametrize(
    "raw",
    ["javascript:alert(1)", "mailto:desk@news.example", "ftp://news.example/a", "/relative", "https://", ""],
)
def test_non_http_urls_are_not_article_urls(raw: str) -> None:
    with pytest.raises(InvalidUrl):
        canonical_url(raw)


def test_bad_port_is_invalid() -> None:
    with pytest.raises(InvalidUrl):
        canonical_url("https://news.example:99999/a")


# --- ids -------------------------------------------------------------------------------------


def test_id_is_the_same_for_every_spelling_of_the_same_url() -> None:
    a = article_id_from_url(canonical_url("https://News.Example/a?utm_source=x&b=1&a=2#top"))
    b = article_id_from_url(canonical_url("https://news.example:443/a?a=2&b=1&fbclid=zz"))
    assert a == b and len(a) == 32 and int(a, 16) >= 0


def test_guid_ids_are_scoped_to_the_feed_and_apart_from_url_ids() -> None:
    assert article_id_from_guid(FEED.feed_id, "1234") != article_id_from_guid(OTHER_FEED.feed_id, "1234")
    assert article_id_from_guid(FEED.feed_id, " 1234 ") == article_id_from_guid(FEED.feed_id, "1234")
    url = "https://news.example/a"
    assert article_id_from_guid(FEED.feed_id, url) != article_id_from_url(url)
    assert article_id_from_title(FEED.feed_id, "T", "") != article_id_from_guid(FEED.feed_id, "T")


# --- text ------------------------------------------------------------------------------------


def test_html_to_text_strips_tags_scripts_and_styles_and_decodes_entities() -> None:
    html = (
        "<div><p>Caf&eacute; &amp; bar &#8212; <b>open</b>&nbsp;now.</p>"
        "<script>var x = '<p>not text</p>';</script><style>p { color: red }</style>"
        "<p>Second   paragraph<br/>new line</p><!-- a comment --><ul><li>one</li><li>two</li></ul></div>"
    )
    assert html_to_text(html) == "Café & bar — open now.\nSecond paragraph\nnew line\none\ntwo"
    assert html_to_text(html, multiline=False) == "Café & bar — open now. Second paragraph new line one two"


def test_html_to_text_copes_with_broken_markup() -> None:
    assert html_to_text("<p>unclosed <b>bold <i>and</p> 3 < 5 & 7 > 6") == "unclosed bold and\n3 < 5 & 7 > 6"
    assert html_to_text("<script>never closed") == ""
    assert html_to_text("a\u200bb\u00ad c\x00\x07d") == "ab cd"


def test_plain_text_fields_are_not_parsed_as_html() -> None:
    assert field_to_text("Use <b> for   bold", "text/plain", multiline=False) == "Use <b> for bold"
    assert field_to_text("Use <b>bold</b>", "text/html", multiline=False) == "Use bold"
    assert field_to_text(None, "text/html") == ""


def test_mojibake_is_repaired_and_debris_is_detected() -> None:
    assert repair_mojibake("CafÃ© crÃ¨me â€” dÃ©jÃ\xa0 vu") == "Café crème — déjà vu"
    assert repair_mojibake("Café crème — déjà vu") == "Café crème — déjà vu"
    assert repair_mojibake("São Paulo é–") == "São Paulo é–"  # looks suspicious, not a lossless round trip
    assert is_unreadable("Bad \ufffd title")
    assert is_unreadable("Bad \x81\x8d bytes")
    assert not is_unreadable("A long clean text " * 20 + "\ufffd")  # one stray character in a long text
    assert not is_unreadable("Clean text")


# --- dates -----------------------------------------------------------------------------------


def test_to_utc_from_structs_strings_and_datetimes() -> None:
    assert to_utc(time.struct_time((2024, 3, 5, 7, 30, 0, 1, 65, 0))) == datetime(2024, 3, 5, 7, 30, tzinfo=UTC)
    assert to_utc((2024, 6, 30, 23, 59, 60, 0, 0, 0)) == datetime(2024, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert to_utc("Tue, 05 Mar 2024 08:30:00 +0100") == datetime(2024, 3, 5, 7, 30, tzinfo=UTC)
    assert to_utc("2024-03-05T09:45:00+01:00") == datetime(2024, 3, 5, 8, 45, tzinfo=UTC)
    assert to_utc("2024-03-05T09:45:00Z") == datetime(2024, 3, 5, 9, 45, tzinfo=UTC)
    assert to_utc("2024-03-05 09:45") == datetime(2024, 3, 5, 9, 45, tzinfo=UTC)  # no zone: UTC
    assert to_utc(datetime(2024, 3, 5, 9, 45)) == datetime(2024, 3, 5, 9, 45, tzinfo=UTC)  # noqa: DTZ001


@pytest.mark.parametrize(
    "bad", ["", "yesterday-ish", "Tue, 45 Mar 2024 99:99:99 GMT", (2024, 13, 45, 0, 0, 0, 0, 0, 0), (0, 0, 0)]
)
def test_invalid_dates_become_none(bad: object) -> None:
    assert to_utc(bad) is None  # type: ignore[arg-type]


def test_resolve_published_rules() -> None:
    good = {"published": "Tue, 05 Mar 2024 06:00:00 GMT"}
    assert resolve_published(good, FETCHED) == resolve_published(good, FETCHED)
    result = resolve_published(good, FETCHED)
    assert (result.value, result.inferred, result.problem) == (
        datetime(2024, 3, 5, 6, tzinfo=UTC),
        False,
        None,
    )

    slightly_ahead = {"published": (FETCHED + timedelta(minutes=5)).strftime("%a, %d %b %Y %H:%M:%S GMT")}
    assert resolve_published(slightly_ahead, FETCHED).inferred is False  # clock skew is tolerated

    cases = {
        DateProblem.FUTURE: {"published": "Fri, 01 Jan 2100 00:00:00 GMT"},
        DateProblem.UNPARSEABLE: {"published": "soon"},
        DateProblem.IMPLAUSIBLY_OLD: {"published": "Thu, 01 Jan 1970 00:00:00 GMT"},
        DateProblem.MISSING: {},
    }
    for problem, entry in cases.items():
        result = resolve_published(entry, FETCHED)
        assert (result.value, result.inferred, result.problem) == (FETCHED, True, problem)


def test_an_invalid_published_date_falls_back_to_updated() -> None:
    entry = {"published": "garbage", "updated": "2024-03-04T10:00:00Z"}
    assert resolve_published(entry, FETCHED).value == datetime(2024, 3, 4, 10, tzinfo=UTC)


# --- content hash and entry -> Article ---------------------------------------------------------


def test_content_hash_covers_title_summary_and_text() -> None:
    base = content_hash("t", "s", "x")
    assert base == content_hash("t", "s", "x")
    assert len({base, content_hash("T", "s", "x"), content_hash("t", "S", "x"), content_hash("t", "s", "X")}) == 4
    assert content_hash("ab", "", "") != content_hash("a", "b", "")  # fields are delimited


def _entry(**fields: object) -> dict[str, object]:
    return {"title": "Harbour reopens", "title_detail": {"type": "text/plain"}, **fields}


def test_entry_to_article_maps_every_field() -> None:
    entry = _entry(
        link="https://News.Example/a?utm_source=rss",
        id="guid-1",
        summary="<p>Ships &amp; boats</p>",
        summary_detail={"type": "text/html"},
        content=[{"type": "text/html", "value": "<p>Full</p><p>story</p>"}],
        published_parsed=time.struct_time((2024, 3, 5, 7, 0, 0, 1, 65, 0)),
    )
    channel = ChannelInfo(title="Channel", link="https://news.example/", language="fr")
    article = entry_to_article(entry, FEED, FETCHED, channel=channel)
    assert article is not None
    assert article.id == article_id_from_url("https://news.example/a")
    assert article.url == "https://news.example/a"
    assert (article.title, article.summary, article.text) == (
        "Harbour reopens",
        "Ships & boats",
        "Full\nstory",
    )
    assert article.source.name == "Example Feed" and article.source.site == "news.example"
    assert article.published == datetime(2024, 3, 5, 7, tzinfo=UTC) and not article.published_inferred
    assert article.fetched == FETCHED and article.feed_url == FEED.url
    assert article.language == "en"  # the operator's hint wins over the channel's
    assert article.version == 1 and article.content_hash == content_hash(article.title, "Ships & boats", "Full\nstory")


def test_entry_without_link_uses_the_guid_then_title() -> None:
    by_guid = normalize_entry(_entry(id="nb-1"), OTHER_FEED, FETCHED)
    assert isinstance(by_guid, NormalizedEntry) and by_guid.id_rule == "guid"
    assert by_guid.article.id == article_id_from_guid(OTHER_FEED.feed_id, "nb-1")
    assert by_guid.article.url == OTHER_FEED.url  # nowhere better to point to
    assert by_guid.article.source.name == "other.example"

    guid_url = normalize_entry(_entry(id="https://other.example/items/7"), OTHER_FEED, FETCHED)
    assert isinstance(guid_url, NormalizedEntry) and guid_url.article.url == "https://other.example/items/7"

    by_title = normalize_entry(_entry(published="Mon, 04 Mar 2024 09:00:00 GMT"), OTHER_FEED, FETCHED)
    assert isinstance(by_title, NormalizedEntry) and by_title.id_rule == "title"
    expected = article_id_from_title(OTHER_FEED.feed_id, "Harbour reopens", "Mon, 04 Mar 2024 09:00:00 GMT")
    assert by_title.article.id == expected

    bad_link = normalize_entry(_entry(link="javascript:alert(1)", id="g"), OTHER_FEED, FETCHED)
    assert isinstance(bad_link, NormalizedEntry) and bad_link.id_rule == "guid"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"summary": "only a summary"}, RejectReason.NO_IDENTITY),
        ({"link": "https://a.example/1"}, RejectReason.EMPTY),
        ({"link": "https://a.example/1", "title": "Bad \x81\x8d\x8f bytes"}, RejectReason.UNREADABLE_TEXT),
    ],
)
def test_unusable_entries_are_rejected_with_a_reason(entry: dict[str, object], reason: RejectReason) -> None:
    result = normalize_entry(entry, FEED, FETCHED)
    assert isinstance(result, EntryRejected) and result.reason is reason and result.detail
    assert entry_to_article(entry, FEED, FETCHED) is None


def test_overlong_fields_are_cut_to_keep_records_small() -> None:
    article = entry_to_article(_entry(link="https://a.example/1", title="word " * 1000), FEED, FETCHED)
    assert article is not None and len(article.title) <= TITLE_MAX and article.title.endswith("…")


def test_future_date_is_flagged_on_the_article() -> None:
    article = entry_to_article(
        _entry(link="https://a.example/1", published="Fri, 01 Jan 2100 00:00:00 GMT"), FEED, FETCHED
    )
    assert article is not None and article.published == FETCHED and article.published_inferred
