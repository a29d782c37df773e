"""When to poll each feed next: pure functions over a small immutable state per feed.

A healthy feed is polled every ``interval`` seconds. A failing feed is backed off exponentially
(doubling with every consecutive failure, +/- 20 % jitter, capped at ``max_delay``), honouring a
server's Retry-After, from a first delay that depends on the kind of failure (``FailureClass``):

- transient (connect errors, timeouts, 5xx, 429): ``first_retry`` seconds (20; never more than the
  interval), since the next try minutes later would lose what the feed published meanwhile;
- persistent (404, not a feed, malformed...): one interval, since retrying sooner cannot help
  until someone fixes the feed;
- permanent (410 Gone, refused address): straight to the cap.

The state of one feed never depends on another's, so a feed that keeps failing only ever delays
itself. The delay is a function of ``consecutive_failures``, which the feed's status carries, so a
new owner of the feed goes on with the same backoff.

``HostLimiter`` is the one piece with runtime state: a semaphore per host, so many feeds on one
site are not fetched all at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

Random = Callable[[], float]  # returns a float in [0, 1); random.random by default


class FailureClass(StrEnum):
    """How soon a failed poll may be worth repeating: it sets the first delay of the backoff."""

    TRANSIENT = "transient"  # likely gone in seconds (connect error, timeout, 5xx, 429): retried soon
    PERSISTENT = "persistent"  # needs the feed fixed (404, not a feed, malformed): retried at the interval
    PERMANENT = "permanent"  # will not change (410 Gone, refused address): retried at the cap only


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    max_delay: float = 6 * 3600.0  # seconds; a dead feed is still tried four times a day
    first_retry: float = 20.0  # seconds before the first retry of a transient failure (at most the interval)
    multiplier: float = 2.0
    jitter: float = 0.2  # +/- this fraction, so feeds that failed together do not retry together
    startup_spread: float = 60.0  # first polls are spread over up to this many seconds


@dataclass(frozen=True, slots=True)
class FeedPollState:
    next_poll_at: datetime
    consecutive_failures: int = 0
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


def _jittered(delay: float, policy: BackoffPolicy, rng: Random) -> float:
    return delay * (1.0 - policy.jitter + 2.0 * policy.jitter * rng())


def initial_state(
    interval: float, now: datetime, *, rng: Random = random.random, policy: BackoffPolicy | None = None
) -> FeedPollState:
    """A feed seen for the first time: poll soon, but not every feed in the same second."""
    policy = policy or BackoffPolicy()
    spread = min(float(interval), policy.startup_spread)
    return FeedPollState(next_poll_at=now + timedelta(seconds=spread * rng()))


def after_success(state: FeedPollState, interval: float, now: datetime) -> FeedPollState:
    """A poll that worked (new content, 304 or unchanged body alike)."""
    return replace(
        state,
        next_poll_at=now + timedelta(seconds=interval),
        consecutive_failures=0,
        last_success_at=now,
    )


def backoff_delay(
    failures: int,
    interval: float,
    *,
    rng: Random = random.random,
    policy: BackoffPolicy | None = None,
    retry_after: float | None = None,
    failure_class: FailureClass = FailureClass.PERSISTENT,
) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (1 = the first)."""
    policy = policy or BackoffPolicy()
    cap = max(policy.max_delay, float(interval))
    if failure_class is FailureClass.PERMANENT:
        base = cap
    else:
        first = float(interval)
        if failure_class is FailureClass.TRANSIENT:
            first = min(first, policy.first_retry)
        exponent = min(max(failures, 1) - 1, 64)  # bounded: 2.0**1000 would overflow
        base = min(cap, first * policy.multiplier**exponent)
    if retry_after is not None:
        base = min(cap, max(base, retry_after))
    delay = _jittered(base, policy, rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))  # jitter must not undercut the server's request
    return delay


def after_failure(
    state: FeedPollState,
    interval: float,
    now: datetime,
    *,
    error: str,
    rng: Random = random.random,
    policy: BackoffPolicy | None = None,
    retry_after: float | None = None,
    failure_class: FailureClass = FailureClass.PERSISTENT,
) -> FeedPollState:
    failures = state.consecutive_failures + 1
    delay = backoff_delay(
        failures, interval, rng=rng, policy=policy, retry_after=retry_after, failure_class=failure_class
    )
    return replace(
        state,
        next_poll_at=now + timedelta(seconds=delay),
        consecutive_failures=failures,
        last_failure_at=now,
        last_error=error,
    )


def due_feeds(states: Mapping[str, FeedPollState], now: datetime) -> list[str]:
    """Ids of the feeds due at ``now``, most overdue first."""
    due = [(state.next_poll_at, feed_id) for feed_id, state in states.items() if state.next_poll_at <= now]
    return [feed_id for _, feed_id in sorted(due)]


def seconds_until_next_poll(states: Mapping[str, FeedPollState], now: datetime) -> float | None:
    """How long the polling loop may sleep; None when there is nothing to poll."""
    if not states:
        return None
    earliest = min(state.next_poll_at for state in states.values())
    return max(0.0, (earliest - now).total_seconds())


def lag_seconds(state: FeedPollState, started_at: datetime) -> float:
    """How late a poll started compared to its schedule (the per-feed lag metric)."""
    return max(0.0, (started_at - state.next_poll_at).total_seconds())


def host_key(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return "file"
    return (parts.hostname or "").lower()


class HostLimiter:
    """At most ``per_host`` concurrent fetches per host name."""

    def __init__(self, per_host: int = 2) -> None:
        if per_host < 1:
            raise ValueError("per_host must be at least 1")
        self._per_host = per_host
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    def semaphore(self, url: str) -> asyncio.Semaphore:
        key = host_key(url)
        semaphore = self._semaphores.get(key)
        if semaphore is None:
            semaphore = self._semaphores[key] = asyncio.Semaphore(self._per_host)
        return semaphore

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        async with self.semaphore(url):
            yield
