"""Group membership against the real broker: a replica joins once (no second rebalance right after its
first assignment), and the coordinator's view that tells a dropped join from a slow rebalance names
this member as the client knows it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from collectors.layout import CollectorTopics, prepare_topics
from collectors.membership import GroupMembership, RebalanceStuck, RebalanceWatch, RegistryRecord
from newswatch.settings import Settings
from newswatch.stack.local import LocalStack
from tests.integration.test_collectors_support import delete_topics, prefixed_settings
from tests.integration.waiting import wait_until


class RecordingListener:
    def __init__(self) -> None:
        self.events: list[tuple[str, list[int]]] = []
        self.lock = threading.Lock()

    def partitions_assigned(self, partitions: list[int]) -> None:
        with self.lock:
            self.events.append(("assigned", partitions))

    def partitions_revoked(self, partitions: list[int]) -> None:
        with self.lock:
            self.events.append(("revoked", partitions))

    def registry_records(self, records: list[RegistryRecord]) -> None:
        pass

    def membership_failed(self, error: Exception) -> None:
        with self.lock:
            self.events.append(("failed", []))


@pytest.fixture
def member_settings(stack: LocalStack, unique_name: str) -> Iterator[Settings]:
    settings = prefixed_settings(f"{unique_name}.")
    prepare_topics(settings, CollectorTopics.from_settings(settings))
    yield settings
    delete_topics(settings)


def test_a_replica_joins_once_and_the_coordinator_counts_it_in(member_settings: Settings) -> None:
    listener = RecordingListener()
    membership = GroupMembership(
        member_settings,
        CollectorTopics.from_settings(member_settings),
        listener,
        client_id="test-membership",
        log=structlog.get_logger("test"),
    )
    membership.start()
    try:
        wait_until(lambda: ("assigned", list(range(12))) in listener.events, 30, lambda: f"{listener.events}")
        time.sleep(3.0)  # past the metadata refresh that used to start a second rebalance
        assert [kind for kind, _ in listener.events] == ["assigned"], listener.events

        view = membership._group_view()
        consumer: Any = membership._consumer
        member_id = consumer.group_metadata().member_id
        assert view is not None and view.state == "Stable" and member_id in view.member_ids, (view, member_id)
        # Had this member still been waiting for its assignment, that view would mean a dropped join (asked
        # of a watch of its own: the membership thread checks its live one at every poll).
        waiting = RebalanceWatch()
        waiting.revoked(now=0.0)
        waiting.check_group(now=10.0, view=view, member_id=member_id)
        with pytest.raises(RebalanceStuck):
            waiting.check_group(now=15.0, view=view, member_id=member_id)
    finally:
        membership.stop()
    assert not membership.alive
