"""The alerter: evaluate every rule each second, fire exactly once, deliver without blocking.

One evaluation (``evaluate_once``):
1. plan each rule's windows from its watermark (the time it was last evaluated until);
2. count them in Elasticsearch (one ``_msearch``; more rounds only for late articles and for rules with
   more groups than one page: a rule counts as evaluated only with every group read);
3. for each group whose window crosses outside the cooldown, create the next alert id with
   ``op_type=create`` — the process whose create succeeds owns the alert — and start its deliveries
   as background tasks (a slow or failing channel never delays the next evaluation);
4. move the watermarks forward, in memory and in Elasticsearch (only for rules evaluated and fired
   without error: a rule that failed is evaluated again from the same point, so nothing is skipped).

Beside it, housekeeping renews the leases of alerts this process is delivering and finishes the
deliveries of alerts whose owner stopped renewing (it crashed between firing and delivering).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from alerts.channels import Channel, Redactor
from alerts.delivery import DeliveryOutcome, DeliveryPolicy, Sender, build_sender, deliver
from alerts.document import FAILED, SENT, build_alert, chain_after, iso, unfinished_channels
from alerts.metrics import AlertMetrics, evaluation_lag_seconds
from alerts.rule import Rule
from alerts.store import AlertStore, Evaluated, EvaluationFailed, StoreUnavailable
from alerts.windows import ChainState, GroupSeries, Plan, first_crossing, plan_evaluation

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def print_stdout(text: str) -> None:
    print(text, flush=True)


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class AlerterConfig:
    interval: float = 1.0
    lookback_seconds: float = 21600.0
    kibana_url: str = "http://localhost:5601"
    kibana_data_view: str = "newswatch-news"
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    lease_seconds: float = 30.0  # a crashed deliverer's alerts are taken over after this
    housekeeping_interval: float = 5.0
    drain_timeout: float = 10.0  # on stop, how long in-flight deliveries may finish

    @classmethod
    def from_settings(cls, settings: Any) -> AlerterConfig:
        return cls(
            interval=settings.alerts_interval,
            lookback_seconds=settings.alerts_lookback,
            kibana_url=settings.alerts_kibana_url,
            kibana_data_view=settings.alerts_kibana_data_view,
            delivery=DeliveryPolicy(
                attempts=settings.alerts_delivery_attempts,
                backoff=settings.alerts_delivery_backoff,
                timeout=settings.alerts_delivery_timeout,
            ),
        )


class Alerter:
    def __init__(
        self,
        *,
        rules: Sequence[Rule],
        channels: Mapping[str, Channel],
        store: AlertStore,
        http: httpx.AsyncClient,
        log: Any,
        config: AlerterConfig | None = None,
        clock: Clock = utc_now,
        write: Callable[[str], None] = print_stdout,
        metrics: AlertMetrics | None = None,
        instance: str | None = None,
    ) -> None:
        self.rules = list(rules)
        self.store = store
        self.log = log
        self.config = config or AlerterConfig()
        self.clock = clock
        self.metrics = metrics or AlertMetrics()
        self.instance = instance or instance_name()
        self.redact = Redactor.of(channels.values())
        timeout = self.config.delivery.timeout
        self.senders: dict[str, Sender] = {
            name: build_sender(channel, http, timeout, write) for name, channel in channels.items()
        }
        self.watermarks: dict[str, int | None] = {}
        self.chains: dict[tuple[str, str | None], ChainState] = {}
        self.delivering: set[str] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = asyncio.Event()
        self.started = False
        self.last_success_ms: int | None = None
        self.unavailable: str | None = None
        self.rule_errors: dict[str, str] = {}
        self.running_since_ms = self.now_ms()
        for rule in self.rules:
            # Computed when scraped, not set after a pass: a pass that never completes (Elasticsearch
            # down, a hung request, a failing rule) must show as a growing lag, not as the last value.
            self.metrics.lag.labels(rule.name).set_function(lambda name=rule.name: self.evaluation_lag(name))

    # --- life cycle ----------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def evaluation_lag(self, rule_name: str) -> float:
        """Seconds from the newest article time the rule's last completed evaluation covered to now."""
        return evaluation_lag_seconds(self.now_ms(), self.watermarks.get(rule_name), self.running_since_ms)

    async def start(self) -> None:
        """Create the alert indices if missing, then load the watermarks (where each rule's evaluation
        stopped) so the first pass catches up."""
        self.running_since_ms = self.now_ms()
        # Before anything reads or writes them: left to the first alert, the index would be auto-created
        # with guessed mappings, and alerts of other groups fired in the same pass would read it while
        # its shard was still recovering (503) and be put off to the next pass.
        await self.store.ensure_indices()
        self.watermarks = await self.store.load_watermarks(self.rules)
        for rule in self.rules:
            if self.watermarks.get(rule.name) is None:
                self.log.info("rule starts fresh (new, or its counting changed): no catch-up", rule=rule.name)
        self.started = True

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        """Evaluate every ``interval`` until ``stop()``; then let deliveries finish for ``drain_timeout``."""
        if not self.started:
            await self.start()
        housekeeping = asyncio.create_task(self._housekeeping())
        try:
            while not self.stopping.is_set():
                began = asyncio.get_running_loop().time()
                await self.evaluate_once()
                elapsed = asyncio.get_running_loop().time() - began
                try:
                    await asyncio.wait_for(self.stopping.wait(), max(0.0, self.config.interval - elapsed))
                except TimeoutError:
                    pass
        finally:
            housekeeping.cancel()
            await self.drain(self.config.drain_timeout)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for in-flight deliveries (those still running after ``timeout`` are left to be taken over)."""
        pending = {task for task in self.tasks if not task.done()}
        if not pending:
            return
        done, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            task.cancel()

    def health(self) -> tuple[bool, dict[str, object]]:
        now = self.now_ms()
        stale_after_ms = max(10_000, 5_000 * self.config.interval)
        fresh = self.last_success_ms is not None and now - self.last_success_ms < stale_after_ms
        return fresh, {
            "rules": [rule.name for rule in self.rules],
            "last_evaluation": None if self.last_success_ms is None else iso(self.last_success_ms),
            "elasticsearch": self.unavailable or "ok",
            "failing_rules": dict(self.rule_errors),
            "delivering": len(self.delivering),
        }

    # --- evaluation ------------------------------------------------------------------------------
    async def evaluate_once(self) -> list[dict[str, Any]]:
        """Evaluate every rule once; returns the alerts this process fired (their deliveries run on)."""
        now_ms = self.now_ms()
        lookback_ms = int(self.config.lookback_seconds * 1000)
        plans = [plan_evaluation(r, now_ms, self.watermarks.get(r.name), lookback_ms) for r in self.rules]
        with self.metrics.pass_seconds.time():
            try:
                results = await self.store.evaluate(plans, lookback_ms)
            except StoreUnavailable as exc:
                self._store_down(str(exc))
                for plan in plans:
                    self.metrics.evaluations.labels(plan.rule.name, "unavailable").inc()
                return []
            fired: list[dict[str, Any]] = []
            advanced: dict[Rule, int] = {}
            outcomes = await asyncio.gather(*(self._evaluate_rule(result, now_ms) for result in results))
            for result, (rule_fired, ok) in zip(results, outcomes, strict=True):
                fired += rule_fired
                rule = result.rule if isinstance(result, EvaluationFailed) else result.plan.rule
                if ok:
                    self.watermarks[rule.name] = now_ms
                    advanced[rule] = now_ms
                self.metrics.evaluations.labels(rule.name, "ok" if ok else "error").inc()
        try:
            await self.store.save_watermarks(advanced, self.instance)
        except StoreUnavailable as exc:
            # Harmless: in memory they moved on; a restart would re-evaluate a little more, firing nothing twice.
            self.log.warning("could not save watermarks; will retry next evaluation", error=str(exc))
        if self.unavailable is not None:
            self.log.info("elasticsearch is answering again; evaluation resumed", was=self.unavailable)
            self.unavailable = None
        self.last_success_ms = now_ms
        return fired

    def _store_down(self, error: str) -> None:
        if self.unavailable is None:  # log the change, not every second of an outage
            self.log.warning("elasticsearch unavailable; retrying every interval, then catching up", error=error)
        self.unavailable = error

    async def _evaluate_rule(
        self, result: Evaluated | EvaluationFailed, now_ms: int
    ) -> tuple[list[dict[str, Any]], bool]:
        if isinstance(result, EvaluationFailed):
            if self.rule_errors.get(result.rule.name) != result.reason:  # once per new reason, not every second
                self.log.error(
                    "rule evaluation failed; retrying every interval", rule=result.rule.name, why=result.reason
                )
            self.rule_errors[result.rule.name] = result.reason
            return [], False
        if self.rule_errors.pop(result.plan.rule.name, None) is not None:
            self.log.info("rule evaluates again; catching up", rule=result.plan.rule.name)
        candidates = [
            series
            for series in result.result.series
            if first_crossing(result.plan, series, self.chains.get((result.plan.rule.name, series.group)))
        ]
        fires = await asyncio.gather(
            *(self._fire(result.plan, series, now_ms) for series in candidates), return_exceptions=True
        )
        fired = [doc for doc in fires if isinstance(doc, dict)]
        errors = [exc for exc in fires if isinstance(exc, BaseException)]
        for exc in errors:
            if not isinstance(exc, StoreUnavailable):
                raise exc  # a bug: crash rather than run on in an unknown state
            self.log.warning("could not fire; retrying next interval", rule=result.plan.rule.name, error=str(exc))
        return fired, not errors

    async def _fire(self, plan: Plan, series: GroupSeries, now_ms: int) -> dict[str, Any] | None:
        """Fire for this group if its crossing is outside the cooldown and no other process fired it first."""
        rule, key = plan.rule, (plan.rule.name, series.group)
        chain = self.chains.get(key)
        if chain is None:
            chain = self.chains[key] = await self.store.load_chain(rule.name, series.group)
        window = first_crossing(plan, series, chain)
        articles, articles_for = None, None
        while window is not None:
            if articles is None or articles_for != window:
                articles, articles_for = await self.store.window_articles(rule, window), window
            doc = build_alert(
                rule,
                window,
                articles,
                seq=chain.seq + 1,
                fired_at_ms=now_ms,
                fired_by=self.instance,
                targets={name: self._target(name) for name in rule.channels},
                lease_until_ms=self.now_ms() + int(self.config.lease_seconds * 1000),
                kibana_base=self.config.kibana_url,
                kibana_data_view=self.config.kibana_data_view,
            )
            if await self.store.create_alert(doc):
                self.chains[key] = chain_after(doc)
                self.metrics.fired.labels(rule.name).inc()
                self.log.info("alert fired", alert=doc["alert_id"], count=window.count, group=series.group)
                self._spawn(self._deliver_all(doc))
                self._spawn(self._save_hint(doc, now_ms))
                return doc
            # Another process created this id first: catch up with the chain, then decide again.
            chain = self.chains[key] = await self.store.load_chain(rule.name, series.group)
            window = first_crossing(plan, series, chain)
        return None

    async def _save_hint(self, doc: Mapping[str, Any], now_ms: int) -> None:
        await self._quietly(lambda: self.store.save_chain_hint(doc, self.instance, now_ms), "chain hint")

    def _target(self, channel: str) -> str:
        sender = self.senders.get(channel)
        return "not configured" if sender is None else sender.channel.target

    # --- delivery --------------------------------------------------------------------------------
    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver_all(self, doc: Mapping[str, Any]) -> None:
        self.delivering.add(doc["alert_id"])
        try:
            await asyncio.gather(*(self._deliver_channel(doc, name) for name in unfinished_channels(doc)))
            await self._quietly(lambda: self.store.finish(doc["alert_id"], self.now_ms()), "delivery state")
        finally:
            self.delivering.discard(doc["alert_id"])

    async def _deliver_channel(self, doc: Mapping[str, Any], name: str) -> None:
        alert = doc["alert_id"]
        sender = self.senders.get(name)

        async def failed_attempt(attempt: int, error: str, will_retry: bool) -> None:
            if will_retry:
                self.metrics.deliveries.labels(name, "retry").inc()
                self.log.warning("delivery failed; retrying", alert=alert, channel=name, attempt=attempt, error=error)
                entry = {"status": "retrying", "attempts": attempt, "error": error, "at": iso(self.now_ms())}
                await self._quietly(lambda: self.store.record_delivery(alert, name, entry), "delivery record")

        if sender is None:  # taken over from a process configured with a channel this one lacks
            outcome = DeliveryOutcome(name, FAILED, 0, f"channel {name!r} is not configured in {self.instance}")
        else:
            outcome = await deliver(sender, doc, self.config.delivery, self.redact, failed_attempt)
        self.metrics.deliveries.labels(name, outcome.status).inc()
        if outcome.status == SENT:
            fired_ms = int(datetime.fromisoformat(doc["fired_at"].replace("Z", "+00:00")).timestamp() * 1000)
            self.metrics.notify_seconds.labels(name).observe(max(0.0, (self.now_ms() - fired_ms) / 1000))
        else:
            self.log.error("delivery failed for good", alert=alert, channel=name, error=outcome.error)
        entry = {"status": outcome.status, "attempts": outcome.attempts, "error": outcome.error}
        entry["at"] = iso(self.now_ms())
        await self._quietly(lambda: self.store.record_delivery(alert, name, entry), "delivery record")

    async def _quietly(self, operation: Callable[[], Awaitable[Any]], what: str) -> None:
        """Bookkeeping writes: retried through short Elasticsearch blips, logged (never raised) after."""
        for attempt in range(4):
            try:
                await operation()
                return
            except StoreUnavailable as exc:
                if attempt == 3:
                    self.log.warning(f"could not record {what}", error=str(exc))
                    return
                await asyncio.sleep(0.5 * 2**attempt)

    async def _housekeeping(self) -> None:
        lease_ms = int(self.config.lease_seconds * 1000)
        while not self.stopping.is_set():
            now = self.now_ms()
            try:
                if self.delivering:
                    await self.store.renew_leases(sorted(self.delivering), self.instance, now + lease_ms)
                for doc in await self.store.claim_abandoned(now, self.instance, now + lease_ms):
                    if doc["alert_id"] not in self.delivering:
                        self.log.warning("finishing the deliveries of an abandoned alert", alert=doc["alert_id"])
                        self._spawn(self._deliver_all(doc))
            except StoreUnavailable as exc:
                self.log.warning("housekeeping could not reach elasticsearch", error=str(exc))
            interval = min(self.config.housekeeping_interval, self.config.lease_seconds / 3)
            try:
                await asyncio.wait_for(self.stopping.wait(), interval)
            except TimeoutError:
                pass
