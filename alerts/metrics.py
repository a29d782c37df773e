"""Prometheus metrics of the alerter, in a registry of their own (one per alerter, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.evaluations = Counter(
            "newswatch_alert_evaluations_total",
            "Rule evaluations, by rule and outcome (ok, error, unavailable)",
            ["rule", "outcome"],
            registry=self.registry,
        )
        self.fired = Counter(
            "newswatch_alerts_fired_total", "Alerts fired (created by this process)", ["rule"], registry=self.registry
        )
        self.deliveries = Counter(
            "newswatch_alert_deliveries_total",
            "Delivery attempts' outcomes by channel: sent, retry (failed, will retry), failed (gave up)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "newswatch_alert_evaluation_lag_seconds",
            "Now minus the time up to which the rule has been evaluated (grows while Elasticsearch is down)",
            ["rule"],
            registry=self.registry,
        )
        self.pass_seconds = Histogram(
            "newswatch_alert_pass_seconds",
            "Duration of one evaluation of every rule",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.notify_seconds = Histogram(
            "newswatch_alert_notify_seconds",
            "From the evaluation that fired to the channel's delivery",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
