"""A replica stuck in a group rebalance is noticed and rejoins (kafka-python was seen never rejoining
after the broker restarted mid-rebalance)."""

from __future__ import annotations

import pytest

from collectors.membership import REBALANCE_DEADLINE_S, GroupView, RebalanceStuck, RebalanceWatch


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


# kafka-python 3 can drop a join's result (a rejoin started by a metadata change, whose poll timed out
# while the revocation waited for in-flight polls): the coordinator has the member stable in the group,
# the consumer never applies the assignment. Asking the coordinator tells that from a slow rebalance.


def test_the_coordinator_is_asked_only_after_a_long_wait_and_then_at_intervals() -> None:
    watch = RebalanceWatch(deadline=90, orphan_check=10)
    assert not watch.wants_group_view(now=5.0)  # nothing awaited yet
    watch.revoked(now=100.0)
    assert not watch.wants_group_view(now=109.0)
    assert watch.wants_group_view(now=110.0)
    assert not watch.wants_group_view(now=112.0)
    assert watch.wants_group_view(now=115.0)
    watch.assigned()
    assert not watch.wants_group_view(now=200.0)


def test_a_stable_group_that_counts_this_member_in_while_it_waits_means_a_dropped_join() -> None:
    watch = RebalanceWatch(deadline=90, orphan_check=10)
    watch.revoked(now=100.0)
    stable = GroupView("Stable", frozenset({"member-a", "member-b"}))
    watch.check_group(now=112.0, view=stable, member_id="member-a")  # once could be a slow join's last step
    with pytest.raises(RebalanceStuck, match=r"stable at its coordinator with this member in it.* 17 s after"):
        watch.check_group(now=117.0, view=stable, member_id="member-a")


def test_a_rebalance_seen_under_way_in_between_starts_the_confirmation_again() -> None:
    watch = RebalanceWatch(deadline=90, orphan_check=10)
    watch.revoked(now=100.0)
    stable = GroupView("Stable", frozenset({"member-a"}))
    watch.check_group(now=110.0, view=stable, member_id="member-a")
    watch.check_group(now=115.0, view=GroupView("PreparingRebalance", frozenset({"member-a"})), member_id="member-a")
    watch.check_group(now=120.0, view=stable, member_id="member-a")
    with pytest.raises(RebalanceStuck):
        watch.check_group(now=125.0, view=stable, member_id="member-a")


@pytest.mark.parametrize(
    ("view", "member_id"),
    [
        (GroupView("PreparingRebalance", frozenset({"member-a"})), "member-a"),  # still waiting for members
        (GroupView("CompletingRebalance", frozenset({"member-a"})), "member-a"),  # assignment being synced
        (GroupView("Stable", frozenset({"member-b"})), "member-a"),  # rebalanced without it: it rejoins itself
        (GroupView("Stable", frozenset({""})), ""),  # not joined yet: no member id to look for
    ],
)
def test_a_rebalance_still_under_way_or_one_without_this_member_is_left_to_run(view: GroupView, member_id: str) -> None:
    watch = RebalanceWatch(deadline=90, orphan_check=10)
    watch.revoked(now=100.0)
    for now in (150.0, 155.0, 160.0):
        watch.check_group(now=now, view=view, member_id=member_id)


def test_an_assigned_member_is_never_taken_for_stuck() -> None:
    watch = RebalanceWatch(deadline=90, orphan_check=10)
    watch.revoked(now=100.0)
    watch.check_group(now=110.0, view=GroupView("Stable", frozenset({"member-a"})), member_id="member-a")
    watch.assigned()
    for now in (150.0, 155.0):
        watch.check_group(now=now, view=GroupView("Stable", frozenset({"member-a"})), member_id="member-a")
