"""The live view of `newswatch run`: what flows through each stage, tags, and alerts as they fire.

The snapshot is read from the systems themselves — Kafka end offsets, Elasticsearch counts and the
alerts index, the collector's /metrics — so it shows what really happened, not what a process hopes.
Rates and rendering are pure functions of two snapshots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class AlertLine:
    fired_at: str
    rule: str
    group: str
    count: int
    headlines: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    at: float
    feeds_polled: float | None = None
    collected: int = 0  # records in news.raw
    tagged: int = 0  # records in news.tagged
    indexed: int = 0  # documents searchable in the alias
    tag_counts: dict[str, int] = field(default_factory=dict)
    alerts: tuple[AlertLine, ...] = ()
    alert_total: int = 0


def rate(before: float | None, after: float | None, seconds: float) -> float | None:
    if before is None or after is None or seconds <= 0:
        return None
    return max(0.0, (after - before) / seconds)


def render(previous: Snapshot | None, current: Snapshot, children: list[tuple[str, str]], events: list[str]) -> Group:
    seconds = current.at - previous.at if previous else 0.0
    flow = Table(title="flow", expand=True)
    for column in ("stage", "total", "per second"):
        flow.add_column(column, justify="right" if column != "stage" else "left")
    rows: list[tuple[str, float | None, float | None]] = [
        ("feeds polled", current.feeds_polled, rate(previous and previous.feeds_polled, current.feeds_polled, seconds)),
        ("collected (news.raw)", current.collected, rate(previous and previous.collected, current.collected, seconds)),
        ("tagged (news.tagged)", current.tagged, rate(previous and previous.tagged, current.tagged, seconds)),
        ("indexed (searchable)", current.indexed, rate(previous and previous.indexed, current.indexed, seconds)),
    ]
    for name, total, per_second in rows:
        flow.add_row(
            name, "-" if total is None else f"{total:,.0f}", "-" if per_second is None else f"{per_second:,.1f}"
        )

    tags = Table(title="articles per tag", expand=True)
    tags.add_column("tag")
    tags.add_column("articles", justify="right")
    for tag, count in sorted(current.tag_counts.items(), key=lambda kv: -kv[1]) or [("(none yet)", 0)]:
        tags.add_row(tag, f"{count:,}")

    services = Table(title="services", expand=True)
    services.add_column("service")
    services.add_column("state")
    for name, state in children:
        services.add_row(name, state)

    alert_lines = Text()
    for alert in current.alerts:
        group = f" [{alert.group}]" if alert.group else ""
        alert_lines.append(f"{alert.fired_at[11:19]}  {alert.rule}{group}: {alert.count} articles\n", style="bold red")
        for headline in alert.headlines[:3]:
            alert_lines.append(f"    · {headline}\n")
    if not current.alerts:
        alert_lines.append("no alert yet", style="dim")
    recent = Text("\n".join(events[-5:]) or "-", style="yellow")
    return Group(
        flow,
        tags,
        Panel(alert_lines, title=f"alerts ({current.alert_total})"),
        services,
        Panel(recent, title="supervisor"),
    )


class SnapshotReader:
    """Reads a Snapshot from Kafka, Elasticsearch and the collector's metrics endpoint."""

    def __init__(
        self,
        *,
        consumer: Any,
        es: Any,
        raw_topic: str,
        tagged_topic: str,
        alias: str,
        alerts_index: str,
        collector_metrics_url: str | None,
    ) -> None:
        self.consumer = consumer
        self.es = es
        self.raw_topic = raw_topic
        self.tagged_topic = tagged_topic
        self.alias = alias
        self.alerts_index = alerts_index
        self.collector_metrics_url = collector_metrics_url
        # The collector's counter restarts at 0 with the collector: carry the total over restarts.
        self._articles_base = 0.0
        self._articles_last = 0.0

    def read(self) -> Snapshot:
        polls, articles = self._collector_counters()
        if articles is not None:
            if articles < self._articles_last:  # the collector was restarted
                self._articles_base += self._articles_last
            self._articles_last = articles
        return Snapshot(
            at=time.monotonic(),
            feeds_polled=polls,
            # The collector's own count (topic offsets would also count transaction markers); kept
            # after the collector has stopped, for the summary.
            collected=int(self._articles_base + self._articles_last),
            tagged=self._records(self.tagged_topic),
            indexed=self._count(self.alias),
            tag_counts=self._tag_counts(),
            alerts=self._alerts(),
            alert_total=self._count(self.alerts_index),
        )

    def _records(self, topic: str) -> int:
        from kafka import TopicPartition

        try:
            partitions = self.consumer.partitions_for_topic(topic) or set()
            ends = self.consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            begins = self.consumer.beginning_offsets(list(ends))
            return sum(ends[tp] - begins[tp] for tp in ends)
        except Exception:  # noqa: BLE001 - a live view must not die with the broker; it shows 0 meanwhile
            return 0

    def _count(self, index: str) -> int:
        try:
            return int(self.es.count(index=index)["count"])
        except Exception:  # noqa: BLE001 - index not created yet, or ES restarting
            return 0

    def _tag_counts(self) -> dict[str, int]:
        try:
            response = self.es.search(index=self.alias, size=0, aggs={"tags": {"terms": {"field": "tags", "size": 20}}})
            return {b["key"]: b["doc_count"] for b in response["aggregations"]["tags"]["buckets"]}
        except Exception:  # noqa: BLE001
            return {}

    def _alerts(self) -> tuple[AlertLine, ...]:
        try:
            response = self.es.search(index=self.alerts_index, size=5, sort=[{"fired_at": "desc"}])
        except Exception:  # noqa: BLE001
            return ()
        lines = []
        for hit in response["hits"]["hits"]:
            doc = hit["_source"]
            headlines = tuple(f"{a.get('source', '')}: {a.get('title', '')}" for a in doc.get("top_articles", []))
            lines.append(
                AlertLine(
                    doc.get("fired_at", ""),
                    doc.get("rule", ""),
                    doc.get("group") or "",
                    int(doc.get("count", 0)),
                    headlines,
                )
            )
        return tuple(lines)

    def _collector_counters(self) -> tuple[float | None, float | None]:
        if not self.collector_metrics_url:
            return None, None
        try:
            text = httpx.get(self.collector_metrics_url, timeout=1.0).text
        except httpx.HTTPError:
            return None, None
        return counter_total(text, "polls"), counter_total(text, "articles")


def counter_total(text: str, family_suffix: str) -> float | None:
    """Sum of a collector counter (``newswatch_collector_<suffix>_total``) over its labels, from /metrics text."""
    total = None
    for family in text_string_to_metric_families(text):
        if family.name == f"newswatch_collector_{family_suffix}" and family.type == "counter":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    total = (total or 0.0) + sample.value
    return total


def status_line(previous: Snapshot | None, current: Snapshot) -> str:
    """The live view as one line, for a terminal that is not interactive (a log, CI)."""
    seconds = current.at - previous.at if previous else 0.0
    per_second = rate(previous and previous.indexed, current.indexed, seconds)
    tags = ", ".join(f"{tag} {count}" for tag, count in sorted(current.tag_counts.items())) or "no tags yet"
    return (
        f"polled {current.feeds_polled or 0:.0f} · collected {current.collected} · tagged {current.tagged} · "
        f"indexed {current.indexed} ({per_second or 0:.1f}/s) · {tags} · alerts {current.alert_total}"
    )
