"""Which partitions the streams worker re-reads from their beginning after a rebalance."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from faust.types import TP, Message

from newswatch.settings import Settings
from streams.kafka_transport import (
    ReadOffsets,
    ReplayingConsumer,
    ReplayingTransport,
    commit_point,
    never_committed,
)


def committing(topic: str) -> bool:
    return topic == "news.raw"


def test_partitions_without_a_committed_offset_are_replayed_whatever_aiokafka_calls_none() -> None:
    committed = {
        TP("news.raw", 0): None,
        TP("news.raw", 1): -1,
        TP("news.raw", 2): 0,
        TP("news.raw", 3): 115,
    }
    assert never_committed(committed, committing) == [TP("news.raw", 0), TP("news.raw", 1), TP("news.raw", 2)]


def test_changelog_partitions_are_left_to_faust_recovery() -> None:
    committed = {TP("app-seen-changelog", 0): None, TP("news.raw", 0): 7}
    assert never_committed(committed, committing) == []


def test_the_streams_app_consumes_through_the_replaying_transport(tmp_path: Path) -> None:
    from streams.app import create_app

    app = create_app(Settings(state_dir=tmp_path), processor=cast(Any, object()), web_port=16066)
    assert isinstance(app.transport, ReplayingTransport)


P0 = TP("news.raw", 0)


def test_commit_point_is_the_end_of_the_first_unbroken_run() -> None:
    assert commit_point([5, 6, 7, 9, 10], start=5) == 8
    assert commit_point([5, 6, 7], start=5) == 8


def test_commit_point_waits_for_a_record_missing_at_the_head() -> None:
    # Records 0..2 were dropped in a rebalance and not processed yet: committing 10 would lose them.
    assert commit_point([3, 4, 5, 6, 7, 8, 9], start=0) is None
    # One offset is a transaction's control record, which no consumer ever sees.
    assert commit_point([1, 2, 3], start=0) == 4


def test_commit_point_needs_to_know_where_reading_began() -> None:
    # A never-committed partition whose start is unknown: nothing is committed rather than a guess.
    assert commit_point([1, 2, 3], start=None) is None
    assert commit_point([], start=0) is None


def test_commit_point_stops_below_a_skipped_record() -> None:
    # Faust's stream skipped offset 7 in a rebalance and acked it; it must be processed first.
    assert commit_point([5, 6, 8, 9], start=5, skipped=[7]) == 7
    assert commit_point([5, 6, 8, 9], start=5, skipped=[5]) is None
    # Skipped records below the committed offset are history.
    assert commit_point([5, 6], start=5, skipped=[2]) == 7


def test_read_offsets_report_nothing_until_the_reread_after_a_seek_begins() -> None:
    offsets = ReadOffsets()
    offsets[P0] = 40  # delivered up to 40
    offsets.update({P0: 10})  # Faust seeks back to the committed offset 10
    assert offsets[P0] is None and offsets.starts[P0] == 10
    offsets[P0] = 41  # a record fetched before the seek, delivered after it
    assert offsets[P0] is None  # so the re-read 10..40 is not dropped, nor 11..40 counted as done
    offsets[P0] = 10  # the re-read has begun
    assert offsets[P0] == 10
    offsets[P0] = 11
    assert offsets[P0] == 11


def test_read_offsets_accept_a_control_record_at_the_seek_target() -> None:
    offsets = ReadOffsets()
    offsets.update({P0: 10})
    offsets[P0] = 11  # offset 10 held the previous transaction's commit marker
    assert offsets[P0] == 11


def test_read_offsets_of_a_revoked_partition_are_forgotten() -> None:
    offsets = ReadOffsets()
    offsets.update({P0: 10})
    assert offsets.pop(P0) == 10
    assert offsets[P0] is None and P0 not in offsets.starts


def record(offset: int, topic: str = "test.news.raw") -> Message:
    return Message(topic, 0, offset, 0.0, 0, None, b"k", b"v", None)


def test_the_consumer_commits_only_what_the_agent_processed(tmp_path: Path) -> None:
    from streams.app import create_app

    app = create_app(Settings(state_dir=tmp_path, topic_prefix="test."), processor=cast(Any, object()), web_port=16067)
    consumer = app.consumer
    assert isinstance(consumer, ReplayingConsumer)
    tp = TP("test.news.raw", 0)
    app.topics._acking_topics.add(tp.topic)  # what the conductor does when the worker subscribes
    consumer._read_offset.update({tp: 0})  # where reading began: the partition's start
    for offset in (0, 1, 2, 4, 5):
        message = record(offset)
        consumer.mark_processed(message)
        consumer.ack(message)
    consumer.ack(record(3))  # skipped by Faust's stream in a rebalance: acked, never processed
    assert consumer._new_offset(tp) == 3
    consumer._committed_offset[tp] = 3  # what Faust records once Kafka took the commit
    assert consumer._new_offset(tp) is None  # 3 must be processed before anything above it counts

    again = record(3)  # the re-read after the rebalance's seek
    consumer.mark_processed(again)
    consumer.ack(again)
    assert consumer._new_offset(tp) == 6
