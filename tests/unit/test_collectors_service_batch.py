"""Completed polls -> the records of one transaction (collectors.batch), and the feed status record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collectors.batch import CompletedPoll, FeedMemory, PollResult, plan_batch
from collectors.dedupe import Decision, decode_seen
from collectors.errors import ErrorKind, FetchFailed
from collectors.feed_status import FeedStatus, decode_status, encode_status
from collectors.feeds import FeedConfig
from collectors.fetch import FetchCursor, Fetched, NotModified
from collectors.layout import CollectorTopics
from collectors.parse import FeedProblem, ParsedFeed
from collectors.poll import PollOutcome
from collectors.schedule import FeedPollState
from newswatch.schema import decode_article
from tests.factories import article

NOW = datetime(2022, 1, 12, 9, 0, tzinfo=UTC)
TOPICS = CollectorTopics(raw="t.raw", feeds="t.feeds", seen="t.seen", status="t.status")
FEED = FeedConfig(url="https://wire.example.net/feed.xml", name="Wire", interval=60)
OTHER = FeedConfig(url="https://other.example.net/feed.xml", interval=60)


def memory(**state: object) -> FeedMemory:
    return FeedMemory(FeedPollState(next_poll_at=NOW, **state))  # type: ignore[arg-type]


def fetched(feed: FeedConfig, *articles: object, problems: tuple[FeedProblem, ...] = ()) -> PollOutcome:
    cursor = FetchCursor(etag='"e1"', body_sha256="abc")
    parsed = ParsedFeed(feed.feed_id, articles=tuple(articles), problems=problems, entry_count=len(articles))  # type: ignore[arg-type]
    return PollOutcome(feed.feed_id, Fetched(b"<rss/>", cursor, feed.url, None, NOW), cursor, parsed)


def poll(feed: FeedConfig, outcome: PollOutcome, before: FeedMemory | None = None, partition: int = 3) -> CompletedPoll:
    return CompletedPoll(feed, partition, before or memory(), outcome, NOW, NOW + timedelta(seconds=1))


def records_of(plan: object, topic: str) -> list[object]:
    return [r for r in plan.records if r.topic == topic]  # type: ignore[attr-defined]


def test_new_articles_go_to_raw_with_seen_and_status_records_in_the_feed_partition() -> None:
    plan = plan_batch([poll(FEED, fetched(FEED, article(1), article(2)))], {}, TOPICS, "replica-a")

    raw = records_of(plan, "t.raw")
    assert [decode_article(r.value).version for r in raw] == [1, 1]  # type: ignore[attr-defined]
    assert all(r.partition is None and dict(r.headers)["feed_id"] == FEED.feed_id.encode() for r in raw)  # type: ignore[attr-defined]
    seen = records_of(plan, "t.seen")
    assert {r.key.decode() for r in seen} == {article(1).id, article(2).id}  # type: ignore[attr-defined]
    assert all(r.partition == 3 and decode_seen(r.value).version == 1 for r in seen)  # type: ignore[attr-defined,union-attr]
    (status_record,) = records_of(plan, "t.status")
    status = decode_status(status_record.value)  # type: ignore[attr-defined]
    assert status is not None and status.owner == "replica-a" and status.etag == '"e1"'
    assert status.next_poll_at == NOW + timedelta(seconds=61) and status.last_result == "fetched"
    (report,) = plan.reports
    assert report.result is PollResult.FETCHED and report.decisions == {Decision.NEW: 2}
    assert plan.seen_updates[3].keys() == {article(1).id, article(2).id}


def test_already_seen_articles_write_only_the_status_and_changed_ones_a_new_version() -> None:
    first = plan_batch([poll(FEED, fetched(FEED, article(1), article(2)))], {}, TOPICS, "a")
    seen = {3: dict(first.seen_updates[3])}
    changed = article(2, title="Envoys meet again", content_hash="another-hash")

    plan = plan_batch([poll(FEED, fetched(FEED, article(1), changed))], seen, TOPICS, "a")

    (raw,) = records_of(plan, "t.raw")
    emitted = decode_article(raw.value)  # type: ignore[attr-defined]
    assert (emitted.id, emitted.version, emitted.title) == (article(2).id, 2, "Envoys meet again")
    assert plan.reports[0].decisions == {Decision.UNCHANGED: 1, Decision.CHANGED: 1}
    assert len(records_of(plan, "t.status")) == 1


def test_one_article_in_two_feeds_of_a_partition_is_emitted_once_per_batch() -> None:
    plan = plan_batch([poll(FEED, fetched(FEED, article(7))), poll(OTHER, fetched(OTHER, article(7)))], {}, TOPICS, "a")
    assert len(records_of(plan, "t.raw")) == 1
    assert [report.decisions for report in plan.reports] == [{Decision.NEW: 1}, {Decision.UNCHANGED: 1}]


def test_a_failed_poll_backs_off_keeps_the_cursor_and_is_logged_once() -> None:
    cursor = FetchCursor(etag='"old"')
    failure = FetchFailed(ErrorKind.HTTP_STATUS, "HTTP 500 Internal Server Error", FEED.url, 500)
    outcome = PollOutcome(FEED.feed_id, failure, cursor)

    plan = plan_batch([poll(FEED, outcome)], {}, TOPICS, "a")
    (report,) = plan.reports
    assert report.result is PollResult.FAILED and report.failure_is_news
    assert report.memory.state.consecutive_failures == 1 and report.memory.cursor == cursor
    assert report.status.last_error and "500" in report.status.last_error
    assert report.status.last_error_kind == "http_status" and not records_of(plan, "t.raw")

    again = plan_batch([poll(FEED, outcome, before=report.memory)], {}, TOPICS, "a")
    assert not again.reports[0].failure_is_news  # the same failure again: no new log line
    assert again.reports[0].memory.state.consecutive_failures == 2
    assert again.reports[0].memory.state.next_poll_at > report.memory.state.next_poll_at

    recovered = plan_batch([poll(FEED, fetched(FEED), before=again.reports[0].memory)], {}, TOPICS, "a")
    assert recovered.reports[0].recovered and recovered.reports[0].memory.state.consecutive_failures == 0


def test_a_transient_failure_is_retried_before_the_interval_and_retry_after_is_honoured() -> None:
    slow_feed = FeedConfig(url="https://wire.example.net/hourly.xml", interval=3600)
    refused = FetchFailed(ErrorKind.CONNECT_ERROR, "connection refused", slow_feed.url)
    busy = FetchFailed(ErrorKind.HTTP_STATUS, "HTTP 429 Too Many Requests", slow_feed.url, 429, retry_after=600)
    missing = FetchFailed(ErrorKind.HTTP_STATUS, "HTTP 404 Not Found", slow_feed.url, 404)
    finished = NOW + timedelta(seconds=1)
    waits = {}
    for failure in (refused, busy, missing):
        plan = plan_batch([poll(slow_feed, PollOutcome(slow_feed.feed_id, failure, FetchCursor()))], {}, TOPICS, "a")
        waits[failure.status_code] = (plan.reports[0].status.next_poll_at - finished).total_seconds()
    assert 16 <= waits[None] <= 24  # about 20 s, not an hour
    assert waits[429] >= 600  # the server's Retry-After
    assert waits[404] >= 3600 * 0.8  # nothing to gain from a fast retry: the interval, backing off


def test_not_modified_writes_the_status_only() -> None:
    cursor = FetchCursor(etag='"e1"')
    outcome = PollOutcome(FEED.feed_id, NotModified(cursor, FEED.url, NOW), cursor)
    plan = plan_batch([poll(FEED, outcome)], {}, TOPICS, "a")
    assert [r.topic for r in plan.records] == ["t.status"]
    assert plan.reports[0].result is PollResult.NOT_MODIFIED


def test_feed_problems_are_reported_once_per_feed() -> None:
    problem = FeedProblem("bozo:SAXParseException", "feed is not well-formed")
    first = plan_batch([poll(FEED, fetched(FEED, article(1), problems=(problem,)))], {}, TOPICS, "a")
    assert first.reports[0].problems_to_log == (problem,)
    assert first.reports[0].status.problem_codes == ("bozo:SAXParseException",)
    later = plan_batch(
        [poll(FEED, fetched(FEED, article(1), problems=(problem,)), before=first.reports[0].memory)], {}, TOPICS, "a"
    )
    assert later.reports[0].problems_to_log == ()


def test_removed_feeds_get_a_status_tombstone() -> None:
    plan = plan_batch([], {}, TOPICS, "a", removed=[(5, "feed-x")])
    (record,) = plan.records
    assert (record.topic, record.partition, record.key, record.value) == ("t.status", 5, b"feed-x", None)
    assert plan.statuses == {5: {"feed-x": None}} and plan.partitions == {5}


def test_status_round_trip_and_memory() -> None:
    status = FeedStatus(
        feed_id="f1",
        url=FEED.url,
        owner="a",
        updated_at=NOW,
        next_poll_at=NOW + timedelta(seconds=60),
        consecutive_failures=2,
        last_error="timeout",
        etag='"x"',
        problem_codes=("date:future",),
    )
    decoded = decode_status(encode_status(status))
    assert decoded == status
    remembered = FeedMemory.from_status(status)
    assert remembered.cursor.etag == '"x"' and remembered.state.consecutive_failures == 2
    assert remembered.problem_codes == frozenset({"date:future"})
    assert decode_status(None) is None and decode_status(b"not json") is None
    assert decode_status(encode_status(status).replace(b'"v":1', b'"v":99')) is None
