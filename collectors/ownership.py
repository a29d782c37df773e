"""The feed partitions a replica owns, the feeds in them and what it remembers about each feed.

Synchronous bookkeeping, used only on the service's event loop (``service`` does the waiting and
the Kafka calls). A feed is pollable only while its partition is owned, *loaded* (seen map and feed
status rebuilt from Kafka) and not being released; it is "busy" from the start of its poll until the
transaction holding the result has committed or aborted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from collectors.batch import BatchPlan, FeedMemory
from collectors.dedupe import SeenRecord
from collectors.feed_status import FeedStatus
from collectors.feeds import FeedConfig
from collectors.membership import RegistryRecord
from collectors.partition_state import Watermarks
from collectors.registry import RegistryRecordError, decode_feed
from collectors.schedule import FeedPollState


@dataclass
class OwnedPartition:
    number: int
    loaded: bool = False
    releasing: bool = False
    seen: dict[str, SeenRecord] = field(default_factory=dict)
    statuses: dict[str, FeedStatus] = field(default_factory=dict)
    registry: dict[str, FeedConfig] = field(default_factory=dict)  # its feeds, from the registry topic
    loader: asyncio.Task[None] | None = None
    cancel_load: threading.Event = field(default_factory=threading.Event)


@dataclass
class FeedRuntime:
    feed: FeedConfig
    partition: int
    memory: FeedMemory
    busy: bool = False
    task: asyncio.Task[None] | None = None
    feed_id: str = field(init=False)  # FeedConfig.feed_id hashes the URL on every access; this is hot

    def __post_init__(self) -> None:
        self.feed_id = self.feed.feed_id


@dataclass(frozen=True)
class KeptPartition:
    """State of a released partition, valid if its watermarks have not moved when it comes back."""

    seen: dict[str, SeenRecord]
    statuses: dict[str, FeedStatus]
    watermarks: Watermarks


@dataclass
class RegistryChanges:
    activated: list[str] = field(default_factory=list)
    removed: list[FeedRuntime] = field(default_factory=list)
    invalid: list[tuple[int, int, str]] = field(default_factory=list)  # partition, offset, error (new ones)


class FeedTable:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self.partitions: dict[int, OwnedPartition] = {}
        self.runtimes: dict[str, FeedRuntime] = {}
        self.kept: dict[int, KeptPartition] = {}
        self.registry_offsets: dict[int, int] = {}
        self.status_tombstones: list[tuple[int, str]] = []  # statuses of removed feeds, to write
        self._invalid_seen: set[tuple[int, int]] = set()

    # --- partitions ---------------------------------------------------------------------------
    def assign(self, numbers: Iterable[int]) -> tuple[list[int], dict[int, KeptPartition]]:
        """Own ``numbers``; returns the ones new to us and the kept state (only valid for this assignment)."""
        kept, self.kept = self.kept, {}
        fresh = [p for p in numbers if p not in self.partitions]
        for p in fresh:
            self.partitions[p] = OwnedPartition(p)
        return fresh, kept

    def loaded(self, p: int, seen: dict[str, SeenRecord], statuses: dict[str, FeedStatus]) -> bool:
        part = self.partitions.get(p)
        if part is None or part.releasing:
            return False
        part.seen, part.statuses, part.loaded, part.loader = seen, statuses, True, None
        for feed in part.registry.values():
            self._activate(part, feed)
        return True

    def start_release(self, numbers: Iterable[int]) -> list[OwnedPartition]:
        parts = [self.partitions[p] for p in numbers if p in self.partitions]
        for part in parts:
            part.releasing = True
        return parts

    def drop(self, parts: Iterable[OwnedPartition], marks: dict[int, Watermarks]) -> list[FeedRuntime]:
        """Forget released partitions (keeping the state of those with watermarks); returns their feeds."""
        numbers = set()
        for part in parts:
            numbers.add(part.number)
            if part.loaded and part.number in marks:
                self.kept[part.number] = KeptPartition(part.seen, part.statuses, marks[part.number])
            self.partitions.pop(part.number, None)
        gone = [rt for rt in self.runtimes.values() if rt.partition in numbers]
        for rt in gone:
            del self.runtimes[rt.feed_id]
        self.status_tombstones = [(p, fid) for p, fid in self.status_tombstones if p not in numbers]
        return gone

    def is_loaded(self, p: int) -> bool:
        part = self.partitions.get(p)
        return part is not None and part.loaded

    # --- the registry -------------------------------------------------------------------------
    def apply_registry(self, records: Iterable[RegistryRecord]) -> RegistryChanges:
        changes = RegistryChanges()
        for record in records:
            p = record.partition
            self.registry_offsets[p] = max(self.registry_offsets.get(p, 0), record.offset + 1)
            part = self.partitions.get(p)
            if part is None or part.releasing:
                continue  # not ours (any more): its owner reads it
            if record.value is None:
                self._remove(part, record.key, changes)
                continue
            try:
                feed = decode_feed(record.key, record.value)
            except RegistryRecordError as exc:
                if (p, record.offset) not in self._invalid_seen:  # re-read at every assignment: report once
                    self._invalid_seen.add((p, record.offset))
                    changes.invalid.append((p, record.offset, str(exc)))
                continue
            old = part.registry.get(feed.feed_id)
            part.registry[feed.feed_id] = feed
            if part.loaded and old != feed:
                self._activate(part, feed)
                changes.activated.append(feed.feed_id)
        return changes

    def _remove(self, part: OwnedPartition, feed_id: str, changes: RegistryChanges) -> None:
        part.registry.pop(feed_id, None)
        rt = self.runtimes.pop(feed_id, None)
        if rt is not None:
            changes.removed.append(rt)
        if part.loaded and feed_id in part.statuses:
            self.status_tombstones.append((part.number, feed_id))

    def _activate(self, part: OwnedPartition, feed: FeedConfig) -> None:
        rt = self.runtimes.get(feed.feed_id)
        if rt is None:
            status = part.statuses.get(feed.feed_id)
            memory = FeedMemory.from_status(status) if status else FeedMemory.fresh(feed.interval, self._clock())
            rt = self.runtimes[feed.feed_id] = FeedRuntime(feed, part.number, memory)
        rt.feed = feed
        state = rt.memory.state
        if not state.failing and state.last_success_at is not None:
            # An interval shortened in the feeds file applies now, not after the old interval.
            due = min(state.next_poll_at, state.last_success_at + timedelta(seconds=feed.interval))
            rt.memory = replace(rt.memory, state=replace(state, next_poll_at=due))

    # --- polling ------------------------------------------------------------------------------
    def pollable(self, rt: FeedRuntime) -> bool:
        part = self.partitions.get(rt.partition)
        return self.runtimes.get(rt.feed_id) is rt and part is not None and part.loaded and not part.releasing

    def idle(self) -> dict[str, FeedPollState]:
        return {fid: rt.memory.state for fid, rt in self.runtimes.items() if not rt.busy and self.pollable(rt)}

    def tasks_in(self, numbers: Iterable[int]) -> list[asyncio.Task[None]]:
        wanted = set(numbers)
        return [
            rt.task
            for rt in self.runtimes.values()
            if rt.partition in wanted and rt.task is not None and not rt.task.done()
        ]

    def current(self, rt: FeedRuntime) -> bool:
        """Is this still the runtime of a feed in a loaded partition (so its poll may be committed)?"""
        return self.runtimes.get(rt.feed_id) is rt and self.is_loaded(rt.partition)

    def apply(self, plan: BatchPlan) -> None:
        """After a commit: the seen map, the statuses and the feeds' memory move on."""
        for p, updates in plan.seen_updates.items():
            if p in self.partitions:
                self.partitions[p].seen.update(updates)
        for p, statuses in plan.statuses.items():
            part = self.partitions.get(p)
            if part is None:
                continue
            for feed_id, status in statuses.items():
                if status is None:
                    part.statuses.pop(feed_id, None)
                else:
                    part.statuses[feed_id] = status
        for report in plan.reports:
            rt = self.runtimes.get(report.feed.feed_id)
            if rt is not None:
                rt.memory = report.memory

    def retry_at(self, runtimes: Iterable[FeedRuntime], when: datetime) -> None:
        """After an aborted transaction: poll again at ``when``, the feed's own state unchanged."""
        for rt in runtimes:
            rt.memory = replace(rt.memory, state=replace(rt.memory.state, next_poll_at=when))
