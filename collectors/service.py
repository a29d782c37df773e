"""One collector replica: the asyncio shell around the pure core.

Threads and what they own:

- the **event loop** (this module): the scheduler (due feeds, polled concurrently within
  ``collector_concurrency`` overall and ``collector_per_host_concurrency`` per host), the committer
  (completed polls -> one Kafka transaction at a time, see ``batch`` and ``emitter``) and the
  ownership bookkeeping (``ownership.FeedTable``);
- the **membership thread** (``membership``): the consumer group. Its callbacks reach the loop as
  events handled one at a time, in order (``_handle_events``): assignment, registry records and
  revocation never interleave;
- one **Kafka worker thread** for the transactional producer, **loader threads** that read partition
  state, and the default executor for parsing.

On revocation (``rebalance``) the revoked feeds stop being polled and what they had in flight is
committed or dropped before the callback returns and the group hands the partitions on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kafka import TopicPartition

from collectors.batch import BatchPlan, CompletedPoll, plan_batch, poll_result
from collectors.emitter import EmitFailed, EmitterFatal, OwnershipLost, TransactionalEmitter
from collectors.fetch import FeedFetcher, utc_now
from collectors.layout import CollectorTopics
from collectors.membership import GroupMembership, MembershipListener, RegistryRecord
from collectors.metrics import CollectorMetrics
from collectors.ownership import FeedRuntime, FeedTable
from collectors.partition_state import PartitionStore
from collectors.poll import poll_feed
from collectors.rebalance import Rebalancer
from collectors.schedule import HostLimiter, due_feeds, lag_seconds, seconds_until_next_poll

REVOKE_WAIT = 5.0  # the revocation callback blocks the consumer's IO thread (heartbeats) at most this long
KAFKA_RETRY_DELAY = 5.0  # a poll whose transaction was aborted is repeated after this many seconds
COMMIT_LINGER = 0.01  # polls finishing within this window share a transaction
DRAIN_TIMEOUT = 10.0  # on SIGTERM, in-flight polls get this long; the next owner repeats the others

MembershipFactory = Callable[[MembershipListener], GroupMembership]


@dataclass(frozen=True)
class _Assigned:
    partitions: list[int]


@dataclass(frozen=True)
class _Revoked:
    partitions: list[int]
    done: concurrent.futures.Future[None]


@dataclass(frozen=True)
class _Records:
    records: list[RegistryRecord]


class CollectorService(MembershipListener):
    def __init__(
        self,
        *,
        topics: CollectorTopics,
        instance_id: str,
        fetcher: FeedFetcher,
        emitter: TransactionalEmitter,
        store: PartitionStore,
        membership_factory: MembershipFactory,
        metrics: CollectorMetrics,
        log: Any,
        concurrency: int = 64,
        per_host: int = 4,
        load_stall_timeout: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.topics, self.instance_id = topics, instance_id
        self._fetcher, self._emitter = fetcher, emitter
        self._membership_factory = membership_factory
        self._membership: GroupMembership | None = None
        self.metrics, self._log, self._clock = metrics, log, clock
        self._slots = asyncio.Semaphore(concurrency)
        self._hosts = HostLimiter(per_host)
        self.table = FeedTable(clock)
        self._completed: list[tuple[FeedRuntime, CompletedPoll]] = []
        self._events: asyncio.Queue[_Assigned | _Revoked | _Records] = asyncio.Queue()
        self._wake, self._work, self._stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._kafka = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="collector-kafka")
        self._rebalance = Rebalancer(
            self.table,
            store,
            metrics,
            log,
            commit_lock=self._commit_lock,
            commit_pending=self._commit_pending,
            wake_scheduler=self._wake.set,
            wake_committer=self._work.set,
            load_stall_timeout=load_stall_timeout,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.fatal: Exception | None = None
        self._commit_started: float | None = None

    # --- running ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Finish in-flight polls, commit them, leave the group (safe to call from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        """Run until ``request_stop``; raises the fatal error (EmitterFatal, ...) that stopped it, if any."""
        self._loop = asyncio.get_running_loop()
        await self._loop.run_in_executor(self._kafka, self._emitter.start)
        self._membership = self._membership_factory(self)
        self._membership.start()
        tasks = [asyncio.create_task(coro) for coro in (self._schedule(), self._commit_loop(), self._handle_events())]
        for task in tasks:
            task.add_done_callback(self._crash_if_failed)
        try:
            await self._stop.wait()
            self._stopping = True
            busy = [rt.task for rt in self.table.runtimes.values() if rt.task is not None and not rt.task.done()]
            self._log.info("stopping: finishing in-flight polls", in_flight=len(busy))
            if busy:
                await asyncio.wait(busy, timeout=DRAIN_TIMEOUT)
            async with self._commit_lock:
                await self._commit_pending()
            await asyncio.to_thread(self._membership.stop, 30.0)  # revokes (released via events), leaves
        finally:
            for task in tasks:
                task.cancel()
            for rt in self.table.runtimes.values():
                if rt.task is not None:
                    rt.task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.get_running_loop().run_in_executor(self._kafka, self._emitter.close)
            self._kafka.shutdown(wait=False)
            self._rebalance.close()
        if self.fatal is not None:
            raise self.fatal

    def _crash(self, error: Exception) -> None:
        self.fatal = self.fatal or error
        self._stop.set()

    def _crash_if_failed(self, task: asyncio.Task[None]) -> None:
        """A loop that died of a bug must stop the replica (and its feeds move on), not leave it half alive."""
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self._log.error("collector loop crashed", loop=task.get_coro().__name__, error=repr(error))
            self._crash(error)  # type: ignore[arg-type]

    # --- MembershipListener: called on kafka-python's threads -----------------------------------
    def _post(self, event: _Assigned | _Revoked | _Records) -> bool:
        try:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)
            return True
        except RuntimeError:  # the loop is closed: the process is ending
            return False

    def partitions_assigned(self, partitions: list[int]) -> None:
        self._post(_Assigned(partitions))

    def partitions_revoked(self, partitions: list[int]) -> None:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        if not self._post(_Revoked(partitions, done)):
            return
        try:
            done.result(timeout=REVOKE_WAIT)
        except concurrent.futures.TimeoutError:
            # The release goes on. A transaction of ours still in flight is fenced by the group generation,
            # and the new owner waits for it to resolve (high watermark) before it trusts its seen map.
            self._log.warning("releasing revoked partitions takes long", partitions=partitions, waited=REVOKE_WAIT)

    def registry_records(self, records: list[RegistryRecord]) -> None:
        self._post(_Records(records))

    def membership_failed(self, error: Exception) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._crash, error)

    async def _handle_events(self) -> None:
        while True:
            event = await self._events.get()
            if isinstance(event, _Assigned):
                self._rebalance.acquire(event.partitions)
            elif isinstance(event, _Records):
                self._rebalance.apply_registry(event.records)
            else:
                try:
                    await self._rebalance.release(event.partitions)
                except Exception as exc:  # contain it: the rebalance must go on
                    self._log.exception("releasing partitions failed", partitions=event.partitions, error=str(exc))
                finally:
                    event.done.set_result(None)

    # --- polling --------------------------------------------------------------------------------
    async def _schedule(self) -> None:
        while True:
            now = self._clock()
            idle = self.table.idle() if not self._stopping else {}
            for feed_id in due_feeds(idle, now):
                rt = self.table.runtimes[feed_id]
                rt.busy = True
                rt.task = asyncio.create_task(self._poll(rt))
                del idle[feed_id]
            wait = seconds_until_next_poll(idle, now)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait if wait is not None else 1.0, 1.0))
            except TimeoutError:
                pass

    async def _poll(self, rt: FeedRuntime) -> None:
        feed = rt.feed
        try:
            async with self._hosts.slot(feed.url), self._slots:
                if self._stopping or not self.table.pollable(rt):
                    rt.busy = False
                    return
                started, clock_start = self._clock(), time.monotonic()
                self.metrics.poll_started(rt.feed_id, lag_seconds(rt.memory.state, started))
                outcome = await poll_feed(feed, rt.memory.cursor, self._fetcher)
            finished = self._clock()
        except asyncio.CancelledError:
            rt.busy = False
            raise
        self.metrics.poll_finished(poll_result(outcome), outcome, time.monotonic() - clock_start)
        self._completed.append((rt, CompletedPoll(feed, rt.partition, rt.memory, outcome, started, finished)))
        self._work.set()

    # --- committing -----------------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while True:
            await self._work.wait()
            self._work.clear()
            await asyncio.sleep(COMMIT_LINGER)
            async with self._commit_lock:
                await self._commit_pending()

    async def _commit_pending(self) -> None:
        pending, self._completed = self._completed, []
        removed, self.table.status_tombstones = self.table.status_tombstones, []
        valid = [(rt, poll) for rt, poll in pending if self.table.current(rt)]
        for rt, _ in pending:
            if not self.table.current(rt):
                rt.busy = False  # released or removed meanwhile: the result is dropped, nothing written
        removed = [(p, fid) for p, fid in removed if self.table.is_loaded(p)]
        if not valid and not removed:
            return
        seen = {p: part.seen for p, part in self.table.partitions.items()}
        plan = plan_batch([poll for _, poll in valid], seen, self.topics, self.instance_id, removed=removed)
        offsets = {TopicPartition(self.topics.feeds, p): self.table.registry_offsets.get(p, 0) for p in plan.partitions}
        group = self._membership.group_metadata() if self._membership is not None else None
        self._commit_started = time.monotonic()
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._kafka, self._emitter.commit, plan.records, offsets, group
            )
        except EmitterFatal as exc:
            self._log.error("the collector cannot write to Kafka; stopping", error=str(exc))
            self._crash(exc)
        except EmitFailed as exc:
            lost = isinstance(exc, OwnershipLost)
            self.metrics.transactions.labels("ownership_lost" if lost else "aborted").inc()
            (self._log.info if lost else self._log.warning)(
                "transaction aborted; the polls will be repeated", polls=len(valid), error=str(exc)
            )
            self.table.retry_at([rt for rt, _ in valid], self._clock() + timedelta(seconds=KAFKA_RETRY_DELAY))
            self.table.status_tombstones.extend(removed)
        else:
            self.metrics.transactions.labels("committed").inc()
            self.metrics.commit_duration.observe(time.monotonic() - self._commit_started)
            self.table.apply(plan)
            self._report(plan)
        finally:
            self._commit_started = None
            for rt, _ in valid:
                rt.busy = False
            self._wake.set()

    def _report(self, plan: BatchPlan) -> None:
        """Metrics and log lines of what was committed: a feed's problem or failure once, not every poll."""
        for report in plan.reports:
            self.metrics.committed(report)
            where = {"feed_id": report.feed.feed_id, "url": report.feed.url}
            for problem in report.problems_to_log:
                self._log.warning("feed problem", **where, problem=problem.code, detail=problem.detail)
            failure = report.failure
            if failure is not None and report.failure_is_news:
                self._log.warning(
                    "feed poll failed",
                    **where,
                    kind=str(failure.kind),
                    status=failure.status_code,
                    error=failure.detail,
                    failures=report.memory.state.consecutive_failures,
                    next_poll_at=report.memory.state.next_poll_at.isoformat(),
                )
            elif report.recovered:
                self._log.info("feed recovered", **where)

    # --- observability --------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, object]]:
        """For ``/health``; runs on the endpoint's thread, so it only reads copies."""
        parts = list(self.table.partitions.values())
        runtimes = list(self.table.runtimes.values())
        membership = self._membership
        started = self._commit_started
        commit_age = time.monotonic() - started if started is not None else 0.0
        problems = []
        if self.fatal is not None:
            problems.append(f"fatal: {self.fatal}")
        if membership is None or not membership.alive:
            problems.append("not running a consumer-group member")
        elif membership.last_error:
            problems.append(f"consumer group: {membership.last_error}")
        if commit_age > 30.0:
            problems.append(f"a Kafka transaction has been pending for {commit_age:.0f} s")
        return not problems and not self._stopping, {
            "instance": self.instance_id,
            "problems": problems,
            "stopping": self._stopping,
            "partitions": sorted(part.number for part in parts if part.loaded),
            "loading_partitions": sorted(part.number for part in parts if not part.loaded),
            "owned_feeds": len(runtimes),
            "in_flight": sum(1 for rt in runtimes if rt.busy),
        }
