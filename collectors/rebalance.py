"""Ownership changes of one replica: loading the state of assigned partitions, releasing revoked
ones, and applying the feed registry's records. Runs on the service's event loop.

Assigned: the new partitions' seen map and feed status are read from Kafka (``partition_state``) in a
loader thread; their feeds become pollable once loaded. A partition released in the previous
rebalance whose watermarks have not moved comes back with the state kept at release, unread.

Revoked: no new poll starts in the partitions; polls in flight get ``REVOKE_GRACE`` seconds to
finish, then what completed is committed (``commit_pending``), the rest cancelled; the state is kept
with the watermarks after that last commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from collectors.kafka_io import ReadCancelled
from collectors.membership import RegistryRecord
from collectors.metrics import CollectorMetrics
from collectors.ownership import FeedTable, KeptPartition
from collectors.partition_state import PartitionStore, Watermarks

REVOKE_GRACE = 2.0  # seconds in-flight polls get to finish when their partition is revoked


class Rebalancer:
    def __init__(
        self,
        table: FeedTable,
        store: PartitionStore,
        metrics: CollectorMetrics,
        log: Any,
        *,
        commit_lock: asyncio.Lock,
        commit_pending: Callable[[], Awaitable[None]],
        wake_scheduler: Callable[[], None],
        wake_committer: Callable[[], None],
        load_stall_timeout: float = 60.0,
    ) -> None:
        self.table, self._store, self.metrics, self._log = table, store, metrics, log
        self._commit_lock, self._commit_pending = commit_lock, commit_pending
        self._wake, self._work = wake_scheduler, wake_committer
        self._load_stall_timeout = load_stall_timeout
        self._loader = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="collector-loader")

    def close(self) -> None:
        self._loader.shutdown(wait=False, cancel_futures=True)

    def acquire(self, numbers: list[int]) -> None:
        self.metrics.rebalances.labels("assigned").inc()
        fresh, kept = self.table.assign(numbers)
        self._log.info("partitions assigned", partitions=numbers)
        if fresh:
            self._start_load(fresh, kept)
        self.refresh_gauges()

    def _start_load(self, numbers: list[int], kept: dict[int, KeptPartition]) -> None:
        cancel = threading.Event()  # stops the loader thread when the load task is cancelled
        task = asyncio.create_task(self._load(numbers, kept, cancel))
        for p in numbers:
            part = self.table.partitions[p]
            part.loader, part.cancel_load = task, cancel

    async def _load(self, numbers: list[int], kept: dict[int, KeptPartition], cancel: threading.Event) -> None:
        loop, started = asyncio.get_running_loop(), time.monotonic()
        try:
            candidates = [p for p in numbers if p in kept]
            if candidates:
                try:
                    current = await loop.run_in_executor(self._loader, self._store.watermarks, candidates)
                except Exception as exc:
                    self._log.warning("cannot check the kept partition state; reloading", error=str(exc))
                    current = {}
                reused = [p for p in candidates if current.get(p) == kept[p].watermarks]
                for p in reused:
                    self.table.loaded(p, kept[p].seen, kept[p].statuses)
                if reused:
                    self._log.info("partition state kept from before the rebalance", partitions=reused)
                    self._loaded_now()
            rest = [p for p in numbers if p in self.table.partitions and not self.table.partitions[p].loaded]
            delay = 1.0
            while rest:
                load = partial(self._store.load, rest, cancelled=cancel, stall_timeout=self._load_stall_timeout)
                try:
                    states, _ = await loop.run_in_executor(self._loader, load)
                except ReadCancelled:
                    return
                except Exception as exc:  # Kafka slow or away: these feeds wait, the others go on
                    self._log.warning("loading partition state failed; retrying", partitions=rest, error=str(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                for p, state in states.items():
                    if state.unreadable:
                        self._log.warning("unreadable state records ignored", partition=p, count=state.unreadable)
                    self.table.loaded(p, state.seen, state.statuses)
                self._log.info(
                    "partition state loaded",
                    partitions=rest,
                    seen=sum(len(state.seen) for state in states.values()),
                    feeds=sum(len(state.statuses) for state in states.values()),
                    seconds=round(time.monotonic() - started, 3),
                )
                self._loaded_now()
                return
        except asyncio.CancelledError:
            cancel.set()
            raise

    def _loaded_now(self) -> None:
        self.refresh_gauges()
        self._wake()

    async def release(self, numbers: list[int]) -> None:
        self.metrics.rebalances.labels("revoked").inc()
        parts = self.table.start_release(numbers)
        released = set(numbers)
        cancelled = {part.loader for part in parts if part.loader is not None}
        # A load shared with partitions that stay ours must be restarted for them.
        orphans = [p for p, part in self.table.partitions.items() if p not in released and part.loader in cancelled]
        for loader in cancelled:
            loader.cancel()
        in_flight = self.table.tasks_in(released)
        if in_flight:
            _, late = await asyncio.wait(in_flight, timeout=REVOKE_GRACE)
            for task in late:
                task.cancel()
        async with self._commit_lock:
            await self._commit_pending()
            loaded = [part.number for part in parts if part.loaded]
            marks: dict[int, Watermarks] = {}
            if loaded:
                try:
                    run = asyncio.get_running_loop().run_in_executor(self._loader, self._store.watermarks, loaded)
                    marks = await asyncio.wait_for(run, 2.0)
                except Exception:  # cannot prove the state unchanged later: it will be reloaded
                    marks = {}
            for rt in self.table.drop(parts, marks):
                if rt.task is not None:
                    rt.task.cancel()
                self.metrics.feed_gone(rt.feed_id)
        if orphans:
            self._start_load(orphans, {})
        self._log.info("partitions revoked", partitions=numbers, kept=sorted(marks))
        self.refresh_gauges()

    def apply_registry(self, records: list[RegistryRecord]) -> None:
        changes = self.table.apply_registry(records)
        for p, offset, error in changes.invalid:
            self.metrics.registry_errors.inc()
            self._log.error("invalid feed registry record skipped", partition=p, offset=offset, error=error)
        for rt in changes.removed:
            if rt.task is not None:
                rt.task.cancel()
            self.metrics.feed_gone(rt.feed_id)
            self._log.info("feed removed from the registry", feed_id=rt.feed_id, url=rt.feed.url)
        if self.table.status_tombstones:
            self._work()
        if changes.activated:
            self._wake()
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        parts = list(self.table.partitions.values())
        loaded = sum(1 for part in parts if part.loaded)
        self.metrics.owned_partitions.labels("loaded").set(loaded)
        self.metrics.owned_partitions.labels("loading").set(len(parts) - loaded)
        self.metrics.owned_feeds.set(len(self.table.runtimes))
