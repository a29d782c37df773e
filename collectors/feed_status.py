"""Per-feed poll state and status: the record each replica writes to ``news.feed-status`` after a poll.

One record per feed (key = feed_id, compacted), written in the same transaction as the articles and
seen records of that poll, so it always matches them. It carries everything a new owner needs to go
on where the old one stopped — conditional-GET validators, backoff, next poll time, the problems
already logged — and what ``newswatch feeds status`` prints. Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from collectors.fetch import FetchCursor
from collectors.schedule import FeedPollState
from newswatch.schema import UtcDatetime

STATUS_RECORD_VERSION = 1


class FeedStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    v: int = STATUS_RECORD_VERSION
    feed_id: str
    url: str
    name: str | None = None
    owner: str  # instance id of the replica that wrote it
    updated_at: UtcDatetime
    next_poll_at: UtcDatetime
    consecutive_failures: int = 0
    last_poll_at: UtcDatetime | None = None
    last_result: str | None = None  # "new", "not_modified", "unchanged" or "failed"
    last_success_at: UtcDatetime | None = None
    last_failure_at: UtcDatetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    articles_last_poll: int = 0
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    problem_codes: tuple[str, ...] = ()  # feed problems already logged (logged again only when new)

    @property
    def poll_state(self) -> FeedPollState:
        return FeedPollState(
            next_poll_at=self.next_poll_at,
            consecutive_failures=self.consecutive_failures,
            last_success_at=self.last_success_at,
            last_failure_at=self.last_failure_at,
            last_error=self.last_error,
        )

    @property
    def cursor(self) -> FetchCursor:
        return FetchCursor(etag=self.etag, last_modified=self.last_modified, body_sha256=self.body_sha256)


def encode_status(status: FeedStatus) -> bytes:
    return status.model_dump_json(exclude_defaults=False).encode()


def decode_status(value: bytes | None) -> FeedStatus | None:
    """The status of a record; None for a tombstone or a record this build cannot read (state restarts)."""
    if not value:
        return None
    try:
        status = FeedStatus.model_validate_json(value)
    except ValidationError:
        return None
    return status if status.v == STATUS_RECORD_VERSION else None


def build_status(
    *,
    feed_id: str,
    url: str,
    name: str | None,
    owner: str,
    now: datetime,
    state: FeedPollState,
    cursor: FetchCursor,
    problem_codes: frozenset[str],
    last_result: str | None,
    last_error_kind: str | None,
    articles: int,
) -> FeedStatus:
    return FeedStatus(
        feed_id=feed_id,
        url=url,
        name=name,
        owner=owner,
        updated_at=now,
        next_poll_at=state.next_poll_at,
        consecutive_failures=state.consecutive_failures,
        last_poll_at=now if last_result is not None else None,
        last_result=last_result,
        last_success_at=state.last_success_at,
        last_failure_at=state.last_failure_at,
        last_error=state.last_error,
        last_error_kind=last_error_kind,
        articles_last_poll=articles,
        etag=cursor.etag,
        last_modified=cursor.last_modified,
        body_sha256=cursor.body_sha256,
        problem_codes=tuple(sorted(problem_codes)),
    )
