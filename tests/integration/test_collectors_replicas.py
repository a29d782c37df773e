"""Two collector replicas (real subprocesses) against the real broker: Kafka's consumer group splits
the feeds between them, no feed is polled twice within its interval, and when one replica is killed
(SIGKILL: no goodbye) the other takes all the feeds over within 30 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from newswatch.stack.local import LocalStack
from tests.integration.test_collectors_support import (
    Feed,
    FeedServer,
    Item,
    Replica,
    collector_env,
    delete_topics,
    kill_leftover_replicas,
    prefixed_settings,
    write_feeds_file,
)
from tests.integration.waiting import wait_until

FEEDS = 20
INTERVAL = 2  # seconds
TAKEOVER_LIMIT = 30.0  # seconds, from the issue


@pytest.fixture
def prefix(stack: LocalStack, unique_name: str) -> Iterator[str]:
    name = f"{unique_name}."
    yield name
    kill_leftover_replicas()
    delete_topics(prefixed_settings(name))


def _owned(replica: Replica) -> tuple[int, list[int]] | None:
    health = replica.health()
    if not health or health.get("loading_partitions"):
        return None
    return health["owned_feeds"], health["partitions"]


def test_two_replicas_split_feeds_and_take_over_after_a_kill(prefix: str, tmp_path: Path) -> None:
    with FeedServer() as server:
        paths = [f"/r{n}.xml" for n in range(FEEDS)]
        for n, path in enumerate(paths):
            server.feeds[path] = Feed(items=[Item(f"r{n}-{k}", f"Report {n}.{k}") for k in range(3)])
        feeds_file = write_feeds_file(tmp_path / "feeds.yaml", server, paths, interval=INTERVAL)
        env = collector_env(prefix)
        first = Replica("one", env, tmp_path, feeds_file)
        second: Replica | None = None
        try:
            wait_until(lambda: (_owned(first) or (0,))[0] == FEEDS, 60, lambda: f"one owning all feeds\n{first.tail()}")
            second = Replica("two", env, tmp_path)

            def split() -> bool:
                a, b = _owned(first), _owned(second)  # type: ignore[arg-type]
                return bool(a and b and a[0] > 0 and b[0] > 0 and a[0] + b[0] == FEEDS)

            wait_until(split, 60, lambda: f"the feeds split between two replicas\n{second.tail()}")
            a, b = _owned(first), _owned(second)
            assert a and b and not set(a[1]) & set(b[1]), (a, b)  # disjoint partitions, hence disjoint feeds
            split_at = time.monotonic()
            time.sleep(4 * INTERVAL)

            # No feed polled twice within its interval, over the whole run so far (the hand-over included).
            for path in paths:
                times = [request.at for request in server.requests_for(path)]
                gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
                assert len(times) >= 4 and min(gaps) >= INTERVAL - 0.05, (path, gaps)
            # Once split, each feed is polled by one replica only.
            pollers = {path: {r.user_agent for r in server.requests_for(path, split_at)} for path in paths}
            assert all(len(agents) == 1 for agents in pollers.values()), pollers
            assert {agent for agents in pollers.values() for agent in agents} == {
                "newswatch-test/one",
                "newswatch-test/two",
            }

            first.kill()
            killed_at = time.monotonic()
            wait_until(lambda: (_owned(second) or (0,))[0] == FEEDS, 45, lambda: f"the takeover\n{second.tail()}")
            owned_after = time.monotonic() - killed_at

            def all_polled_by_two() -> bool:
                return all(
                    any(r.user_agent == "newswatch-test/two" for r in server.requests_for(path, killed_at))
                    for path in paths
                )

            wait_until(all_polled_by_two, 45, "every feed polled by the survivor")
            polled_after = (
                max(
                    min(r.at for r in server.requests_for(path, killed_at) if r.user_agent == "newswatch-test/two")
                    for path in paths
                )
                - killed_at
            )
            print(
                f"\ntakeover after SIGKILL: the survivor owned all {FEEDS} feeds after {owned_after:.1f} s "
                f"and had polled every one of them after {polled_after:.1f} s"
            )
            assert polled_after <= TAKEOVER_LIMIT
        finally:
            if first.process.poll() is None:
                first.kill()
            if second is not None:
                assert second.stop() == 0, second.tail()
