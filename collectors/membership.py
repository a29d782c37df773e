"""Feed ownership by Kafka's consumer-group protocol: the partitions of ``news.feeds`` a replica is
assigned are the feeds it polls. No locks or leader election of our own.

A dedicated thread runs a kafka-python ``KafkaConsumer`` in group ``newswatch-collectors`` subscribed
to the registry topic, polling every 200 ms so the group sees it alive (kafka-python's own IO thread
sends the heartbeats; ``max_poll_interval_ms`` guards against this thread stalling). Its records are
the feed registry; the rebalance callbacks are the ownership changes:

- assigned: seek the assigned registry partitions to the beginning (committed offsets are never used
  for this: a replica must learn *all* its feeds) and tell the service, which loads their state;
- revoked (or lost): tell the service and wait until it has stopped polling those feeds and committed
  what it had (bounded: the callback blocks the consumer's IO thread, heartbeats included).

Everything reaches the service through ``MembershipListener``; the listener must not raise.

Two kafka-python 3 behaviours shape this module (``RebalanceWatch`` guards against both):

- a member that joins before its metadata lists the subscribed topic assigns partitions from an empty
  snapshot, then rebalances again at the next metadata refresh: so the topic's partitions are fetched
  *after* subscribing and before the first poll;
- a rejoin started by a metadata change counts as done once the leader has computed the assignment;
  if ``poll()``'s timeout ends before the join's result is applied (a revocation that waits for
  in-flight polls takes longer than the 200 ms poll), no later poll applies it. The coordinator then
  has the member stable in the group while the consumer never calls ``on_partitions_assigned``: it is
  noticed by asking the coordinator, and the consumer replaced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaConsumer
from kafka import errors as kafka_errors
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from collectors.layout import CollectorTopics, group_id
from newswatch.clients import kafka_python_config
from newswatch.settings import Settings

POLL_TIMEOUT_MS = 200
MAX_POLL_INTERVAL_MS = 60_000
# A rebalance must end within the group's rebalance timeout (max_poll_interval_ms): past that, with a
# session's slack, this member is stuck, not slow (kafka-python was seen never rejoining after the
# broker restarted mid-rebalance: the replica polled nothing for minutes). It then starts over.
REBALANCE_DEADLINE_S = MAX_POLL_INTERVAL_MS / 1000 + 30.0
# Waiting longer than this for an assignment, the member asks the coordinator whether the rebalance is
# over (then every half of it): a healthy join applies its assignment within a second of the group
# becoming stable, so two such answers in a row only come from a join whose result the client dropped.
ORPHANED_JOIN_CHECK_S = 10.0
_FATAL = (kafka_errors.AuthorizationError, kafka_errors.KafkaConfigurationError)


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    partition: int
    offset: int
    key: str
    value: bytes | None  # None: the feed was removed


class RebalanceStuck(Exception):
    """No partition assignment long after a rebalance began: the consumer is replaced."""


@dataclass(frozen=True, slots=True)
class GroupView:
    """What the group coordinator says of the group (DescribeGroups)."""

    state: str  # "Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead"
    member_ids: frozenset[str]


@dataclass(slots=True)
class RebalanceWatch:
    """Since when this member has been without an assignment (joining, or between revoke and assign)."""

    deadline: float = REBALANCE_DEADLINE_S
    orphan_check: float = ORPHANED_JOIN_CHECK_S
    since: float | None = None
    next_group_check: float = 0.0
    stable_seen: bool = False  # the previous look at the coordinator found the dropped-join picture

    def joining(self, now: float) -> None:
        self.since = now
        self.next_group_check = 0.0
        self.stable_seen = False

    def revoked(self, now: float) -> None:
        if self.since is None:
            self.since = now

    def assigned(self) -> None:
        self.since = None
        self.stable_seen = False

    def check(self, now: float) -> None:
        """Raise ``RebalanceStuck`` when the rebalance has outlived the deadline."""
        if self.since is not None and now - self.since > self.deadline:
            raise RebalanceStuck(
                f"no partition assignment {now - self.since:.0f} s after the group rebalance began "
                f"(the limit is {self.deadline:.0f} s); rejoining with a new consumer"
            )

    def wants_group_view(self, now: float) -> bool:
        """True when the coordinator should be asked whether the rebalance is over (see ``check_group``)."""
        if self.since is None or now - self.since < self.orphan_check or now < self.next_group_check:
            return False
        self.next_group_check = now + self.orphan_check / 2
        return True

    def check_group(self, now: float, view: GroupView, member_id: str) -> None:
        """Raise ``RebalanceStuck`` when, at two looks in a row, the coordinator has finished the rebalance
        with this member in the group while this member still waits for its assignment: the join's result
        was dropped. (One look could fall between a slow join's last answer and its assignment callback.)"""
        if self.since is None:
            return
        dropped = view.state == "Stable" and bool(member_id) and member_id in view.member_ids
        if not (dropped and self.stable_seen):
            self.stable_seen = dropped
            return
        raise RebalanceStuck(
            f"the group is stable at its coordinator with this member in it, but no partition assignment "
            f"reached this member {now - self.since:.0f} s after the rebalance began (the client dropped "
            "the join's result); rejoining with a new consumer"
        )


class MembershipListener(Protocol):
    def partitions_assigned(self, partitions: list[int]) -> None: ...  # must not block

    def partitions_revoked(self, partitions: list[int]) -> None: ...  # blocks until released (bounded)

    def registry_records(self, records: list[RegistryRecord]) -> None: ...  # must not block

    def membership_failed(self, error: Exception) -> None: ...  # a fatal error: stop the service


class GroupMembership(ConsumerRebalanceListener):
    def __init__(
        self,
        settings: Settings,
        topics: CollectorTopics,
        listener: MembershipListener,
        *,
        client_id: str,
        log: Any,
        consumer_factory: Callable[..., Any] = KafkaConsumer,
        admin_factory: Callable[..., Any] = KafkaAdminClient,
    ) -> None:
        self._settings = settings
        self._topic = topics.feeds
        self._listener = listener
        self._client_id = client_id
        self._log = log
        self._factory = consumer_factory
        self._admin_factory = admin_factory
        self._consumer: Any = None
        self._admin: Any = None  # created the first time the coordinator is asked (see RebalanceWatch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collector-membership", daemon=True)
        self.last_poll_at: float | None = None  # time.monotonic() of the last completed poll
        self.last_error: str | None = None
        self.rebalance = RebalanceWatch()

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Leave the group (revoking this replica's partitions first) and end the thread."""
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def group_metadata(self) -> Any:
        """The group generation, for the transactional offsets that fence a stale replica (KIP-447)."""
        consumer = self._consumer
        return consumer.group_metadata() if consumer is not None else None

    # --- ConsumerRebalanceListener (called on kafka-python's IO thread) ---------------------------
    def on_partitions_revoked(self, revoked: Any) -> None:
        self.rebalance.revoked(time.monotonic())
        partitions = sorted(tp.partition for tp in revoked if tp.topic == self._topic)
        if partitions:
            self._listener.partitions_revoked(partitions)

    def on_partitions_assigned(self, assigned: Any) -> None:
        mine = [tp for tp in assigned if tp.topic == self._topic]
        if mine:
            self._consumer.seek_to_beginning(*mine)
        self._listener.partitions_assigned(sorted(tp.partition for tp in mine))
        self.rebalance.assigned()

    # --- the thread -----------------------------------------------------------------------
    def _new_consumer(self) -> Any:
        settings = self._settings
        consumer = self._factory(
            **kafka_python_config(settings),
            client_id=self._client_id,
            group_id=group_id(settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.collector_session_timeout * 1000),
            heartbeat_interval_ms=int(settings.collector_heartbeat_interval * 1000),
            # Also the rebalance timeout: how long a rebalance waits for a live member to rejoin.
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
            allow_auto_create_topics=False,
        )
        # Know the topic's partitions before joining (the first poll joins): a group leader without them
        # assigns nothing, and kafka-python was seen never correcting that empty assignment (and spinning)
        # under heavy load. Fetched after subscribing, so that the metadata the group leader assigns from
        # includes the topic: fetched before, the first assignment is followed by a needless second
        # rebalance at the next metadata refresh (see the module's docstring).
        consumer.subscribe([self._topic], listener=self)
        if not consumer.partitions_for_topic(self._topic):
            consumer.close()
            raise kafka_errors.UnknownTopicOrPartitionError(
                f"no partitions known for {self._topic}; it is created by `newswatch feeds sync` or `collect`"
            )
        self.rebalance.joining(time.monotonic())
        return consumer

    def _group_view(self) -> GroupView | None:
        """The coordinator's view of the group, or None when it cannot be had now (asked again later)."""
        group = group_id(self._settings)
        try:
            if self._admin is None:
                self._admin = self._admin_factory(
                    **kafka_python_config(self._settings), client_id=f"{self._client_id}-admin"
                )
            described = self._admin.describe_groups([group])[group]
        except Exception as exc:  # the broker moving or down: the plain deadline still applies
            self._log.debug("could not describe the consumer group", error=f"{type(exc).__name__}: {exc}")
            return None
        members = frozenset(str(member.get("member_id", "")) for member in described.get("members") or ())
        return GroupView(str(described.get("group_state", "")), members)

    def _check_rebalance(self, now: float) -> None:
        self.rebalance.check(now)
        if self.rebalance.wants_group_view(now):
            view = self._group_view()
            if view is not None:
                self.rebalance.check_group(now, view, self._consumer.group_metadata().member_id)

    def _run(self) -> None:
        try:
            self._run_consumers()
        finally:
            self._close_admin()

    def _run_consumers(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._consumer = self._new_consumer()
                while not self._stop.is_set():
                    batch = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=5000)
                    self.last_poll_at = time.monotonic()
                    self._check_rebalance(self.last_poll_at)
                    self.last_error = None
                    backoff = 1.0
                    records = [
                        RegistryRecord(
                            tp.partition,
                            record.offset,
                            record.key.decode("utf-8", "replace") if record.key is not None else "",
                            record.value,
                        )
                        for tp, items in batch.items()
                        for record in items
                    ]
                    if records:
                        self._listener.registry_records(records)
            except _FATAL as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._log.error(
                    "consumer group membership failed", error=self.last_error, group=group_id(self._settings)
                )
                self._listener.membership_failed(exc)
                return
            except Exception as exc:  # broker unreachable, coordinator moving...: retry later
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._log.warning("consumer group membership interrupted; rejoining", error=self.last_error)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                self._close_consumer()

    def _close_admin(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception as exc:
                self._log.warning("closing the group admin client failed", error=f"{type(exc).__name__}: {exc}")
            self._admin = None

    def _close_consumer(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        try:
            # Revokes this replica's partitions (the listener releases them, committing with the group
            # metadata, so the consumer must still be reachable), then leaves the group, so the other
            # replicas take the feeds over at once instead of after the session timeout.
            consumer.close(timeout_ms=int(self._settings.request_timeout * 1000))
        except Exception as exc:
            self._log.warning("closing the group consumer failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._consumer = None
