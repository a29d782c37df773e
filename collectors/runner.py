"""Wiring one collector replica from settings, and running it until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import Any

from collectors.emitter import EmitterFatal, TransactionalEmitter
from collectors.feeds import load_feeds
from collectors.fetch import FeedFetcher, FetchSettings, make_http_client
from collectors.http_transport import collector_transport
from collectors.kafka_io import OffsetsProbe
from collectors.layout import CollectorTopics, TopicLayoutError, prepare_topics
from collectors.membership import GroupMembership, MembershipListener
from collectors.metrics import CollectorMetrics
from collectors.partition_state import PartitionStore
from collectors.registry import sync_feeds
from collectors.service import CollectorService
from newswatch.observability import ServiceEndpoint
from newswatch.settings import Settings


def default_instance_id() -> str:
    """Unique per process: two replicas on one host must not share a transactional id."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def fetch_settings(settings: Settings) -> FetchSettings:
    overrides: dict[str, object] = {"allow_file_urls": settings.collector_allow_file_urls}
    if settings.collector_user_agent:
        overrides["user_agent"] = settings.collector_user_agent
    return FetchSettings.from_settings(settings, **overrides)


async def run_collector(settings: Settings, log: Any, *, feeds_file: Path | None = None) -> int:
    """Sync ``feeds_file`` (if given), then run one replica until stopped. Returns the exit code:
    0 after a clean stop, 1 when the replica had to stop on an error it cannot recover from."""
    topics = CollectorTopics.from_settings(settings)
    loop = asyncio.get_running_loop()
    try:
        if feeds_file is not None:
            feeds = load_feeds(feeds_file)  # FeedsFileError: the caller prints it
            report = await loop.run_in_executor(None, sync_feeds, settings, feeds, topics)
            log.info(report.describe(), feeds_file=str(feeds_file), partitions=report.partitions)
        else:
            await loop.run_in_executor(None, prepare_topics, settings, topics)
    except TopicLayoutError as exc:
        log.error("collector topics unusable", error=str(exc))
        return 1

    instance_id = settings.collector_instance_id or default_instance_id()
    client_id = f"newswatch-collector-{instance_id}"
    fetch = fetch_settings(settings)
    # One connection per fetch in flight, at most.
    transport = collector_transport(
        connections=settings.collector_concurrency, allow_private_addresses=fetch.allow_private_addresses
    )
    http = make_http_client(fetch, transport=transport)
    probe = OffsetsProbe(settings, client_id=f"{client_id}-offsets")
    metrics = CollectorMetrics()

    def membership(listener: MembershipListener) -> GroupMembership:
        return GroupMembership(settings, topics, listener, client_id=client_id, log=log)

    service = CollectorService(
        topics=topics,
        instance_id=instance_id,
        fetcher=FeedFetcher(http, fetch),
        emitter=TransactionalEmitter(
            settings, f"{settings.topic_prefix}newswatch-collector-{instance_id}", client_id=client_id
        ),
        store=PartitionStore(settings, topics, probe),
        membership_factory=membership,
        metrics=metrics,
        log=log.bind(instance=instance_id),
        concurrency=settings.collector_concurrency,
        per_host=settings.collector_per_host_concurrency,
        load_stall_timeout=settings.collector_transaction_timeout + 30.0,
    )
    endpoint = ServiceEndpoint(
        settings.collector_metrics_host, settings.collector_metrics_port, service.health, metrics.registry
    ).start()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, service.request_stop)
    log.info(
        "collector started",
        instance=instance_id,
        group=f"{settings.topic_prefix}newswatch-collectors",
        registry=topics.feeds,
        metrics_port=endpoint.port,
    )
    try:
        await service.run()
    except EmitterFatal as exc:
        log.error("collector stopped on a fatal error", error=str(exc))
        return 1
    except Exception as exc:
        log.error("collector stopped on a fatal error", error=f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        endpoint.close()
        await http.aclose()
        await loop.run_in_executor(None, probe.close)
    log.info("collector stopped", instance=instance_id)
    return 0
