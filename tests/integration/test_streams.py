"""The Faust stage as a real worker process against the real broker: enrich, dead-letter, survive SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.partitioner.default import murmur2

from newswatch.clients import kafka_python_config
from newswatch.deadletter import DeadLetter
from newswatch.schema import TaggedArticle, encode
from newswatch.settings import Settings
from newswatch.stack.local import LocalStack
from newswatch.stack.process import free_port
from newswatch.topics import Topics
from tests.factories import article
from tests.integration.waiting import wait_until

SEED_TITLE = "NATO and Russia hold first council talks in over two years as troops mass near Ukraine"
SEED_TEXT = (
    "BRUSSELS, Jan 12 - Senior diplomats from Russia and the 30 NATO allies met at the alliance's headquarters "
    "on Wednesday for the first session of the NATO-Russia Council since 2019. US Deputy Secretary of State "
    "Wendy Sherman and Russian Deputy Foreign Minister Alexander Grushko discussed Moscow's demands for "
    "security guarantees. Russia has massed more than 100,000 troops near its border with Ukraine."
)


class Worker:
    """`newswatch streams` in its own process, with its own topic prefix and state directory."""

    def __init__(self, prefix: str, state_dir: Path, store: str = "memory://") -> None:
        self.env = dict(os.environ) | {
            "NEWSWATCH_STREAMS_STORE": store,
            "NEWSWATCH_TOPIC_PREFIX": prefix,
            "NEWSWATCH_STATE_DIR": str(state_dir),
            "NEWSWATCH_STREAMS_WEB_PORT": str(free_port()),
            "NEWSWATCH_LOG_LEVEL": "WARNING",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "worker.log"

    def start(self) -> None:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newswatch.cli", "streams"], env=self.env, stdout=log, stderr=log
        )

    def processed(self) -> int:
        """Articles handled so far, from the worker's /health (0 while it is not answering yet)."""
        url = f"http://127.0.0.1:{self.env['NEWSWATCH_STREAMS_WEB_PORT']}/health"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(json.loads(response.read())["processed"])
        except (OSError, ValueError, KeyError):
            return 0

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)


@pytest.fixture
def worker(stack: LocalStack, unique_name: str, request: pytest.FixtureRequest) -> Iterator[Worker]:
    state_dir = Path(tempfile.mkdtemp(prefix="newswatch-streams-"))
    running = Worker(f"{unique_name}.", state_dir, store=getattr(request, "param", "memory://"))
    yield running
    if running.proc is not None and running.proc.poll() is None:
        running.kill(signal.SIGKILL)


def produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(**kafka_python_config(settings), acks="all")
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=30)
    producer.close()


def collect(settings: Settings, topic: str, until: int, timeout: float) -> list[bytes]:
    """Records of ``topic`` from the start: until ``until`` are read or the timeout passes."""
    consumer = KafkaConsumer(topic, **kafka_python_config(settings), auto_offset_reset="earliest")
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < until and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500).values():
                values += [m.value for m in messages]
    finally:
        consumer.close()
    return values


def read_all(settings: Settings, topic: str, timeout: float = 60) -> list[bytes]:
    """Every record in ``topic`` now: read up to the end offsets, however slow the machine is."""
    consumer = KafkaConsumer(**kafka_python_config(settings), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500).values():
                values += [m.value for m in messages]
        return values
    finally:
        consumer.close()


def topic_config(settings: Settings, topic: str) -> dict[str, str]:
    admin = KafkaAdminClient(**kafka_python_config(settings))
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    return {name: entry["value"] for name, entry in described["topic"][topic].items()}


# RocksDB picks a partition's database from Faust's current event: the batched agent must set it for
# every article (without that, every article was dead-lettered with an AssertionError).
@pytest.mark.parametrize("worker", ["memory://", "rocksdb://"], indirect=True)
def test_articles_are_enriched_and_a_poison_record_is_dead_lettered(
    settings: Settings, worker: Worker, unique_name: str
) -> None:
    topics = Topics(f"{unique_name}.")
    seed = article(1, title=SEED_TITLE, summary="", text=SEED_TEXT)
    wire_copy = article(2, title="NATO, Russia meet for first council talks in two years", summary="", text=SEED_TEXT)
    other = article(
        3, title="Storm closes ferry routes", summary="", text="Ferries between the islands stopped running."
    )
    records = [(a.id.encode(), encode(a)) for a in (seed, wire_copy, other)]
    records.insert(1, (b"poison", b"this is not json"))
    records.append((seed.id.encode(), encode(seed)))  # an exact duplicate: dropped
    produce(settings, topics.raw, records)
    worker.start()

    tagged = [TaggedArticle.model_validate_json(v) for v in collect(settings, topics.tagged, 3, timeout=90)]
    by_id = {t.id: t for t in tagged}
    assert set(by_id) == {seed.id, wire_copy.id, other.id}
    assert len(tagged) == 3, "the exact duplicate must be dropped"
    enriched = by_id[seed.id]
    assert enriched.lang == "en"
    assert {"nato-russia-talks", "troop-buildup"} <= set(enriched.tags)
    for evidence in enriched.tag_evidence["nato-russia-talks"]:
        field_text = {"title": enriched.title, "text": enriched.text, "summary": enriched.summary}[evidence.field]
        matched = field_text[evidence.start : evidence.end]
        assert matched and matched.strip() == matched, f"evidence offsets must frame the matched words: {evidence}"
    assert "Ukraine" in enriched.places and "NATO" in enriched.entities
    # The two copies share one story, founded by whichever was processed first (partitions are not ordered).
    pair = [by_id[seed.id], by_id[wire_copy.id]]
    assert len({t.story_id for t in pair}) == 1
    founder = next(t for t in pair if t.duplicate_of is None)
    copy = next(t for t in pair if t is not founder)
    assert founder.story_id == founder.id and copy.duplicate_of == founder.id
    assert by_id[other.id].tags == ()

    letters = [DeadLetter.model_validate_json(v) for v in collect(settings, topics.deadletter, 1, timeout=30)]
    assert [(d.stage, d.error_kind, d.key) for d in letters] == [("streams", "schema", "poison")]
    # The worker's state expires: its changelogs are compacted and cleaned by time on the broker.
    for table in ("seen", "stories"):
        config = topic_config(settings, f"{unique_name}.newswatch-streams-{table}-changelog")
        assert config["cleanup.policy"] == "compact,delete"
        assert int(config["retention.ms"]) == int(settings.streams_state_days * 86_400_000)
    worker.kill(signal.SIGTERM)


def test_sigkill_mid_stream_loses_nothing(settings: Settings, worker: Worker, unique_name: str) -> None:
    topics = Topics(f"{unique_name}.")
    articles = [article(n, title=f"Report {n}: ministers discuss the harvest", summary="") for n in range(1500)]
    produce(settings, topics.raw, [(a.id.encode(), encode(a)) for a in articles])
    worker.start()
    partial = collect(settings, topics.tagged, 100, timeout=90)
    assert len(partial) >= 100
    worker.kill(signal.SIGKILL)
    worker.start()
    deadline = time.monotonic() + 180
    ids: set[str] = set()
    while len(ids) < len(articles) and time.monotonic() < deadline:
        values = read_all(settings, topics.tagged)
        ids = {TaggedArticle.model_validate_json(v).id for v in values}
    missing = {a.id for a in articles} - ids
    letters = [DeadLetter.model_validate_json(v) for v in read_all(settings, topics.deadletter)]
    assert not missing, (
        f"{len(missing)} articles never reached {topics.tagged}: {sorted(missing)[:5]}; dead letters: "
        f"{[(d.key, d.error_kind, d.error) for d in letters][:5]}; worker log ends:\n{worker.log_tail()}"
    )
    assert letters == []
    worker.kill(signal.SIGTERM)


def partition_of(key: bytes, partitions: int = 4) -> int:
    """The partition Kafka's default partitioner (murmur2, as kafka-python and aiokafka use) gives a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_two_workers_link_copies_whichever_worker_reads_them(
    settings: Settings, stack: LocalStack, unique_name: str
) -> None:
    """The stories table is global: a copy read by the worker that did not see the founder still joins it."""
    topics = Topics(f"{unique_name}.")
    root = Path(tempfile.mkdtemp(prefix="newswatch-streams-"))
    workers = []
    for n in range(2):
        (root / f"w{n}").mkdir()
        workers.append(Worker(f"{unique_name}.", root / f"w{n}"))
    try:
        for running in workers:
            running.start()
        # Unrelated articles until both workers have handled some: both then own partitions of news.raw.
        filler = iter(range(10_000, 20_000))

        def both_working() -> bool:
            batch = [article(next(filler), title="Ferry timetable changes", summary="") for _ in range(8)]
            produce(settings, topics.raw, [(a.id.encode(), encode(a)) for a in batch])
            return all(running.processed() > 0 for running in workers)

        wait_until(both_working, 120, "both workers to process articles", every=1.0)
        founder = article(1, title=SEED_TITLE, summary="", text=SEED_TEXT)
        produce(settings, topics.raw, [(founder.id.encode(), encode(founder))])
        wait_until(lambda: tagged_by_id(settings, topics.tagged).get(founder.id), 60, "the founder to be tagged")
        # Its signature reaches the other worker through the stories changelog (linger, fetch wait).
        time.sleep(5)
        copies = {}
        for n in range(100, 1000):  # one copy per partition: whatever the assignment, both workers read some
            copy = article(n, title=f"NATO and Russia hold council talks, wire copy {n}", summary="", text=SEED_TEXT)
            copies.setdefault(partition_of(copy.id.encode()), copy)
            if len(copies) == 4:
                break
        produce(settings, topics.raw, [(c.id.encode(), encode(c)) for c in copies.values()])
        wanted = {c.id for c in copies.values()}

        def copies_tagged() -> dict[str, TaggedArticle] | None:
            found = {i: t for i, t in tagged_by_id(settings, topics.tagged).items() if i in wanted}
            return found if set(found) == wanted else None

        tagged = wait_until(copies_tagged, 90, "the four copies to be tagged")
        stories = {i: (t.story_id, t.duplicate_of) for i, t in tagged.items()}
        assert stories == dict.fromkeys(wanted, (founder.id, founder.id)), (
            f"founder {founder.id}: {stories}\n" + "\n".join(w.log_tail(15) for w in workers)
        )
    finally:
        for running in workers:
            if running.proc is not None and running.proc.poll() is None:
                running.kill(signal.SIGKILL)


def tagged_by_id(settings: Settings, topic: str) -> dict[str, TaggedArticle]:
    return {t.id: t for t in (TaggedArticle.model_validate_json(v) for v in read_all(settings, topic))}
