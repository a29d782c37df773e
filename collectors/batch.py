"""Completed polls -> the records of one Kafka transaction, and what to remember once it commits. Pure.

For each completed poll: the articles that are new or changed (``dedupe``) go to ``news.raw`` with
their version, their seen records to ``news.seen`` (in the feed's partition), and the feed's new poll
state to ``news.feed-status``. Nothing here is applied to the service's memory: the caller applies
``BatchPlan`` only after the transaction committed, so an aborted transaction leaves no trace and the
same polls are judged again later.
"""

from __future__ import annotations

import random
from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from collectors.dedupe import Decision, SeenRecord, dedupe_batch, encode_seen
from collectors.errors import FetchFailed
from collectors.feed_status import FeedStatus, build_status, encode_status
from collectors.feeds import FeedConfig
from collectors.fetch import FetchCursor, NotModified, Unchanged
from collectors.layout import CollectorTopics
from collectors.parse import FeedProblem, problems_to_log
from collectors.poll import PollOutcome
from collectors.schedule import FeedPollState, after_failure, after_success, initial_state
from newswatch.schema import encode


@dataclass(frozen=True, slots=True)
class FeedMemory:
    """What a replica remembers about a feed between two polls (and writes as its status)."""

    state: FeedPollState
    cursor: FetchCursor = FetchCursor()
    problem_codes: frozenset[str] = frozenset()
    last_error_kind: str | None = None

    @classmethod
    def from_status(cls, status: FeedStatus) -> FeedMemory:
        return cls(status.poll_state, status.cursor, frozenset(status.problem_codes), status.last_error_kind)

    @classmethod
    def fresh(cls, interval: float, now: datetime, rng: random.Random | None = None) -> FeedMemory:
        return cls(initial_state(interval, now, rng=(rng or random).random))


class PollResult(StrEnum):
    FETCHED = "fetched"  # a new body, parsed
    NOT_MODIFIED = "not_modified"  # HTTP 304
    UNCHANGED = "unchanged"  # 200 with the same bytes as last time
    FAILED = "failed"


@dataclass(frozen=True)
class CompletedPoll:
    feed: FeedConfig
    partition: int
    memory: FeedMemory  # before the poll
    outcome: PollOutcome
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes
    value: bytes | None  # None: a tombstone
    partition: int | None = None  # None: Kafka's default partitioner on the key
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class FeedReport:
    """What one poll did, for the memory, the metrics and the log (applied after the commit)."""

    feed: FeedConfig
    partition: int
    memory: FeedMemory  # after the poll
    status: FeedStatus
    result: PollResult
    decisions: Mapping[Decision, int] = field(default_factory=dict)
    problems_to_log: tuple[FeedProblem, ...] = ()
    failure: FetchFailed | None = None
    failure_is_news: bool = False  # first failure, or another kind than last time: log it
    recovered: bool = False  # the first success after failures: log it


@dataclass(frozen=True)
class BatchPlan:
    records: tuple[OutRecord, ...]
    seen_updates: Mapping[int, Mapping[str, SeenRecord]]
    statuses: Mapping[int, Mapping[str, FeedStatus | None]]  # None: the feed was removed
    reports: tuple[FeedReport, ...]

    @property
    def partitions(self) -> frozenset[int]:
        return frozenset(self.statuses) | frozenset(self.seen_updates)


def poll_result(outcome: PollOutcome) -> PollResult:
    """How a poll went, as one word (a metric label and the status's last_result)."""
    if outcome.failure is not None:
        return PollResult.FAILED
    if isinstance(outcome.fetch, NotModified):
        return PollResult.NOT_MODIFIED
    if isinstance(outcome.fetch, Unchanged):
        return PollResult.UNCHANGED
    return PollResult.FETCHED


def _next_memory(poll: CompletedPoll, result: PollResult) -> FeedMemory:
    before, outcome, interval = poll.memory, poll.outcome, poll.feed.interval
    failure = outcome.failure
    if failure is not None:
        state = after_failure(
            before.state,
            interval,
            poll.finished_at,
            error=failure.describe(),
            retry_after=failure.retry_after,
            failure_class=failure.failure_class,
        )
        return FeedMemory(state, outcome.cursor, before.problem_codes, str(failure.kind))
    state = after_success(before.state, interval, poll.finished_at)
    codes = outcome.parsed.problem_codes if outcome.parsed is not None else before.problem_codes
    return FeedMemory(state, outcome.cursor, codes, None)


def plan_batch(
    polls: Sequence[CompletedPoll],
    seen: Mapping[int, Mapping[str, SeenRecord]],
    topics: CollectorTopics,
    owner: str,
    *,
    removed: Iterable[tuple[int, str]] = (),
) -> BatchPlan:
    """The records and follow-up of one transaction. ``seen`` is the committed seen map per partition;
    ``removed`` lists (partition, feed_id) of feeds gone from the registry, whose status is tombstoned."""
    records: list[OutRecord] = []
    seen_updates: dict[int, dict[str, SeenRecord]] = {}
    statuses: dict[int, dict[str, FeedStatus | None]] = {}
    reports: list[FeedReport] = []
    for poll in polls:
        feed, partition, outcome = poll.feed, poll.partition, poll.outcome
        result = poll_result(outcome)
        decisions: dict[Decision, int] = {}
        if result is PollResult.FETCHED:
            pending = seen_updates.setdefault(partition, {})
            decided, updates = dedupe_batch(outcome.articles, ChainMap(pending, seen.get(partition, {})))
            for item in decided:
                decisions[item.decision] = decisions.get(item.decision, 0) + 1
                if item.article is not None:
                    records.append(
                        OutRecord(
                            topics.raw,
                            item.article.id.encode(),
                            encode(item.article),
                            headers=(("feed_id", feed.feed_id.encode()),),
                        )
                    )
            for article_id, record in updates.items():
                pending[article_id] = record
                records.append(OutRecord(topics.seen, article_id.encode(), encode_seen(record), partition))
        memory = _next_memory(poll, result)
        emitted = decisions.get(Decision.NEW, 0) + decisions.get(Decision.CHANGED, 0)
        status = build_status(
            feed_id=feed.feed_id,
            url=feed.url,
            name=feed.name,
            owner=owner,
            now=poll.finished_at,
            state=memory.state,
            cursor=memory.cursor,
            problem_codes=memory.problem_codes,
            last_result=str(result),
            last_error_kind=memory.last_error_kind,
            articles=emitted,
        )
        statuses.setdefault(partition, {})[feed.feed_id] = status
        records.append(OutRecord(topics.status, feed.feed_id.encode(), encode_status(status), partition))
        failure = outcome.failure
        reports.append(
            FeedReport(
                feed=feed,
                partition=partition,
                memory=memory,
                status=status,
                result=result,
                decisions=decisions,
                problems_to_log=problems_to_log(poll.memory.problem_codes, outcome.parsed)
                if outcome.parsed is not None and failure is None
                else (),
                failure=failure,
                failure_is_news=failure is not None
                and (not poll.memory.state.failing or poll.memory.last_error_kind != str(failure.kind)),
                recovered=failure is None and poll.memory.state.failing,
            )
        )
    for partition, feed_id in removed:
        statuses.setdefault(partition, {})[feed_id] = None
        records.append(OutRecord(topics.status, feed_id.encode(), None, partition))
    return BatchPlan(tuple(records), seen_updates, statuses, tuple(reports))
