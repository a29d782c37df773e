"""The demo feed server: feeds as of the injected clock, with ETag/Last-Modified and 304s."""

from __future__ import annotations

from email.utils import formatdate

import aiohttp
import feedparser
import pytest
import yaml

from newswatch.demo.release import DEFAULT_PLAN
from newswatch.demo.server import RenderedFeed, is_not_modified, start_demo_server

WALL_START = 1_700_000_000.6


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def _start(clock: FakeClock):
    return await start_demo_server("127.0.0.1", 0, clock, wall_clock=lambda: WALL_START)


async def test_feed_is_served_then_304_for_a_conditional_request():
    clock = FakeClock()
    async with await _start(clock) as server, aiohttp.ClientSession() as http:
        url = server.feed_url("continental-wire.xml")
        async with http.get(url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
            etag, last_modified = response.headers["ETag"], response.headers["Last-Modified"]
            body = await response.read()
        assert etag.startswith('"') and last_modified == formatdate(int(WALL_START), usegmt=True)
        parsed = feedparser.parse(body)
        assert not parsed.bozo and 0 < len(parsed.entries) < 46

        async with http.get(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 304
            assert response.headers["ETag"] == etag
            assert await response.read() == b""
        async with http.get(url, headers={"If-Modified-Since": last_modified}) as response:
            assert response.status == 304
        assert server.state.hits[("continental-wire.xml", 304)] == 2


async def test_new_items_appear_after_the_clock_advances():
    clock = FakeClock()
    async with await _start(clock) as server, aiohttp.ClientSession() as http:
        url = server.feed_url("continental-wire.xml")
        async with http.get(url) as response:
            etag, last_modified = response.headers["ETag"], response.headers["Last-Modified"]
            before = feedparser.parse(await response.read())

        clock.advance(DEFAULT_PLAN.duration)
        async with http.get(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 200
            after = feedparser.parse(await response.read())
        async with http.get(url, headers={"If-Modified-Since": last_modified}) as response:
            assert response.status == 200, "Last-Modified must move when the content does"
            newer = response.headers["Last-Modified"]
        async with http.get(url, headers={"If-Modified-Since": newer}) as response:
            assert response.status == 304

    assert len(after.entries) == 46 > len(before.entries)
    assert {entry.id for entry in before.entries} <= {entry.id for entry in after.entries}


async def test_atom_feeds_feeds_file_index_and_unknown_names():
    clock = FakeClock()
    async with await _start(clock) as server, aiohttp.ClientSession() as http:
        async with http.get(server.feed_url("agence-meridien.xml")) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
            assert feedparser.parse(await response.read()).version == "atom10"
        async with http.head(server.feed_url("agence-meridien.xml")) as response:
            assert response.status == 200 and "ETag" in response.headers
        async with http.get(f"{server.base_url}/feeds.yaml") as response:
            entries = yaml.safe_load(await response.text())
        assert len(entries) == len(server.feed_names)
        assert all(entry["url"].startswith(f"{server.base_url}/feeds/") for entry in entries)
        assert server.feeds_file() == await (await http.get(f"{server.base_url}/feeds.yaml")).text()
        async with http.get(f"{server.base_url}/") as response:
            assert "continental-wire.xml" in await response.text()
        async with http.get(server.feed_url("no-such-feed.xml")) as response:
            assert response.status == 404
    assert server.base_url.startswith("http://127.0.0.1:")


async def test_burst_reaches_the_feeds_between_30_and_60_seconds():
    clock = FakeClock()
    async with await _start(clock) as server, aiohttp.ClientSession() as http:
        url = server.feed_url("vestnik-press.xml")

        async def titles() -> set[str]:
            async with http.get(url) as response:
                return {entry.title for entry in feedparser.parse(await response.read()).entries}

        clock.advance(29)
        early = await titles()
        clock.advance(32)
        late = await titles()
    burst_title = "Столтенберг: между Россией и НАТО сохраняются значительные разногласия"
    assert burst_title not in early and burst_title in late


RENDERED = RenderedFeed(body=b"", etag='"abc"', last_modified=1_700_000_000, visible=0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"If-None-Match": '"abc"'}, True),
        ({"If-None-Match": 'W/"abc"'}, True),
        ({"If-None-Match": '"x", "abc"'}, True),
        ({"If-None-Match": "*"}, True),
        ({"If-None-Match": '"other"'}, False),
        # If-None-Match decides when present, even if If-Modified-Since alone would say 304.
        ({"If-None-Match": '"other"', "If-Modified-Since": formatdate(1_800_000_000, usegmt=True)}, False),
        ({"If-Modified-Since": formatdate(1_700_000_000, usegmt=True)}, True),
        ({"If-Modified-Since": formatdate(1_699_999_999, usegmt=True)}, False),
        ({"If-Modified-Since": "not a date"}, False),
    ],
)
def test_conditional_request_rules(headers, expected):
    assert is_not_modified(headers, RENDERED) is expected
