"""Faust's aiokafka transport, with the fixes at-least-once depends on.

faust-streaming 0.15 can commit an offset past a record its agent never processed. Our SIGKILL test
caught it (a restarted worker lost one article in about one run in five); reading the consumer
showed four ways in, all around a rebalance:

1. During a rebalance Faust's stream *skips* records that arrive while the flow is suspended or
   that were fetched in an older generation, and acks them anyway "so that the lag does not grow".
   A later commit then includes them. -> Here a record is acked only once the agent has marked it
   processed (``mark_processed``); the others are remembered as skipped, and no commit passes the
   lowest skipped offset until that record has been processed.
2. Faust relies on seeking every partition back to its committed offset after a rebalance to
   re-read what it dropped. aiokafka's ``seek_to_committed`` does not seek a partition this group
   has never committed, so it keeps the position where the dropped records left it. -> Those
   partitions are sought to their beginning (what ``auto_offset_reset="earliest"`` means for them).
3. Faust's check that acked offsets start at the committed one (``_new_offset``) is off when there
   is no committed offset. -> The commit point is computed by ``commit_point`` against the
   committed offset, or for a never-committed partition against where it was sought to.
4. After a seek, the fetch loop may still deliver records fetched before it and take their
   offsets as the partition's read position: the re-read records below are then dropped as
   "already read", and the offsets between the seek target and the stale record are counted as
   done. -> The flow is stopped before the seek (ending the batch being delivered), and
   ``ReadOffsets`` reports no read position until the re-read has begun.

Replays cost nothing: the seen table tells a replay from a duplicate and every downstream write is
idempotent. The pattern is faust-streaming issues #216 and #221.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode.utils.futures import notify

# A transactional producer writes one control record (the commit or abort marker) after each
# transaction's records on every partition it wrote to. Consumers never see it, so between two
# records that were read one after the other, or between the committed offset and the first record
# after it, a hole of one offset is normal. Faust tolerates the same.
CONTROL_RECORD_SLACK = 1


def never_committed(committed: Mapping[TP, int | None], committing_topic: Callable[[str], bool]) -> list[TP]:
    """Partitions of topics whose offsets are committed, that have no committed offset yet.

    aiokafka reports "none" as ``None`` or ``-1``, and does not seek to 0 either.
    """
    return sorted(
        (tp for tp, offset in committed.items() if (offset is None or offset <= 0) and committing_topic(tp.topic)),
        key=lambda tp: (tp.topic, tp.partition),
    )


def commit_point(done: list[int], start: int | None, skipped: Iterable[int] = ()) -> int | None:
    """The offset to commit, or None: the end of the first unbroken run of done offsets.

    ``done`` is sorted: offsets processed (or known to hold no record). ``start`` is the next
    offset to read (the committed offset, or where a never-committed partition was sought to);
    None means unknown, and then nothing is committed. A run may not begin more than
    ``CONTROL_RECORD_SLACK`` above ``start`` and may not reach a skipped offset.
    """
    if not done or start is None or done[0] > start + CONTROL_RECORD_SLACK:
        return None
    end = done[0]
    for offset in done[1:]:
        if offset != end + 1:
            break
        end = offset
    pending = [offset for offset in skipped if offset >= start]
    if pending:
        end = min(end, min(pending) - 1)
    return end + 1 if end >= done[0] else None


class ReadOffsets(dict[TP, int | None]):
    """Faust's read position per partition, as its fetch loop sees it.

    The fetch loop drops a record below the position as a re-fetch, and takes a jump above it as
    offsets that hold no record (control records) and counts them as done. Both are wrong right
    after a seek, while records fetched before the seek are still being delivered: the re-read
    records would be dropped, and the offsets between the seek target and a stale record would be
    counted as done. So after Faust's seek (which stores positions with ``update``), reading the
    position gives None - deliver everything, infer nothing - until the re-read has begun (a record
    at the seek target is delivered). Duplicates cost nothing downstream; lost records would.
    The seek targets are kept as ``starts``: where each partition's reading began.
    """

    def __init__(self) -> None:
        super().__init__()
        self.starts: dict[TP, int | None] = {}
        self._awaiting_reread: dict[TP, int] = {}

    def __missing__(self, tp: TP) -> None:
        return None

    def __getitem__(self, tp: TP) -> int | None:
        if tp in self._awaiting_reread:
            return None
        return super().__getitem__(tp)

    def update(self, offsets: Any = (), /, **_: Any) -> None:  # type: ignore[override]
        for tp, offset in dict(offsets).items():
            super().__setitem__(tp, offset)
            self.starts[tp] = offset
            if offset is None:
                self._awaiting_reread.pop(tp, None)
            else:
                self._awaiting_reread[tp] = offset

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        target = self._awaiting_reread.get(tp)
        if target is not None and (offset is None or offset <= target + CONTROL_RECORD_SLACK):
            del self._awaiting_reread[tp]
        super().__setitem__(tp, offset)

    def pop(self, tp: TP, default: Any = None) -> Any:  # type: ignore[override]
        self._awaiting_reread.pop(tp, None)
        self.starts.pop(tp, None)
        return super().pop(tp, default)


# Faust hard-codes a 1.5 s fetch wait. A fetch that covers only partitions with nothing new (the
# news.raw partitions paused because the agent's buffer is full, the changelogs caught up) then
# holds the consumer for up to 1.5 s after the agent has drained its buffer. A worker whose agent
# only produced its three records per article ran at 1,246 articles/s using 0.56 of a core; at
# 100 ms, 2,160-2,717/s (bench/pipeline_stages.py with a stub processor). 100 ms costs an idle
# worker ten empty fetches a second.
FETCH_MAX_WAIT_MS = 100


class ReplayingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by aiokafka when the consumer starts (it builds its Fetcher then); not a constructor
        # argument Faust lets us pass.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = dict(await super().seek_to_committed())
        fresh = never_committed(committed, self.app.topics.acks_enabled_for)
        if fresh:
            consumer = self._ensure_consumer()
            await self.call_thread(consumer.seek_to_beginning, *fresh)
            for tp in fresh:
                committed[tp] = await self.call_thread(consumer.position, tp)
            self.log.info("Never-committed partitions read from their beginning: %r", committed_of(fresh, committed))
        return committed


def committed_of(tps: list[TP], committed: Mapping[TP, int]) -> dict[str, int]:
    return {f"{tp.topic}[{tp.partition}]": committed[tp] for tp in tps}


class ReplayingConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = ReadOffsets()
        self._processed: set[tuple[TP, int]] = set()
        self._skipped: defaultdict[TP, set[int]] = defaultdict(set)

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ReplayingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        # Records the fetch loop pulled before the seek must not be delivered after it (they would
        # move the read position past the re-read). Stopping the flow ends the batch being
        # delivered; every caller of perform_seek resumes the flow afterwards.
        self.stop_flow()
        await super().perform_seek()

    def mark_processed(self, message: Message) -> None:
        """The agent has finished with this record: its ack may count toward a commit."""
        self._processed.add((message.tp, message.offset))
        self._skipped[message.tp].discard(message.offset)

    def ack(self, message: Message) -> bool:
        key = (message.tp, message.offset)
        if key in self._processed:
            self._processed.discard(key)
            return bool(super().ack(message))
        if not self.app.topics.acks_enabled_for(message.topic):
            return bool(super().ack(message))
        # Skipped by the stream during a rebalance: released, but not done.
        if not message.acked:
            message.acked = True
            self._unacked_messages.discard(message)
            committed = self._committed_offset[message.tp]
            if committed is None or message.offset >= committed:
                self._skipped[message.tp].add(message.offset)
            notify(self._waiting_for_ack)
        return False

    def _new_offset(self, tp: TP) -> int | None:
        done = self._acked[tp]
        if not done:
            return None
        self._count_gaps_as_done(tp, done)
        done.sort()
        start = self._committed_offset[tp] or self._read_offset.starts.get(tp)  # type: ignore[attr-defined]
        point = commit_point(done, start, self._skipped.get(tp, ()))
        if point is None:
            return None
        committed_now = [offset for offset in done if offset < point]
        del done[: len(committed_now)]
        self._acked_index[tp].difference_update(committed_now)
        self._skipped[tp] = {offset for offset in self._skipped.get(tp, ()) if offset >= point}
        return point

    def _count_gaps_as_done(self, tp: TP, done: list[int]) -> None:
        # Faust records, as intervals, offsets it saw no record at between two records read one
        # after the other (control records); they count as done once a later record is.
        gaps = self._gap[tp]
        if not gaps:
            return
        highest = max(done)
        below = sorted(gaps.overlap(0, highest), key=lambda interval: interval.begin)
        if below:
            filled = [offset for interval in below for offset in range(interval.begin, interval.end)]
            done.extend(filled)
            gaps.chop(0, max(filled[-1], highest + 1))


class ReplayingTransport(faust_aiokafka.Transport):
    Consumer = ReplayingConsumer


class NewswatchFaustApp(faust.App):
    """A Faust app whose consumer uses ``ReplayingTransport`` (producers keep Faust's own)."""

    def _new_transport(self) -> Any:
        return ReplayingTransport(self.conf.broker_consumer, self)
