"""Fetch + parse per feed: each bad input gives one typed error and the other feeds keep flowing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from collectors.errors import ErrorKind, FetchFailed
from collectors.feeds import FeedConfig
from collectors.fetch import FeedFetcher, FetchCursor, FetchSettings
from collectors.poll import PollOutcome, poll_feed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _bomb() -> bytes:
    return fixture("entity_bomb.xml")


# path -> response; every feed lives on one mock "internet".
ROUTES: dict[str, httpx.Response] = {
    "/good.xml": httpx.Response(200, content=fixture("rss_basic.xml"), headers={"ETag": '"g1"'}),
    "/atom.xml": httpx.Response(200, content=fixture("atom_basic.xml")),
    "/malformed.xml": httpx.Response(200, content=fixture("malformed.xml")),
    "/html.xml": httpx.Response(200, content=fixture("html_page.html"), headers={"Content-Type": "text/html"}),
    "/empty.xml": httpx.Response(200, content=b""),
    "/huge.xml": httpx.Response(200, content=b"<rss>" + b"x" * (10 * 1024 * 1024) + b"</rss>"),
    "/missing.xml": httpx.Response(404),
    "/gone.xml": httpx.Response(410),
    "/broken.xml": httpx.Response(500),
    "/bomb.xml": httpx.Response(200, content=_bomb()),
    "/dates.xml": httpx.Response(200, content=fixture("bad_dates.xml")),
    "/dupes.xml": httpx.Response(200, content=fixture("duplicate_guids.xml")),
    "/nolinks.xml": httpx.Response(200, content=fixture("no_links.xml")),
    "/charset.xml": httpx.Response(200, content=fixture("charset_utf8_declared_cp1252.xml")),
}


async def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/slow.xml":
        await asyncio.sleep(30)
    if path in ("/loop-a", "/loop-b"):
        return httpx.Response(302, headers={"Location": "/loop-b" if path == "/loop-a" else "/loop-a"})
    route = ROUTES.get(path)
    if route is None:
        return httpx.Response(404)
    return httpx.Response(route.status_code, headers=route.headers, content=route.content)


async def resolve(host: str, port: int) -> Sequence[str]:
    return ["10.0.0.7"] if host == "intranet.example" else ["93.184.215.14"]


def make_fetcher(client: httpx.AsyncClient) -> FeedFetcher:
    settings = FetchSettings(total_timeout=0.5, max_body_bytes=8 * 1024 * 1024)
    return FeedFetcher(client, settings, resolve=resolve, clock=lambda: NOW)


EXPECTED_FAILURES = {
    "https://feeds.example/malformed.xml": ErrorKind.PARSE_ERROR,
    "https://feeds.example/html.xml": ErrorKind.NOT_A_FEED,
    "https://feeds.example/empty.xml": ErrorKind.EMPTY_BODY,
    "https://feeds.example/huge.xml": ErrorKind.TOO_LARGE,
    "https://feeds.example/slow.xml": ErrorKind.TIMEOUT,
    "https://feeds.example/loop-a": ErrorKind.REDIRECT_LOOP,
    "https://feeds.example/missing.xml": ErrorKind.HTTP_STATUS,
    "https://feeds.example/gone.xml": ErrorKind.HTTP_STATUS,
    "https://feeds.example/broken.xml": ErrorKind.HTTP_STATUS,
    "https://feeds.example/bomb.xml": ErrorKind.REFUSED_ENTITIES,
    "https://intranet.example/rss": ErrorKind.REFUSED_PRIVATE_ADDRESS,
}
EXPECTED_ARTICLES = {
    "https://feeds.example/good.xml": 3,
    "https://feeds.example/atom.xml": 2,
    "https://feeds.example/dates.xml": 5,
    "https://feeds.example/dupes.xml": 2,
    "https://feeds.example/nolinks.xml": 4,
    "https://feeds.example/charset.xml": 1,
}


async def test_every_bad_feed_fails_alone_with_one_typed_error() -> None:
    feeds = [FeedConfig(url=url) for url in [*EXPECTED_FAILURES, *EXPECTED_ARTICLES]]
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        fetcher = make_fetcher(client)
        started = asyncio.get_running_loop().time()
        outcomes = await asyncio.gather(*(poll_feed(feed, FetchCursor(), fetcher) for feed in feeds))
        elapsed = asyncio.get_running_loop().time() - started
    by_url = {feed.url: outcome for feed, outcome in zip(feeds, outcomes, strict=True)}
    for url, kind in EXPECTED_FAILURES.items():
        failure = by_url[url].failure
        assert failure is not None and failure.kind is kind, (url, failure)
        assert by_url[url].articles == ()
    for url, count in EXPECTED_ARTICLES.items():
        outcome = by_url[url]
        assert outcome.failure is None, (url, outcome.failure)
        assert len(outcome.articles) == count, url
    statuses = [by_url[f"https://feeds.example/{name}.xml"].failure for name in ("missing", "gone", "broken")]
    assert [failure.status_code for failure in statuses if failure] == [404, 410, 500]
    assert elapsed < 5  # the server that never answers delayed only itself (total_timeout 0.5 s)


async def test_304_produces_no_articles_and_keeps_the_cursor() -> None:
    requests: list[httpx.Request] = []

    def conditional(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.headers.get("If-None-Match") == '"g1"':
            return httpx.Response(304)
        return httpx.Response(200, content=fixture("rss_basic.xml"), headers={"ETag": '"g1"'})

    feed = FeedConfig(url="https://feeds.example/good.xml")
    async with httpx.AsyncClient(transport=httpx.MockTransport(conditional)) as client:
        fetcher = make_fetcher(client)
        first = await poll_feed(feed, FetchCursor(), fetcher)
        second = await poll_feed(feed, first.cursor, fetcher)
    assert len(first.articles) == 3 and first.bytes_received > 0
    assert second.not_modified and second.articles == () and second.failure is None and second.parsed is None
    assert second.cursor.etag == '"g1"' and requests[1].headers["If-None-Match"] == '"g1"'


async def test_a_parse_failure_keeps_the_previous_cursor() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=fixture("malformed.xml"), headers={"ETag": '"bad"'})

    previous = FetchCursor(etag='"old"', body_sha256="0" * 64)
    feed = FeedConfig(url="https://feeds.example/malformed.xml")
    async with httpx.AsyncClient(transport=httpx.MockTransport(broken)) as client:
        outcome: PollOutcome = await poll_feed(feed, previous, make_fetcher(client), parse_in_thread=False)
    assert isinstance(outcome.failure, FetchFailed) and outcome.failure.kind is ErrorKind.PARSE_ERROR
    assert outcome.cursor == previous  # so the next poll re-downloads and re-judges the body
