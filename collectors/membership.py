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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaConsumer
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
_FATAL = (kafka_errors.AuthorizationError, kafka_errors.KafkaConfigurationError)


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    partition: int
    offset: int
    key: str
    value: bytes | None  # None: the feed was removed


class RebalanceStuck(Exception):
    """No partition assignment long after a rebalance began: the consumer is replaced."""


@dataclass(slots=True)
class RebalanceWatch:
    """Since when this member has been without an assignment (joining, or between revoke and assign)."""

    deadline: float = REBALANCE_DEADLINE_S
    since: float | None = None

    def joining(self, now: float) -> None:
        self.since = now

    def revoked(self, now: float) -> None:
        if self.since is None:
            self.since = now

    def assigned(self) -> None:
        self.since = None

    def check(self, now: float) -> None:
        """Raise ``RebalanceStuck`` when the rebalance has outlived the deadline."""
        if self.since is not None and now - self.since > self.deadline:
            raise RebalanceStuck(
                f"no partition assignment {now - self.since:.0f} s after the group rebalance began "
                f"(the limit is {self.deadline:.0f} s); rejoining with a new consumer"
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
    ) -> None:
        self._settings = settings
        self._topic = topics.feeds
        self._listener = listener
        self._client_id = client_id
        self._log = log
        self._factory = consumer_factory
        self._consumer: Any = None
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
        # Know the topic's partitions before joining: a group leader without them assigns nothing, and
        # kafka-python was seen never correcting that empty assignment (and spinning) under heavy load.
        if not consumer.partitions_for_topic(self._topic):
            consumer.close()
            raise kafka_errors.UnknownTopicOrPartitionError(
                f"no partitions known for {self._topic}; it is created by `newswatch feeds sync` or `collect`"
            )
        consumer.subscribe([self._topic], listener=self)
        self.rebalance.joining(time.monotonic())
        return consumer

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._consumer = self._new_consumer()
                while not self._stop.is_set():
                    batch = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=5000)
                    self.last_poll_at = time.monotonic()
                    self.rebalance.check(self.last_poll_at)
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
