"""The collector's Prometheus metrics, in a registry of their own (one per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collectors.batch import FeedReport, PollResult
from collectors.poll import PollOutcome

_PREFIX = "newswatch_collector_"
_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            _PREFIX + "polls",
            "Feed polls, by result: fetched, not_modified, unchanged, failed.",
            ["result"],
            registry=r,
        )
        self.not_modified = Counter(_PREFIX + "not_modified", "Polls answered 304 Not Modified.", registry=r)
        # status: the HTTP status of an http_status failure ("" otherwise), so a 404 (the feed moved) is
        # told from a 500 (the server is down); a bounded set of three-digit codes.
        self.errors = Counter(
            _PREFIX + "errors", "Failed polls, by error kind and HTTP status.", ["kind", "status"], registry=r
        )
        self.entries = Counter(_PREFIX + "entries", "Feed entries parsed.", registry=r)
        self.articles = Counter(
            _PREFIX + "articles", "Articles emitted to news.raw, by decision: new, changed.", ["decision"], registry=r
        )
        self.bytes = Counter(_PREFIX + "bytes", "Feed body bytes received.", registry=r)
        # code: the whole problem code ("date:future", "bozo:CharacterEncodingOverride"), not just its
        # family, so a charset remark is told from a broken document; codes are a small closed set.
        self.feed_problems = Counter(
            _PREFIX + "feed_problems", "Feed problems logged (once per feed), by code.", ["code"], registry=r
        )
        self.feed_lag = Gauge(
            _PREFIX + "feed_lag_seconds",
            "How late the last poll of a feed started, compared with its schedule.",
            ["feed_id"],
            registry=r,
        )
        self.poll_lag = Histogram(
            _PREFIX + "poll_lag_seconds",
            "How late polls start, compared with their schedule.",
            buckets=_SECONDS,
            registry=r,
        )
        self.poll_duration = Histogram(
            _PREFIX + "poll_duration_seconds", "Fetch and parse time of one poll.", buckets=_SECONDS, registry=r
        )
        self.owned_feeds = Gauge(_PREFIX + "owned_feeds", "Feeds this replica polls.", registry=r)
        self.owned_partitions = Gauge(
            _PREFIX + "owned_partitions", "Feed partitions assigned to this replica, by phase.", ["phase"], registry=r
        )
        self.transactions = Counter(
            _PREFIX + "transactions",
            "Kafka transactions, by result: committed, aborted, ownership_lost.",
            ["result"],
            registry=r,
        )
        self.commit_duration = Histogram(
            _PREFIX + "commit_seconds", "Duration of one Kafka transaction.", buckets=_SECONDS, registry=r
        )
        self.rebalances = Counter(
            _PREFIX + "rebalance_events", "Partition assignments and revocations.", ["event"], registry=r
        )
        self.registry_errors = Counter(
            _PREFIX + "registry_invalid_records", "Records of the feed registry that are not valid feeds.", registry=r
        )

    def poll_finished(self, result: PollResult, outcome: PollOutcome, seconds: float) -> None:
        self.polls.labels(str(result)).inc()
        self.poll_duration.observe(seconds)
        self.bytes.inc(outcome.bytes_received)
        if result is PollResult.NOT_MODIFIED and getattr(outcome.fetch, "status_code", 304) == 304:
            self.not_modified.inc()
        failure = outcome.failure
        if failure is not None:
            status = str(failure.status_code) if failure.status_code is not None else ""
            self.errors.labels(str(failure.kind), status).inc()
        if outcome.parsed is not None:
            self.entries.inc(outcome.parsed.entry_count)

    def poll_started(self, feed_id: str, lag: float) -> None:
        self.feed_lag.labels(feed_id).set(lag)
        self.poll_lag.observe(lag)

    def committed(self, report: FeedReport) -> None:
        for decision, count in report.decisions.items():
            if decision != "unchanged" and count:
                self.articles.labels(str(decision)).inc(count)
        for problem in report.problems_to_log:
            self.feed_problems.labels(problem.code).inc()

    def feed_gone(self, feed_id: str) -> None:
        try:
            self.feed_lag.remove(feed_id)
        except KeyError:
            pass  # never polled here
