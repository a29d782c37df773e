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
        # Read at scrape time (see Alerter), so it keeps growing while no evaluation completes.
        self.lag = Gauge(
            "newswatch_alert_evaluation_lag_seconds",
            "Seconds from the newest article time the rule's last completed evaluation covered to now: "
            "about the evaluation interval while healthy; grows while Elasticsearch is down, the rule fails "
            "or the alerter is stuck",
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


def evaluation_lag_seconds(now_ms: int, evaluated_until_ms: int | None, running_since_ms: int) -> float:
    """How far behind now a rule's evaluation is: now minus the time up to which it was last evaluated
    completely (its watermark), or minus ``running_since_ms`` when it never was (a new or changed rule)."""
    reference = running_since_ms if evaluated_until_ms is None else evaluated_until_ms
    return max(0.0, (now_ms - reference) / 1000)
