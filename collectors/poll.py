"""One poll of one feed, fetch then parse, as a single typed outcome. Never raises.

This is the unit the collector loop runs per due feed (inside ``HostLimiter.slot``), then feeds
``outcome.articles`` to ``dedupe`` and ``outcome`` to ``schedule.after_success/after_failure``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from collectors.errors import ErrorKind, FetchFailed
from collectors.feeds import FeedConfig
from collectors.fetch import FeedFetcher, FetchCursor, Fetched, FetchResult, NotModified, Unchanged
from collectors.parse import ParsedFeed, parse_feed
from newswatch.schema import Article

INLINE_PARSE_BYTES = 32 * 1024  # ~15 ms of feedparser at most


@dataclass(frozen=True)
class PollOutcome:
    feed_id: str
    fetch: FetchResult
    cursor: FetchCursor  # to keep for the next poll
    parsed: ParsedFeed | None = None  # only when a new body was parsed

    @property
    def failure(self) -> FetchFailed | None:
        if isinstance(self.fetch, FetchFailed):
            return self.fetch
        return self.parsed.failure if self.parsed is not None else None

    @property
    def articles(self) -> tuple[Article, ...]:
        return self.parsed.articles if self.parsed is not None and self.parsed.ok else ()

    @property
    def not_modified(self) -> bool:
        return isinstance(self.fetch, NotModified | Unchanged)

    @property
    def bytes_received(self) -> int:
        return len(self.fetch.body) if isinstance(self.fetch, Fetched) else 0


async def poll_feed(
    feed: FeedConfig, cursor: FetchCursor, fetcher: FeedFetcher, *, parse_in_thread: bool = True
) -> PollOutcome:
    """Fetch and parse one feed.

    On a parse failure the previous cursor is kept, so the next poll downloads and judges the body
    again instead of taking the broken body's ETag/hash as "unchanged, all well".

    ``parse_in_thread`` keeps a large feed's parse from stalling every other fetch on the event loop
    (feedparser is pure Python: the GIL still serialises the CPU work itself). A body of at most
    ``INLINE_PARSE_BYTES`` is parsed on the loop all the same: it takes a few milliseconds, less than
    the thread hand-off and the GIL's back and forth cost (a tenth of a changed feed's poll).
    """
    result = await fetcher.fetch(feed.url, cursor)
    if not isinstance(result, Fetched):
        kept = cursor if isinstance(result, FetchFailed) else result.cursor
        return PollOutcome(feed.feed_id, result, kept)
    kwargs = {"fetched_at": result.fetched_at, "content_type": result.content_type, "base_url": result.url}
    try:
        if parse_in_thread and len(result.body) > INLINE_PARSE_BYTES:
            parsed = await asyncio.to_thread(parse_feed, result.body, feed, **kwargs)
        else:
            parsed = parse_feed(result.body, feed, **kwargs)
    except Exception as exc:  # parse_feed is total; this only guards the thread hand-off
        failure = FetchFailed(ErrorKind.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", url=feed.url)
        parsed = ParsedFeed(feed.feed_id, failure=failure)
    return PollOutcome(feed.feed_id, result, result.cursor if parsed.ok else cursor, parsed)
