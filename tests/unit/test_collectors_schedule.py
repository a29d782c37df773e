"""Per-feed scheduling and backoff (pure), and the per-host concurrency limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from collectors.errors import ErrorKind, FetchFailed
from collectors.schedule import (
    BackoffPolicy,
    FailureClass,
    FeedPollState,
    HostLimiter,
    after_failure,
    after_success,
    backoff_delay,
    due_feeds,
    host_key,
    initial_state,
    lag_seconds,
    seconds_until_next_poll,
)

NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
LOW, MID, HIGH = (lambda: 0.0), (lambda: 0.5), (lambda: 0.999999)
NO_JITTER = BackoffPolicy(jitter=0.0)


def test_first_polls_are_spread_but_soon() -> None:
    assert initial_state(300, NOW, rng=LOW).next_poll_at == NOW
    assert initial_state(300, NOW, rng=MID).next_poll_at == NOW + timedelta(seconds=30)  # within the 60 s spread
    assert initial_state(10, NOW, rng=MID).next_poll_at == NOW + timedelta(seconds=5)  # never later than interval


def test_success_schedules_the_next_interval_and_clears_failures() -> None:
    state = FeedPollState(next_poll_at=NOW, consecutive_failures=4, last_error="timeout")
    after = after_success(state, 300, NOW)
    assert after.next_poll_at == NOW + timedelta(seconds=300)
    assert after.consecutive_failures == 0 and after.last_success_at == NOW and not after.failing
    assert after.last_error == "timeout"  # kept for `feeds status` ("last error")


def test_backoff_is_exponential_and_capped() -> None:
    delays = [backoff_delay(n, 60, rng=MID, policy=NO_JITTER) for n in range(1, 12)]
    assert delays[:5] == [60, 120, 240, 480, 960]
    assert max(delays) == NO_JITTER.max_delay and delays[-1] == NO_JITTER.max_delay
    assert backoff_delay(10_000, 60, policy=NO_JITTER) == NO_JITTER.max_delay  # no overflow


def test_jitter_stays_within_its_band() -> None:
    policy = BackoffPolicy(jitter=0.2)
    assert backoff_delay(3, 60, rng=LOW, policy=policy) == pytest.approx(240 * 0.8)
    assert backoff_delay(3, 60, rng=HIGH, policy=policy) == pytest.approx(240 * 1.2, rel=1e-5)


def test_cap_is_never_below_the_interval() -> None:
    policy = BackoffPolicy(max_delay=100, jitter=0.0)
    assert backoff_delay(5, 3600, policy=policy) == 3600


def test_retry_after_and_permanent_failures() -> None:
    assert backoff_delay(1, 60, rng=LOW, retry_after=900) == 900  # jitter does not undercut the server
    assert backoff_delay(1, 60, rng=MID, policy=NO_JITTER, retry_after=10) == 60  # nor shortens our own wait
    assert backoff_delay(1, 60, policy=NO_JITTER, retry_after=10**9) == NO_JITTER.max_delay
    assert backoff_delay(1, 60, policy=NO_JITTER, failure_class=FailureClass.PERMANENT) == NO_JITTER.max_delay


def test_transient_failures_are_retried_soon_then_back_off_to_the_cap() -> None:
    transient = FailureClass.TRANSIENT
    delays = [backoff_delay(n, 300, policy=NO_JITTER, failure_class=transient) for n in range(1, 16)]
    assert delays[:6] == [20, 40, 80, 160, 320, 640]  # the first retry well before the 300 s interval
    assert delays[-1] == NO_JITTER.max_delay  # a feed that keeps failing ends at the cap, like any other
    assert backoff_delay(1, 300, rng=LOW, failure_class=transient) == pytest.approx(16)  # jittered too
    assert backoff_delay(1, 300, rng=HIGH, failure_class=transient) == pytest.approx(24, rel=1e-5)
    # Never later than the feed's own interval, and the persistent kind keeps the interval-based backoff.
    assert backoff_delay(1, 5, policy=NO_JITTER, failure_class=transient) == 5
    assert backoff_delay(2, 300, policy=NO_JITTER, failure_class=FailureClass.PERSISTENT) == 600


def test_retry_after_is_honoured_by_a_fast_retry() -> None:
    transient = FailureClass.TRANSIENT
    assert backoff_delay(1, 300, rng=LOW, retry_after=120, failure_class=transient) == 120  # 429/503 asked for 2 min
    assert backoff_delay(1, 300, policy=NO_JITTER, retry_after=5, failure_class=transient) == 20  # not sooner
    assert backoff_delay(1, 300, policy=NO_JITTER, retry_after=10**9, failure_class=transient) == NO_JITTER.max_delay


def test_a_feed_failing_for_a_while_is_retried_soon_reported_throughout_and_recovers() -> None:
    # The server is down for the first 3 minutes of a feed polled every 5 minutes.
    interval, now = 300, NOW
    state, polls = FeedPollState(next_poll_at=NOW), []
    while len(polls) < 7:
        now = state.next_poll_at  # the injected clock: jump to the feed's next poll
        polls.append((now - NOW).total_seconds())
        if now < NOW + timedelta(minutes=3):
            state = after_failure(
                state,
                interval,
                now,
                error="connect_error",
                rng=MID,
                policy=NO_JITTER,
                failure_class=FailureClass.TRANSIENT,
            )
            assert state.failing and state.last_error == "connect_error"  # `feeds status` shows it all along
        else:
            state = after_success(state, interval, now)
    assert polls == [0, 20, 60, 140, 300, 600, 900]  # back on its interval once it answers
    assert not state.failing and state.last_success_at == NOW + timedelta(seconds=900)


def test_failures_are_classified_for_the_backoff() -> None:
    def http(status: int) -> FailureClass:
        return FetchFailed(ErrorKind.HTTP_STATUS, f"HTTP {status}", "https://x.example/", status).failure_class

    assert {http(status) for status in (500, 502, 503, 504, 429, 408)} == {FailureClass.TRANSIENT}
    assert {http(status) for status in (400, 401, 403, 404)} == {FailureClass.PERSISTENT}
    assert http(410) is FailureClass.PERMANENT
    transient = (ErrorKind.TIMEOUT, ErrorKind.CONNECT_ERROR, ErrorKind.NETWORK_ERROR, ErrorKind.DNS_ERROR)
    persistent = (ErrorKind.NOT_A_FEED, ErrorKind.PARSE_ERROR, ErrorKind.TOO_LARGE, ErrorKind.REDIRECT_LOOP)
    permanent = (ErrorKind.REFUSED_PRIVATE_ADDRESS, ErrorKind.REFUSED_SCHEME, ErrorKind.INVALID_URL)
    for kinds, expected in ((transient, FailureClass.TRANSIENT), (persistent, FailureClass.PERSISTENT)):
        assert {FetchFailed(kind, "x").failure_class for kind in kinds} == {expected}
    assert {FetchFailed(kind, "x").failure_class for kind in permanent} == {FailureClass.PERMANENT}


def test_a_failing_feed_backs_off_without_touching_the_others() -> None:
    states = {"ok": FeedPollState(next_poll_at=NOW), "bad": FeedPollState(next_poll_at=NOW)}
    for minute in range(5):
        now = NOW + timedelta(minutes=minute)
        for feed_id in due_feeds(states, now):
            if feed_id == "bad":
                states["bad"] = after_failure(states["bad"], 60, now, error="timeout", rng=MID, policy=NO_JITTER)
            else:
                states["ok"] = after_success(states["ok"], 60, now)
    assert states["ok"].last_success_at == NOW + timedelta(minutes=4)  # polled every minute throughout
    bad = states["bad"]
    assert bad.consecutive_failures == 3 and bad.last_error == "timeout"  # polled at 0, 1 and 3 minutes
    assert bad.next_poll_at == NOW + timedelta(minutes=3, seconds=240)


def test_due_feeds_most_overdue_first_and_sleep_time() -> None:
    states = {
        "late": FeedPollState(next_poll_at=NOW - timedelta(seconds=90)),
        "now": FeedPollState(next_poll_at=NOW),
        "later": FeedPollState(next_poll_at=NOW + timedelta(seconds=30)),
    }
    assert due_feeds(states, NOW) == ["late", "now"]
    assert seconds_until_next_poll({"later": states["later"]}, NOW) == 30
    assert seconds_until_next_poll(states, NOW) == 0 and seconds_until_next_poll({}, NOW) is None
    assert lag_seconds(states["late"], NOW) == 90 and lag_seconds(states["later"], NOW) == 0


def test_host_key() -> None:
    assert host_key("https://News.Example:8443/rss") == "news.example"
    assert host_key("file:///srv/feed.xml") == "file"


async def test_host_limiter_bounds_concurrency_per_host_only() -> None:
    limiter = HostLimiter(per_host=2)
    running: dict[str, int] = {"a.example": 0, "b.example": 0}
    peak: dict[str, int] = {"a.example": 0, "b.example": 0}

    async def fetch(url: str) -> None:
        host = host_key(url)
        async with limiter.slot(url):
            running[host] += 1
            peak[host] = max(peak[host], running[host])
            await asyncio.sleep(0.01)
            running[host] -= 1

    urls = [f"https://a.example/{i}" for i in range(6)] + [f"https://b.example/{i}" for i in range(2)]
    await asyncio.gather(*(fetch(url) for url in urls))
    assert peak == {"a.example": 2, "b.example": 2}
    assert limiter.semaphore("https://A.example/x") is limiter.semaphore("https://a.example/y")
    with pytest.raises(ValueError):
        HostLimiter(per_host=0)
