"""A replica stuck in a group rebalance is noticed and rejoins (kafka-python was seen never rejoining
after the broker restarted mid-rebalance)."""

from __future__ import annotations

import pytest

from collectors.membership import REBALANCE_DEADLINE_S, RebalanceStuck, RebalanceWatch


def test_the_deadline_outlives_the_groups_own_rebalance_timeout() -> None:
    assert REBALANCE_DEADLINE_S > 60  # max_poll_interval_ms, which the broker uses as the rebalance timeout


def test_a_member_that_never_gets_its_first_assignment_is_stuck() -> None:
    watch = RebalanceWatch(deadline=90)
    watch.joining(now=1000.0)
    watch.check(now=1090.0)
    with pytest.raises(RebalanceStuck, match=r"no partition assignment 91 s after the group rebalance began"):
        watch.check(now=1091.0)


def test_an_assignment_ends_the_rebalance_even_when_it_is_empty() -> None:
    watch = RebalanceWatch(deadline=90)
    watch.joining(now=0.0)
    watch.assigned()  # more replicas than partitions: an empty assignment is still an assignment
    watch.check(now=10_000.0)


def test_the_clock_starts_at_the_first_revoke_of_a_rebalance() -> None:
    watch = RebalanceWatch(deadline=90)
    watch.joining(now=0.0)
    watch.assigned()
    watch.revoked(now=500.0)
    watch.revoked(now=550.0)  # a second revoke in the same rebalance does not reset it
    with pytest.raises(RebalanceStuck):
        watch.check(now=591.0)
    watch.assigned()
    watch.check(now=10_000.0)


def test_a_new_consumer_starts_a_fresh_clock() -> None:
    watch = RebalanceWatch(deadline=90)
    watch.revoked(now=0.0)
    watch.joining(now=200.0)  # the stuck consumer was replaced
    watch.check(now=250.0)
