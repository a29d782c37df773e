"""Per-feed scheduling and backoff (pure), and the per-host concurrency limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from collectors.schedule import (
    BackoffPolicy,
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
    assert backoff_delay(1, 60, policy=NO_JITTER, permanent=True) == NO_JITTER.max_delay


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
