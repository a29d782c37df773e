"""Every bad input of issue 3, through the whole service shell (fake Kafka, mock internet, manual clock):
one clear log line naming the feed and the problem, not repeated on the next poll; the metric of that
problem (error kind and HTTP status, or problem code); and a good feed in the same run that still
produces its articles.

The address guard is on for every case (``allow_private_addresses=False``) with a fake resolver: the
mock internet answers every other host from a public address, and ``intranet.example`` from 10.0.0.7.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.feeds import FeedConfig
from collectors.fetch import FetchSettings
from tests.unit.test_collectors_service_shell import Harness

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
START = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)  # the fixtures' dates are written around it
PAST_ANY_BACKOFF = timedelta(hours=8)  # the 6 h backoff cap plus its 20 % jitter


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class BadInput:
    path: str  # on the mock internet; the feed is https://feeds.example<path> unless ``url`` says otherwise
    event: str  # the log line's event
    codes: tuple[str, ...]  # its error kind or problem codes: one line each, once
    detail: str  # words of the line's detail that say what is wrong
    metric: tuple[str, dict[str, str]]  # the sample that counts it
    articles: int = 0  # of the bad feed itself: a feed with problems is still used
    url: str | None = None


FAILED, PROBLEM = "feed poll failed", "feed problem"


def failed(path: str, kind: str, detail: str, status: str = "", url: str | None = None) -> BadInput:
    return BadInput(path, FAILED, (kind,), detail, ("errors", {"kind": kind, "status": status}), url=url)


def problem(path: str, codes: tuple[str, ...], detail: str, articles: int) -> BadInput:
    return BadInput(path, PROBLEM, codes, detail, ("feed_problems", {"code": codes[0]}), articles)


CASES = {
    "malformed-xml": failed("/malformed.xml", "parse_error", "not well-formed"),
    "html-page": failed("/page.html", "not_a_feed", "HTML page"),
    "empty-body": failed("/empty.xml", "empty_body", "empty"),
    "empty-channel": problem("/empty-channel.xml", ("no_entries",), "no entries", 0),
    "10-mb-feed": failed("/huge.xml", "too_large", "cap"),
    "never-answers": failed("/hang.xml", "timeout", "within 0.5 s"),
    "redirect-loop": failed("/loop-a", "redirect_loop", "redirect loop"),
    "http-404": failed("/missing.xml", "http_status", "404", "404"),
    "http-410": failed("/gone.xml", "http_status", "410", "410"),
    "http-500": failed("/broken.xml", "http_status", "500", "500"),
    "bad-dates": problem("/dates.xml", ("date:future", "date:unparseable", "date:implausibly_old"), "date", 5),
    "duplicate-guids": problem("/dupes.xml", ("duplicate_entries",), "duplicate", 2),
    "cp1252-declared-utf8": problem(
        "/charset.xml", ("bozo:CharacterEncodingOverride",), "declared as utf-8, but parsed as windows-1252", 1
    ),
    "entity-bomb": failed("/bomb.xml", "refused_entities", "<!ENTITY"),
    "entries-without-link": problem("/nolinks.xml", ("no_link", "rejected:no_identity"), "link", 4),
    "private-address": failed("/rss", "refused_private_address", "10.0.0.7", url="https://intranet.example/rss"),
}

BODIES = {
    "/good.xml": fixture("rss_basic.xml"),
    "/malformed.xml": fixture("malformed.xml"),
    "/page.html": fixture("html_page.html"),
    "/empty.xml": b"",
    "/empty-channel.xml": fixture("empty_channel.xml"),
    "/huge.xml": b"<rss>" + b"x" * (10 * 1024 * 1024) + b"</rss>",
    "/bomb.xml": fixture("entity_bomb.xml"),
    "/dates.xml": fixture("bad_dates.xml"),
    "/dupes.xml": fixture("duplicate_guids.xml"),
    "/charset.xml": fixture("charset_cp1252_declared_utf8.xml"),
    "/nolinks.xml": fixture("no_links.xml"),
}
STATUSES = {"/missing.xml": 404, "/gone.xml": 410, "/broken.xml": 500}


class MockInternet:
    """Answers every feed; a body changes on every request (a trailing comment), so each poll parses
    it again and meets its problems again: they must still be logged only once."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = request.url.path
        if path == "/hang.xml":
            await asyncio.sleep(30)
        if path in ("/loop-a", "/loop-b"):
            return httpx.Response(302, headers={"Location": "/loop-b" if path == "/loop-a" else "/loop-a"})
        if path in STATUSES:
            return httpx.Response(STATUSES[path])
        body = BODIES[path]
        if body.strip() and path != "/good.xml":
            body += f"\n<!-- request {self.requests} -->".encode()
        return httpx.Response(200, content=body)


async def resolve(host: str, port: int) -> Sequence[str]:
    return ["10.0.0.7"] if host == "intranet.example" else ["93.184.215.14"]


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []  # level, event, fields

    def bind(self, **fields: Any) -> RecordingLog:
        return self

    def __getattr__(self, level: str) -> Any:
        def record(event: str, *args: Any, **fields: Any) -> None:
            self.lines.append((level, event, fields))

        return record


GOOD = FeedConfig(url="https://feeds.example/good.xml", name="Good", interval=60)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_bad_feed_is_logged_once_and_counted_while_a_good_one_flows(case: BadInput) -> None:
    bad = FeedConfig(url=case.url or f"https://feeds.example{case.path}", name="Bad", interval=60)
    clock, log = ManualClock(START), RecordingLog()
    settings = FetchSettings(total_timeout=0.5, allow_private_addresses=False)
    async with Harness(
        MockInternet(), [bad, GOOD], fetch_settings=settings, resolve=resolve, clock=clock, log=log
    ) as h:
        await h.until(lambda: {bad.feed_id, GOOD.feed_id} <= h.service.table.runtimes.keys())
        for polls in (1, 2):
            clock.advance(PAST_ANY_BACKOFF)  # both feeds due, whatever their backoff

            def committed(polls: int = polls) -> bool:
                keys = Counter(record.key for record in h.emitter.records("t.status"))
                return keys[bad.feed_id.encode()] >= polls and keys[GOOD.feed_id.encode()] >= polls

            await h.until(committed)

    about_bad = [(level, event, fields) for level, event, fields in log.lines if fields.get("feed_id") == bad.feed_id]
    for code in case.codes:
        lines = [
            (level, fields)
            for level, event, fields in about_bad
            if event == case.event and code in (fields.get("kind"), fields.get("problem"))
        ]
        assert len(lines) == 1, (code, about_bad)
        (level, fields), what = lines[0], lines[0][1].get("error") or lines[0][1].get("detail")
        assert level == "warning" and fields["url"] == bad.url, fields
        assert case.detail in what, fields
    repeated = Counter((event, fields.get("kind") or fields.get("problem")) for _, event, fields in about_bad)
    assert set(repeated.values()) == {1}, repeated  # nothing logged again on the second poll

    family, labels = case.metric
    counted = h.service.metrics.registry.get_sample_value(f"newswatch_collector_{family}_total", labels)
    assert counted == (2 if case.event == FAILED else 1), (family, labels, counted)  # errors per poll, problems once

    by_feed = Counter(dict(record.headers)["feed_id"].decode() for record in h.emitter.records("t.raw"))
    assert by_feed[GOOD.feed_id] == 3 and by_feed[bad.feed_id] == case.articles, by_feed
    assert not [line for line in log.lines if line[2].get("feed_id") == GOOD.feed_id and line[0] != "info"]
