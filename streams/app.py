"""The Faust app: news.raw -> enrichment -> news.tagged, bad records -> news.deadletter.

Built by ``create_app(settings)`` (never at import time). Choices, each for a known faust-streaming
trap:
- at-least-once (the default): exactly-once has open bugs; downstream writes are idempotent instead;
- agent concurrency 1: faust 0.15 can commit past an in-flight message above 1;
- every event is handled inside ``try``: Faust acknowledges an event even when the agent raises, so
  a failure that escaped would silently lose the record. Failures are dead-lettered instead;
- a record is marked processed only once the broker has acknowledged every record it produced, so
  a committed offset's output is durable; a batch the broker never takes stops the worker (a restart
  re-reads from the committed offsets) rather than letting Faust restart just the agent past it;
- Faust's consumer is replaced by one that commits only records the agent marked processed (see
  ``streams.kafka_transport``): Faust 0.15 can commit past records it skipped in a rebalance.

Throughput (measured with bench/pipeline_stages.py): the agent takes up to ``streams_batch_size``
articles at a time (``take_events``; a partial batch after ``streams_batch_wait``), enriches them one
by one, then sends all their records as one closed record batch per topic partition and awaits the
broker's acknowledgement before marking them processed (``streams.outputs``). Per article, Faust's
send path had cost more than the enrichment itself. And the root logger is put back at the
configured level once the worker has started (see ``restore_log_level``).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from prometheus_client import Counter, Histogram, generate_latest

from newswatch.settings import Settings
from newswatch.topics import DEADLETTER, RAW, TAGGED, Topics
from streams import native
from streams.kafka_transport import NewswatchFaustApp
from streams.outputs import DeliveryFailed, Outputs
from streams.processor import ArticleProcessor, Emit, Reject, Skip
from streams.record_batches import RecordBatches
from streams.story_index import new_story_index

EVENTS = Counter("newswatch_streams_events_total", "Records handled by the streams stage", ["outcome"])
PROCESS_SECONDS = Histogram("newswatch_streams_process_seconds", "Enrichment time per article")
EMITTED = EVENTS.labels("emitted")  # bound once: labels() is a locked dict lookup, and this runs per article


@dataclass(frozen=True)
class StreamNames:
    raw: str = RAW
    tagged: str = TAGGED
    deadletter: str = DEADLETTER
    app_id: str = "newswatch-streams"

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamNames:
        topics = Topics(settings.topic_prefix)
        return cls(topics.raw, topics.tagged, topics.deadletter, f"{settings.topic_prefix}newswatch-streams")


def default_processor() -> ArticleProcessor:
    from streams.gazetteer import default_gazetteer
    from streams.language import detect_language
    from streams.tagging.engine import Tagger

    return ArticleProcessor(
        tagger=Tagger.default(),
        gazetteer=default_gazetteer(),
        detect_language=detect_language,
        clock=lambda: datetime.now(UTC),
    )


def _broker_credentials(settings: Settings) -> dict[str, Any]:
    if not settings.kafka_sasl_mechanism:
        return {}
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    return {
        "broker_credentials": faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=password,
            mechanism=settings.kafka_sasl_mechanism,
        )
    }


def state_topic_config(settings: Settings) -> dict[str, str]:
    """Changelog topics that are compacted *and* cleaned by time, so the tables do not grow forever.

    Without it every article id and story ever seen stays in the worker's memory and is read back at
    every start: a restart after months would keep watch officers waiting minutes for alerts. An
    entry older than ``streams_state_days`` is dropped by the broker; the worst it costs is a very
    old article re-polled being emitted again (downstream writes are idempotent) or a very late
    wire copy starting its own story. Segments roll daily at most so that expiry is not held back
    by Kafka's default 7-day segments.
    """
    retention_ms = int(settings.streams_state_days * 86_400_000)
    return {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(retention_ms),
        "segment.ms": str(min(retention_ms, 86_400_000)),
    }


def create_app(
    settings: Settings,
    names: StreamNames | None = None,
    processor: ArticleProcessor | None = None,
    web_port: int | None = None,
) -> faust.App:
    names = names or StreamNames.from_settings(settings)
    processor = processor or default_processor()
    datadir = settings.state_dir / "streams" / names.app_id
    # Faust creates only the last level of its datadir (mkdir without parents): on a fresh state
    # directory the worker would die at start with FileNotFoundError.
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = NewswatchFaustApp(
        names.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store=settings.streams_store,
        datadir=str(datadir),
        processing_guarantee="at_least_once",
        topic_partitions=4,
        table_standby_replicas=settings.streams_standby_replicas,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=500,
        # A killed worker's partitions move after the session times out: 60 s by default is a minute
        # of silence on the watch floor; 15 s still tolerates a busy 2-core machine.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        stream_wait_empty=False,
        producer_acks=-1,
        # The agent's records leave in closed batches that never linger (streams.outputs); Faust's own
        # few sends (its assignor topic) may wait 50 ms.
        producer_linger=0.05,
        producer_max_batch_size=256 * 1024,
        web_enabled=True,
        web_bind="127.0.0.1",
        web_port=settings.streams_web_port if web_port is None else web_port,
        web_host="127.0.0.1",
        **_broker_credentials(settings),
    )
    raw = app.topic(names.raw, key_serializer="raw", value_serializer="raw")
    # Keyed by article id, like news.raw, so each worker holds the entries of its own partitions.
    seen = app.Table(
        "seen", default=None, key_type=str, value_type=str, extra_topic_configs=state_topic_config(settings)
    )
    # Near-duplicate copies of a story arrive on any partition: every worker needs every story. Only
    # signatures are persisted; their LSH band keys are derived in memory (see streams.story_index).
    story_index = new_story_index()

    async def learn_story(event: Any) -> None:
        # Every changelog record Faust applies (other workers' stories, replays at start): index it now.
        try:
            story_index.learn(event.key, event.value)
        except Exception:  # noqa: BLE001 - a bad state entry must not stop recovery; the story is just unlinked
            logging.getLogger(__name__).warning("unreadable story entry %r in the stories table", event.key)

    stories = app.GlobalTable(
        "stories",
        default=None,
        key_type=str,
        value_type=str,
        extra_topic_configs=state_topic_config(settings),
        on_changelog_event=learn_story,
    )
    state = {"processed": 0, "last_event": 0.0}
    link_story = functools.partial(story_index.link, stories_get=stories.get)

    @app.agent(raw, concurrency=1)
    async def enrich_articles(stream: faust.StreamT[bytes]) -> None:
        consumer = app.consumer
        producer = app.producer._ensure_producer()  # Faust's own aiokafka producer (streams.record_batches)
        outputs = await Outputs.open(app, producer, names.tagged, names.deadletter, seen, stories)
        async for events in stream.take_events(settings.streams_batch_size, within=settings.streams_batch_wait):
            story_index.sync(stories)
            batch = RecordBatches(app.conf.producer_max_request_size)
            for event in events:
                message = event.message
                started = time.perf_counter()
                # take_events hands over a list; a RocksDB table store picks its partition's database
                # from Faust's current event, which must be this article's, as in a per-event loop.
                stream._set_current_event(event)
                try:
                    outcome = processor.process(
                        event.value, f"{message.partition}:{message.offset}", seen.get, link_story
                    )
                    if isinstance(outcome, Emit):
                        outputs.emit(batch, message.partition, outcome, story_index.record)
                        EMITTED.inc()
                    elif isinstance(outcome, Skip):
                        EVENTS.labels(outcome.reason).inc()
                    else:
                        outputs.dead_letter(batch, message, outcome)
                        EVENTS.labels(f"dead_letter_{outcome.kind}").inc()
                except Exception as exc:  # noqa: BLE001 - Faust would ack and lose it; dead-letter instead
                    outputs.dead_letter(batch, message, Reject("stage", f"{type(exc).__name__}: {exc}"))
                    EVENTS.labels("dead_letter_stage").inc()
                PROCESS_SECONDS.observe(time.perf_counter() - started)
            try:
                await outputs.deliver(batch)
            except DeliveryFailed as exc:
                # Faust would restart only the agent, which reads on past these records: their offsets
                # would then never be committed nor the records read again. The worker stops instead,
                # and its restart (supervisor, `newswatch run`) re-reads them from the committed offsets.
                await app.crash(exc)
                raise
            # Only now, with every record they produced acknowledged, may their offsets be committed
            # (streams.kafka_transport); Faust acks them when the next batch is taken.
            for event in events:
                consumer.mark_processed(event.message)
            state["processed"] += len(events)
            state["last_event"] = time.time()

    @app.task
    async def restore_log_level() -> None:
        # faust's Worker sets the root logger to DEBUG for its start-up spinner (its handlers still
        # filter at the configured level, so nothing more is printed). That makes every logger.debug()
        # in aiokafka and faust build a LogRecord - several per record produced, ~15% of the worker's
        # CPU. Once the app runs, the root logger goes back to the configured level.
        level = logging.getLevelName(settings.log_level.upper())
        if isinstance(level, int):
            logging.getLogger().setLevel(level)
        if not native.enabled():
            logging.getLogger(__name__).warning(
                "newswatch-native is not installed: story sketches and index, gazetteer and tag matching run in "
                "pure Python (same results, slower). Fix: install Rust (https://rustup.rs), then 'make setup' "
                "(or pip install ./native)."
            )

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json(
            {"ok": True, "processed": state["processed"], "last_event": state["last_event"], "native": native.enabled()}
        )

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type="text/plain; version=0.0.4")

    app.newswatch_state = state  # type: ignore[attr-defined]
    return app
