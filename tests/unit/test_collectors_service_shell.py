"""The collector's shell without Kafka: the emitter's failure handling (fake producer), and the
service's polling, committing and revocation with fake membership, store and emitter."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from kafka import errors as kafka_errors

from collectors import rebalance, service
from collectors.batch import OutRecord
from collectors.emitter import EmitFailed, EmitterFatal, OwnershipLost, TransactionalEmitter
from collectors.feeds import FeedConfig
from collectors.fetch import FeedFetcher, FetchSettings, utc_now
from collectors.layout import CollectorTopics
from collectors.membership import RegistryRecord
from collectors.metrics import CollectorMetrics
from collectors.netguard import Resolver, resolve_with_event_loop
from collectors.partition_state import PartitionState, Watermarks
from collectors.registry import encode_feed
from collectors.service import CollectorService
from newswatch.schema import decode_article
from newswatch.settings import Settings

TOPICS = CollectorTopics(raw="t.raw", feeds="t.feeds", seen="t.seen", status="t.status")


# --- the emitter ------------------------------------------------------------------------------------
class FakeFuture:
    def get(self, timeout: float | None = None) -> None:
        return None


class FakeProducer:
    """Records calls; ``script`` maps a method name to the exception it raises (once)."""

    instances: list[FakeProducer] = []

    def __init__(self, script: dict[str, Exception], **config: Any) -> None:
        self.config, self.script, self.calls = config, script, []
        FakeProducer.instances.append(self)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.script:
            raise self.script.pop(name)

    def init_transactions(self) -> None:
        self._call("init")

    def begin_transaction(self) -> None:
        self._call("begin")

    def send(self, topic: str, **kwargs: Any) -> FakeFuture:
        self._call(f"send:{topic}")
        return FakeFuture()

    def flush(self, timeout: float | None = None) -> None:
        self._call("flush")

    def send_offsets_to_transaction(self, offsets: Any, group_metadata: Any) -> None:
        self._call("offsets")

    def commit_transaction(self) -> None:
        self._call("commit")

    def abort_transaction(self) -> None:
        self._call("abort")

    def close(self, timeout: float | None = None) -> None:
        self.calls.append("close")


def emitter(script: dict[str, Exception]) -> TransactionalEmitter:
    FakeProducer.instances = []
    made = TransactionalEmitter(
        Settings.load({}), "tx-1", producer_factory=lambda **config: FakeProducer(script, **config)
    )
    made.start()
    return made


RECORDS = [OutRecord("t.raw", b"k", b"v"), OutRecord("t.status", b"f", b"s", 2)]


def test_emitter_writes_one_transaction_with_the_group_offsets() -> None:
    made = emitter({})
    made.commit(RECORDS, {"tp": 3}, "group-metadata")  # type: ignore[dict-item]
    (producer,) = FakeProducer.instances
    assert producer.calls == ["init", "begin", "send:t.raw", "send:t.status", "flush", "offsets", "commit"]
    assert producer.config["transactional_id"] == "tx-1" and producer.config["acks"] == "all"
    assert producer.config["enable_idempotence"] is True and producer.config["transaction_timeout_ms"] == 10_000


def test_a_stale_group_generation_aborts_as_ownership_lost() -> None:
    made = emitter({"offsets": kafka_errors.CommitFailedError("IllegalGenerationError")})
    with pytest.raises(OwnershipLost):
        made.commit(RECORDS, {"tp": 3}, "stale")  # type: ignore[dict-item]
    assert FakeProducer.instances[0].calls[-1] == "abort"


def test_a_transient_error_aborts_and_an_unabortable_producer_is_replaced() -> None:
    made = emitter({"commit": kafka_errors.KafkaTimeoutError("slow"), "abort": kafka_errors.IllegalStateError("x")})
    with pytest.raises(EmitFailed):
        made.commit(RECORDS, {}, None)
    assert len(FakeProducer.instances) == 2 and FakeProducer.instances[1].calls == ["init"]
    made.commit(RECORDS, {}, None)  # the new producer works


def test_fencing_restarts_once_then_is_fatal_and_auth_errors_are_fatal() -> None:
    made = emitter({"commit": kafka_errors.ProducerFencedError("fenced")})
    with pytest.raises(EmitFailed):
        made.commit(RECORDS, {}, None)
    FakeProducer.instances[-1].script["commit"] = kafka_errors.ProducerFencedError("fenced again")
    with pytest.raises(EmitterFatal, match="NEWSWATCH_COLLECTOR_INSTANCE_ID"):
        made.commit(RECORDS, {}, None)
    denied = emitter({"begin": kafka_errors.TopicAuthorizationFailedError("no")})
    with pytest.raises(EmitterFatal, match="grant WRITE"):
        denied.commit(RECORDS, {}, None)


# --- the service with fakes -------------------------------------------------------------------------
class FakeEmitter:
    def __init__(self) -> None:
        self.commits: list[list[OutRecord]] = []
        self.groups: list[Any] = []
        self.fail_next: list[Exception] = []

    def start(self) -> None:
        pass

    def commit(self, records: list[OutRecord], offsets: Any, group: Any) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.commits.append(list(records))
        self.groups.append((dict(offsets), group))

    def close(self) -> None:
        pass

    def records(self, topic: str) -> list[OutRecord]:
        return [record for batch in self.commits for record in batch if record.topic == topic]


class FakeStore:
    def watermarks(self, numbers: list[int]) -> dict[int, Watermarks]:
        return {p: Watermarks(0, 0) for p in numbers}

    def load(self, numbers: list[int], **kwargs: Any) -> tuple[dict[int, PartitionState], dict[int, Watermarks]]:
        return {p: PartitionState() for p in numbers}, self.watermarks(numbers)


class FakeMembership:
    """Assigns partition 0 with the given feeds on start; revokes it on stop (from another thread)."""

    def __init__(self, listener: Any, feeds: list[FeedConfig]) -> None:
        self.listener, self.feeds, self.alive, self.last_error = listener, feeds, False, None

    def start(self) -> None:
        self.alive = True
        self.listener.partitions_assigned([0])
        records = [RegistryRecord(0, n, feed.feed_id, encode_feed(feed)) for n, feed in enumerate(self.feeds)]
        self.listener.registry_records(records)

    def stop(self, timeout: float = 30.0) -> None:
        self.listener.partitions_revoked([0])
        self.alive = False

    def group_metadata(self) -> str:
        return "generation-7"


def rss(*guids: str) -> bytes:
    items = "".join(
        f"<item><title>Story {g}</title><link>https://wire.example.net/{g}</link><guid>{g}</guid></item>" for g in guids
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{items}</channel></rss>'.encode()


class Harness:
    """A service polling ``feeds`` on a mock internet (``handler``), with fake Kafka around it.

    By default private addresses are allowed and the clock is the real one; a test of the address
    guard passes its own ``fetch_settings`` and ``resolve``, a test of the schedule its own ``clock``.
    """

    def __init__(
        self,
        handler: Callable[[httpx.Request], Any],
        feeds: list[FeedConfig],
        *,
        fetch_settings: FetchSettings | None = None,
        resolve: Resolver = resolve_with_event_loop,
        clock: Callable[[], datetime] = utc_now,
        log: Any = None,
    ) -> None:
        self.emitter = FakeEmitter()
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        settings = fetch_settings or FetchSettings(allow_private_addresses=True)
        self.service = CollectorService(
            topics=TOPICS,
            instance_id="unit",
            fetcher=FeedFetcher(client, settings, resolve=resolve, clock=clock),
            emitter=self.emitter,  # type: ignore[arg-type]
            store=FakeStore(),  # type: ignore[arg-type]
            membership_factory=lambda listener: FakeMembership(listener, feeds),  # type: ignore[arg-type,return-value]
            metrics=CollectorMetrics(),
            log=log if log is not None else _QuietLog(),
            clock=clock,
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.service.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.service.request_stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.02)


class _QuietLog:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None

    def bind(self, **kwargs: Any) -> _QuietLog:
        return self


FEED_A = FeedConfig(url="https://feeds.example/a.xml", interval=1)
FEED_B = FeedConfig(url="https://feeds.example/b.xml", interval=1)


async def test_polls_are_committed_once_with_the_group_generation() -> None:
    bodies = {"/a.xml": rss("a1", "a2"), "/b.xml": rss("b1")}
    async with Harness(lambda request: httpx.Response(200, content=bodies[request.url.path]), [FEED_A, FEED_B]) as h:
        await h.until(lambda: len(h.emitter.records("t.status")) >= 4)  # two polls of each feed
    raw = [decode_article(record.value or b"") for record in h.emitter.records("t.raw")]
    assert sorted(article.url.rsplit("/", 1)[1] for article in raw) == ["a1", "a2", "b1"]
    assert all(article.version == 1 for article in raw)
    offsets, group = h.emitter.groups[0]
    assert group == "generation-7" and {tp.topic for tp in offsets} == {"t.feeds"}


async def test_an_aborted_transaction_leaves_no_trace_and_the_poll_is_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "KAFKA_RETRY_DELAY", 0.1)
    async with Harness(lambda request: httpx.Response(200, content=rss("x1")), [FEED_A]) as h:
        h.emitter.fail_next.append(EmitFailed("broker away"))
        await h.until(lambda: len(h.emitter.records("t.raw")) >= 1)
    (record,) = h.emitter.records("t.raw")
    assert decode_article(record.value or b"").version == 1


async def test_revocation_waits_for_the_poll_in_flight_and_commits_it_first() -> None:
    started = threading.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(0.5)
        return httpx.Response(200, content=rss("s1"))

    async with Harness(slow, [FEED_A]) as h:
        await asyncio.to_thread(started.wait, 5)
        await asyncio.to_thread(h.service.partitions_revoked, [0])  # as kafka-python's IO thread does
        # When the callback returns, the poll that was in flight is committed and nothing is owned.
        assert len(h.emitter.records("t.raw")) == 1 and len(h.emitter.records("t.status")) == 1
        assert h.service.table.partitions == {} and h.service.table.runtimes == {}
        commits = len(h.emitter.commits)
        await asyncio.sleep(1.2)  # longer than the feed's interval
        assert len(h.emitter.commits) == commits  # the revoked feed is not polled any more


async def test_a_poll_past_the_revocation_grace_is_cancelled_and_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rebalance, "REVOKE_GRACE", 0.2)
    started = threading.Event()

    async def hanging(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx.Response(200, content=rss("h1"))

    async with Harness(hanging, [FEED_A]) as h:
        await asyncio.to_thread(started.wait, 5)
        began = time.monotonic()
        await asyncio.to_thread(h.service.partitions_revoked, [0])
        assert time.monotonic() - began < 2.0
        assert h.emitter.commits == [] and h.service.table.runtimes == {}


async def test_a_feed_removed_from_the_registry_stops_and_its_status_is_tombstoned() -> None:
    async with Harness(lambda request: httpx.Response(200, content=rss("r1")), [FEED_A, FEED_B]) as h:
        await h.until(lambda: FEED_A.feed_id.encode() in {r.key for r in h.emitter.records("t.status")})
        h.service.registry_records([RegistryRecord(0, 99, FEED_A.feed_id, None)])
        await h.until(lambda: any(r.value is None for r in h.emitter.records("t.status")))
        assert FEED_A.feed_id not in h.service.table.runtimes and FEED_B.feed_id in h.service.table.runtimes


async def test_a_fatal_emitter_error_stops_the_service() -> None:
    h = Harness(lambda request: httpx.Response(200, content=rss("f1")), [FEED_A])
    h.emitter.fail_next.append(EmitterFatal("another process uses the transactional id"))
    with pytest.raises(EmitterFatal):
        await asyncio.wait_for(h.service.run(), 20)


# --- the feed table ---------------------------------------------------------------------------------
def test_feed_table_follows_the_registry_of_owned_loaded_partitions_only() -> None:
    from datetime import UTC, datetime, timedelta

    from collectors.feed_status import FeedStatus
    from collectors.ownership import FeedTable

    now = datetime(2022, 1, 12, 9, 0, tzinfo=UTC)
    table = FeedTable(lambda: now)
    fresh, _ = table.assign([0, 1])
    assert fresh == [0, 1]
    slow = FeedConfig(url=FEED_A.url, interval=3600)
    records = [
        RegistryRecord(0, 0, slow.feed_id, encode_feed(slow)),
        RegistryRecord(5, 0, FEED_B.feed_id, encode_feed(FEED_B)),  # not our partition
        RegistryRecord(1, 3, "bad", b"{not json"),
    ]
    changes = table.apply_registry(records)
    assert table.runtimes == {}  # partition 0 is not loaded yet
    assert [(p, offset) for p, offset, _ in changes.invalid] == [(1, 3)]
    assert table.apply_registry(records[2:]).invalid == []  # reported once, not at every re-read

    status = FeedStatus(
        feed_id=slow.feed_id,
        url=slow.url,
        owner="other",
        updated_at=now,
        next_poll_at=now + timedelta(seconds=3000),
        last_success_at=now - timedelta(seconds=600),
        etag='"v1"',
    )
    assert table.loaded(0, {}, {slow.feed_id: status})
    rt = table.runtimes[slow.feed_id]
    assert rt.memory.cursor.etag == '"v1"' and rt.memory.state.next_poll_at == now + timedelta(seconds=3000)
    # The feeds file now says every second: the next poll is due at the last success + 1 s, not in 50 minutes.
    table.apply_registry([RegistryRecord(0, 4, FEED_A.feed_id, encode_feed(FEED_A))])
    assert rt.memory.state.next_poll_at == now - timedelta(seconds=599) and table.pollable(rt)

    parts = table.start_release([0])
    assert not table.pollable(rt)
    gone = table.drop(parts, {0: Watermarks(7, 9)})
    assert gone == [rt] and table.runtimes == {} and table.kept[0].watermarks == Watermarks(7, 9)
    assert table.kept[0].statuses[slow.feed_id] == status
    _, kept = table.assign([0])
    assert 0 in kept and table.kept == {}  # kept state is offered to the next assignment only


def test_feed_table_tombstones_the_status_of_a_removed_feed() -> None:
    from datetime import UTC, datetime

    from collectors.ownership import FeedTable

    table = FeedTable(lambda: datetime(2022, 1, 12, tzinfo=UTC))
    table.assign([0])
    table.apply_registry([RegistryRecord(0, 0, FEED_A.feed_id, encode_feed(FEED_A))])
    table.loaded(0, {}, {})
    table.partitions[0].statuses[FEED_A.feed_id] = object()  # type: ignore[assignment]
    changes = table.apply_registry([RegistryRecord(0, 1, FEED_A.feed_id, None)])
    assert [rt.feed_id for rt in changes.removed] == [FEED_A.feed_id]
    assert table.status_tombstones == [(0, FEED_A.feed_id)] and table.runtimes == {}
