"""parse_feed over the fixture corpus and hostile bodies: one typed outcome per input, never a raise."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import collectors.parse as parse_module
from collectors.dates import DateProblem
from collectors.errors import ErrorKind
from collectors.feeds import FeedConfig
from collectors.normalize import RejectReason
from collectors.parse import ParsedFeed, correct_declared_charset, parse_feed, problems_to_log
from collectors.urls import article_id_from_guid

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
FETCHED = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def feed_for(name: str) -> FeedConfig:
    return FeedConfig(url=f"https://{name.replace('_', '-')}.example/feed.xml")


def parse_fixture(name: str, **kwargs: object) -> ParsedFeed:
    body = (FIXTURES / name).read_bytes()
    return parse_feed(body, feed_for(name.split(".")[0]), fetched_at=FETCHED, **kwargs)  # type: ignore[arg-type]


def test_rss_feed() -> None:
    parsed = parse_fixture("rss_basic.xml", content_type="application/rss+xml")
    assert parsed.ok and parsed.problems == () and parsed.entry_count == 3
    ferry, wall, fish = parsed.articles
    assert ferry.url == "https://news.harbour.example/2024/ferry-resumes?id=17"
    assert ferry.summary == "The morning ferry sailed at 7:15 & arrived on time."
    assert "track(" not in ferry.text and "color" not in ferry.text
    assert ferry.text.splitlines() == [
        "The morning ferry sailed at 7:15 & arrived on time.",
        "Passengers were relieved.",
        "More updates later.",
    ]
    assert ferry.published == datetime(2024, 3, 5, 7, 30, tzinfo=UTC)
    assert ferry.language == "en-gb" and ferry.source.name == "Harbour Gazette"
    assert wall.url == "https://rss-basic.example/2024/sea-wall"  # relative link, resolved against the feed
    assert fish.title == "Fish market prices — weekly report"
    assert fish.url == "https://news.harbour.example/2024/fish-prices?week=10"


def test_atom_feed() -> None:
    parsed = parse_fixture("atom_basic.xml", content_type="application/atom+xml")
    assert parsed.ok and len(parsed.articles) == 2
    debate, weather = parsed.articles
    assert debate.title == "Élections : le débat de ce soir"
    assert debate.url == "https://plateau.example/politique/debat"
    assert debate.text == "Les candidats s’affrontent ce soir.\nDiffusion à 20 h."
    assert debate.published == datetime(2024, 3, 5, 8, 45, tzinfo=UTC)  # only <updated>, converted to UTC
    assert weather.summary == "Jusqu'à 10 cm sur les hauteurs & verglas."
    assert {a.language for a in parsed.articles} == {"fr"}


def test_malformed_xml_is_a_parse_error() -> None:
    parsed = parse_fixture("malformed.xml")
    assert parsed.failure is not None and parsed.failure.kind is ErrorKind.PARSE_ERROR
    assert "not well-formed" in parsed.failure.detail and parsed.articles == ()


def test_truncated_feed_is_still_used_and_the_problem_reported() -> None:
    parsed = parse_fixture("truncated.xml")
    assert parsed.ok
    assert [a.title for a in parsed.articles] == ["First story survives", "Second story also survives"]
    assert "bozo:SAXParseException" in parsed.problem_codes


@pytest.mark.parametrize(
    "body",
    [
        (FIXTURES / "html_page.html").read_bytes(),
        b"\xef\xbb\xbf  <!-- cms --><!doctype HTML><html><body>hi</body></html>",
        b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
    ],
)
def test_html_page_served_as_a_feed(body: bytes) -> None:
    parsed = parse_feed(body, feed_for("html"), fetched_at=FETCHED, content_type="text/html")
    assert parsed.failure is not None and parsed.failure.kind is ErrorKind.NOT_A_FEED


def test_a_real_feed_served_as_text_html_is_accepted() -> None:
    parsed = parse_fixture("rss_basic.xml", content_type="text/html; charset=utf-8")
    assert parsed.ok and len(parsed.articles) == 3


@pytest.mark.parametrize("body", [b"", b"   \n\t  "])
def test_empty_body(body: bytes) -> None:
    parsed = parse_feed(body, feed_for("empty"), fetched_at=FETCHED)
    assert parsed.failure is not None and parsed.failure.kind is ErrorKind.EMPTY_BODY


def test_feed_without_entries_is_not_an_error_but_is_reported() -> None:
    parsed = parse_fixture("empty_channel.xml")
    assert parsed.ok and parsed.articles == () and parsed.problem_codes == {"no_entries"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "JSON"),
        (b"Service Unavailable", "does not start with markup"),
    ],
)
def test_json_or_text_is_not_a_feed(body: bytes, words: str) -> None:
    parsed = parse_feed(body, feed_for("json"), fetched_at=FETCHED, content_type="application/json")
    assert parsed.failure is not None and parsed.failure.kind is ErrorKind.NOT_A_FEED
    assert words in parsed.failure.detail


def test_invalid_and_future_dates_use_the_fetch_time_and_are_flagged() -> None:
    parsed = parse_fixture("bad_dates.xml")
    assert parsed.ok
    by_title = {a.title: a for a in parsed.articles}
    for title in (
        "Date that is not a date",
        "Story from the future",
        "Epoch zero story",
        "Story with no date",
    ):
        assert by_title[title].published == FETCHED and by_title[title].published_inferred
    good = by_title["Story with a good date"]
    assert good.published == datetime(2024, 3, 5, 11, tzinfo=UTC) and not good.published_inferred
    assert parsed.date_problems == {
        DateProblem.UNPARSEABLE: 1,
        DateProblem.FUTURE: 1,
        DateProblem.IMPLAUSIBLY_OLD: 1,
        DateProblem.MISSING: 1,
    }
    assert {"date:future", "date:unparseable"} <= parsed.problem_codes


def test_duplicate_guids_keep_the_first_entry() -> None:
    parsed = parse_fixture("duplicate_guids.xml")
    assert parsed.ok and parsed.duplicates_dropped == 2
    assert [a.title for a in parsed.articles] == ["Bridge reopens (updated)", "Library extends hours"]
    assert "duplicate_entries" in parsed.problem_codes


def test_entries_without_links() -> None:
    feed = feed_for("no_links")
    parsed = parse_feed((FIXTURES / "no_links.xml").read_bytes(), feed, fetched_at=FETCHED)
    assert parsed.ok
    water, cat, market, javascript = parsed.articles
    assert water.id == article_id_from_guid(feed.feed_id, "nb-1001")
    assert water.url == "https://noticeboard.example/"  # the channel's site link
    assert cat.url == "https://noticeboard.example/items/1002"  # a permalink GUID is the link
    assert market.title == "Market moved to Saturday" and market.published == datetime(2024, 3, 4, 9, tzinfo=UTC)
    assert javascript.id == article_id_from_guid(feed.feed_id, "nb-1005")
    assert [r.reason for r in parsed.rejected] == [RejectReason.NO_IDENTITY]
    assert len({a.id for a in parsed.articles}) == 4


@pytest.mark.parametrize("name", ["charset_cp1252_declared_utf8.xml", "charset_utf8_declared_cp1252.xml"])
def test_non_utf8_feed_with_a_wrong_declared_charset_comes_out_readable(name: str) -> None:
    parsed = parse_fixture(name)
    assert parsed.ok
    (article,) = parsed.articles
    assert article.title == "Café crème à la gare — déjà vu"
    assert article.summary == "Un résumé naïf, façon Noël."


def test_wrong_charset_in_the_http_header_is_corrected_too() -> None:
    body = (FIXTURES / "charset_utf8_declared_cp1252.xml").read_bytes()
    new_body, content_type, problem = correct_declared_charset(body, "application/rss+xml; charset=ISO-8859-1")
    assert content_type == "application/rss+xml; charset=utf-8" and problem is not None
    assert b'encoding="utf-8"' in new_body[:60]
    parsed = parse_feed(body, feed_for("gare"), fetched_at=FETCHED, content_type="text/xml; charset=koi8-r")
    assert parsed.articles[0].title == "Café crème à la gare — déjà vu"


def test_undecodable_text_rejects_the_entry_with_a_reason() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
        b"<item><title>Bad \x81\x8d\x8f\x90\x9d bytes</title><link>https://a.example/1</link></item>"
        b"<item><title>Fine</title><link>https://a.example/2</link></item></channel></rss>"
    )
    parsed = parse_feed(body, feed_for("bytes"), fetched_at=FETCHED)
    assert [a.title for a in parsed.articles] == ["Fine"]
    assert [r.reason for r in parsed.rejected] == [RejectReason.UNREADABLE_TEXT]
    only_bad = parse_feed(body.split(b"<item><title>Fine")[0] + b"</channel></rss>", feed_for("b"), fetched_at=FETCHED)
    assert only_bad.failure is not None and only_bad.failure.kind is ErrorKind.NO_USABLE_ENTRIES


def _quadratic_blowup() -> bytes:
    big = "x" * 50_000
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{big}">\n]>\n<rss version="2.0"><channel>'
        f"<title>t</title><item><title>{'&a;' * 500}</title><link>https://a.example/</link></item></channel></rss>"
    ).encode()


def _same_line_bomb() -> bytes:
    levels = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 8)]
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(levels)}]><rss version="2.0"><channel><title>t</title>'
        "<item><title>&l7;</title><link>https://a.example/</link></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param((FIXTURES / "entity_bomb.xml").read_bytes(), id="billion-laughs"),
        pytest.param(_same_line_bomb(), id="declared-on-the-doctype-line"),
        pytest.param(_quadratic_blowup(), id="quadratic-blowup"),
        pytest.param(_same_line_bomb().decode().encode("utf-16"), id="utf-16"),
        pytest.param(_same_line_bomb().replace(b"<!ENTITY", b"<!entity"), id="lower-case"),
    ],
)
def test_xml_entity_expansion_bomb_is_refused_before_parsing(body: bytes) -> None:
    started = time.process_time()
    parsed = parse_feed(body, feed_for("bomb"), fetched_at=FETCHED)
    assert parsed.failure is not None and parsed.failure.kind is ErrorKind.REFUSED_ENTITIES
    assert time.process_time() - started < 0.5


def test_a_body_that_is_a_file_path_is_not_opened(tmp_path: Path) -> None:
    # feedparser.parse(bytes) would open() a body that names an existing file.
    secret = tmp_path / "secret.xml"
    secret.write_bytes((FIXTURES / "rss_basic.xml").read_bytes())
    parsed = parse_feed(str(secret).encode(), feed_for("path"), fetched_at=FETCHED)
    assert parsed.articles == () and parsed.failure is not None


def test_parse_feed_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("feedparser bug")

    monkeypatch.setattr(parse_module.feedparser, "parse", explode)
    parsed = parse_fixture("rss_basic.xml")
    assert parsed.failure is not None and parsed.failure.kind is ErrorKind.INTERNAL_ERROR
    assert "feedparser bug" in parsed.failure.detail


def test_problems_are_logged_once_per_feed_not_per_poll() -> None:
    first = parse_fixture("truncated.xml")
    assert {p.code for p in problems_to_log(frozenset(), first)} == {
        "bozo:SAXParseException",
        "rejected:empty",
    }
    again = parse_fixture("truncated.xml")
    assert problems_to_log(first.problem_codes, again) == ()
