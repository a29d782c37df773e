"""`newswatch feeds status`: each registered feed's last success, last error and next poll.

Any process can print it: the registry and the feed-status topic are read from Kafka (read_committed,
up to the last stable offset), not asked of the replicas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from collectors.feed_status import FeedStatus, decode_status
from collectors.feeds import FeedConfig
from collectors.kafka_io import read_latest
from collectors.layout import CollectorTopics, prepare_topics
from collectors.registry import RegistryRecordError, decode_feed
from newswatch.settings import Settings


@dataclass(frozen=True)
class FeedStatusRow:
    feed_id: str
    name: str
    url: str
    interval: int
    owner: str | None
    last_result: str | None
    last_success_at: datetime | None
    last_error: str | None
    last_failure_at: datetime | None
    consecutive_failures: int
    next_poll_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in vars(self).items()}


def status_rows(feeds: Mapping[str, FeedConfig], statuses: Mapping[str, FeedStatus]) -> list[FeedStatusRow]:
    """One row per registered feed, failing feeds first, then by name. Pure."""
    rows = []
    for feed_id, feed in feeds.items():
        status = statuses.get(feed_id)
        rows.append(
            FeedStatusRow(
                feed_id=feed_id,
                name=feed.name or (status.name if status and status.name else feed.host or feed.url),
                url=feed.url,
                interval=feed.interval,
                owner=status.owner if status else None,
                last_result=status.last_result if status else None,
                last_success_at=status.last_success_at if status else None,
                last_error=status.last_error if status else None,
                last_failure_at=status.last_failure_at if status else None,
                consecutive_failures=status.consecutive_failures if status else 0,
                next_poll_at=status.next_poll_at if status else None,
            )
        )
    return sorted(rows, key=lambda row: (row.consecutive_failures == 0, row.name.lower(), row.feed_id))


def relative(when: datetime | None, now: datetime) -> str:
    """'12s ago', 'in 3m', 'never'."""
    if when is None:
        return "never"
    seconds = (when - now).total_seconds()
    magnitude = abs(seconds)
    if magnitude < 1:
        return "now"
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if magnitude >= size:
            amount = f"{int(magnitude // size)}{unit}"
            break
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def read_feed_status(settings: Settings) -> tuple[list[FeedStatusRow], list[str]]:
    """The rows, and the problems met reading them (unreadable records)."""
    topics = CollectorTopics.from_settings(settings)
    prepare_topics(settings, topics)
    timeout = settings.request_timeout * 6
    problems: list[str] = []
    feeds: dict[str, FeedConfig] = {}
    for key, record in read_latest(settings, topics.feeds, timeout=timeout).items():
        try:
            feeds[key] = decode_feed(key, record.value or b"")
        except RegistryRecordError as exc:
            problems.append(str(exc))
    statuses: dict[str, FeedStatus] = {}
    for key, record in read_latest(settings, topics.status, timeout=timeout).items():
        status = decode_status(record.value)
        if status is None:
            problems.append(f"status record {key!r} is not readable by this build")
        else:
            statuses[key] = status
    return status_rows(feeds, statuses), problems
