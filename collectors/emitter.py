"""The one writer of a replica: a transactional, idempotent producer (kafka-python), ``acks=all``.

``commit`` writes one batch — articles to ``news.raw``, seen records to ``news.seen``, feed status to
``news.feed-status`` — in one Kafka transaction, together with the consumer group's offsets for the
feed partitions involved (``send_offsets_to_transaction``). That last part is the fencing (KIP-447):
the group coordinator refuses the offsets of a replica whose group generation is stale — a replica
that was thrown out of the group and whose feeds have moved — so its transaction is aborted, and
what it fetched never reaches the topics the new owner trusts.

Blocking: call it from one worker thread. Failures come out as:

- ``EmitFailed``     the transaction was aborted, nothing was written: retry the polls later;
- ``OwnershipLost``  the same, because the group moved on: the feeds are no longer ours;
- ``EmitterFatal``   this process must stop (another live producer has our transactional id,
                     or Kafka refuses us access): the message says what to change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka import errors as kafka_errors
from kafka.structs import OffsetAndMetadata

from collectors.batch import OutRecord
from newswatch.clients import kafka_python_config
from newswatch.settings import Settings

ProducerFactory = Callable[..., Any]

_FENCED = (
    kafka_errors.ProducerFencedError,
    kafka_errors.TransactionCoordinatorFencedError,
    kafka_errors.InvalidProducerEpochError,
)
_REFENCE_WINDOW = 60.0  # a second fencing within this many seconds means a live twin, not a timed-out transaction


class EmitFailed(Exception):
    """The transaction was aborted; nothing of the batch is visible to read_committed readers."""


class OwnershipLost(EmitFailed):
    """The group coordinator refused our generation: the feed partitions have moved to another replica."""


class EmitterFatal(Exception):
    """The collector cannot go on writing; the message names the cause and the fix."""


class TransactionalEmitter:
    def __init__(
        self,
        settings: Settings,
        transactional_id: str,
        *,
        client_id: str = "newswatch-collector",
        producer_factory: ProducerFactory = KafkaProducer,
    ) -> None:
        self._settings = settings
        self.transactional_id = transactional_id
        self._client_id = client_id
        self._factory = producer_factory
        self._producer: Any = None
        self._lock = threading.Lock()
        self._last_fenced: float | None = None

    def _new_producer(self) -> Any:
        settings = self._settings
        return self._factory(
            **kafka_python_config(settings),
            client_id=self._client_id,
            transactional_id=self.transactional_id,
            enable_idempotence=True,
            acks="all",
            transaction_timeout_ms=int(settings.collector_transaction_timeout * 1000),
            max_block_ms=int(settings.request_timeout * 1000),
            # kafka-python retries "concurrent transactions" (the previous commit's markers still being
            # written) after this backoff; the 100 ms default would cap us at ~8 transactions a second.
            retry_backoff_ms=20,
            linger_ms=5,
            allow_auto_create_topics=False,
        )

    def start(self) -> None:
        """Create the producer and register the transactional id, aborting any transaction a previous
        incarnation with the same id left open. Raises EmitterFatal when Kafka refuses."""
        with self._lock:
            self._producer = self._new_producer()
            self._init()

    def _init(self) -> None:
        try:
            self._producer.init_transactions()
        except kafka_errors.AuthorizationError as exc:
            raise EmitterFatal(
                f"Kafka refuses the transactional id {self.transactional_id!r} ({exc}); "
                "fix: grant WRITE and DESCRIBE on it (and on the collectors' topics) to this principal"
            ) from exc
        except kafka_errors.KafkaError as exc:
            raise EmitterFatal(
                f"cannot initialise transactions for {self.transactional_id!r}: {exc}; "
                "fix: check that Kafka is reachable and supports transactions"
            ) from exc

    def commit(
        self,
        records: Sequence[OutRecord],
        offsets: Mapping[TopicPartition, int],
        group_metadata: Any,
    ) -> None:
        """Write ``records`` and the group offsets atomically, or raise (see the module docstring)."""
        with self._lock:
            producer = self._producer
            if producer is None:
                raise EmitFailed("the producer is closed")
            try:
                producer.begin_transaction()
                futures = [
                    producer.send(
                        record.topic,
                        key=record.key,
                        value=record.value,
                        partition=record.partition,
                        headers=list(record.headers) or None,
                    )
                    for record in records
                ]
                producer.flush(timeout=self._settings.request_timeout * 3)
                for future in futures:
                    future.get(timeout=0)  # raises the first send error, if any
                if offsets:
                    producer.send_offsets_to_transaction(
                        {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}, group_metadata
                    )
                producer.commit_transaction()
            except kafka_errors.AuthorizationError as exc:
                raise EmitterFatal(
                    f"Kafka refuses a write of the collector ({exc}); fix: grant WRITE on the collectors' topics "
                    f"and the transactional id {self.transactional_id!r}, and READ on the consumer group"
                ) from exc
            except _FENCED as exc:
                self._on_fenced(exc)
                raise EmitFailed(f"producer fenced ({type(exc).__name__}); restarted the producer") from exc
            except kafka_errors.CommitFailedError as exc:
                self._abort()
                raise OwnershipLost(f"the consumer group moved on: {exc}") from exc
            except Exception as exc:
                self._abort()
                raise EmitFailed(f"{type(exc).__name__}: {exc}") from exc

    def _on_fenced(self, exc: Exception) -> None:
        """A transaction Kafka aborted by timeout fences its producer too: restart it once. A second fencing
        soon after means another live process uses our transactional id."""
        now = time.monotonic()
        if self._last_fenced is not None and now - self._last_fenced < _REFENCE_WINDOW:
            raise EmitterFatal(
                f"another process uses the transactional id {self.transactional_id!r} ({type(exc).__name__}); "
                "fix: give every running replica its own NEWSWATCH_COLLECTOR_INSTANCE_ID (or leave it unset)"
            ) from exc
        self._last_fenced = now
        self._restart()

    def _abort(self) -> None:
        try:
            self._producer.abort_transaction()
        except Exception:
            # The producer is in a state it cannot abort from: a new one with the same transactional id
            # aborts the open transaction on the broker in init_transactions.
            self._restart()

    def _restart(self) -> None:
        try:
            self._producer.close(timeout=self._settings.request_timeout)
        except Exception:
            pass  # the old producer is being replaced; its errors no longer matter
        self._producer = self._new_producer()
        self._init()

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=timeout if timeout is not None else self._settings.request_timeout)
                self._producer = None
