"""Window counting and the decision to fire: pure functions over bucket counts and the alert chain.

Time is in epoch milliseconds. A rule's window of W seconds is evaluated as *hopping windows* by the
article's time (``published``): the time axis is cut into buckets of ``step`` seconds (about W/30,
aligned to the epoch, so every alerter process sees the same windows) and the window "ending with
bucket j" is buckets j-k+1 .. j (k = W/step). The last window, whose bucket holds *now*, is the live
window; it also takes articles stamped up to ``FUTURE_TOLERANCE_MS`` ahead (publishers' clocks run fast).

One evaluation (a ``Plan``) looks at every window that ends after the previous evaluation:
usually just the live window and the one that just closed; after downtime, every window since the
last evaluation (catch-up); after a late article (published long before it was indexed), every
window back to that article's bucket. Looking at a window twice is harmless: the cooldown rule in
``eligible`` never fires twice for the same crossing.

Cooldown, in one sentence: after an alert fired at time F, the next alert for that rule and group
needs a crossing window that ends at or after F + cooldown. So no window older than the newest alert
ever fires again (no floods after restarts or on late data), and one pass fires at most once per
group — catching up over hours of downtime sends one alert, not one per missed cooldown.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from alerts.rule import Rule

FUTURE_TOLERANCE_MS = 60_000


@dataclass(frozen=True)
class Bucket:
    count: int
    sources: frozenset[str] = frozenset()  # filled only for rules with min_sources > 1


@dataclass(frozen=True)
class GroupSeries:
    """The bucket counts of one group (``None``: the rule has no ``group_by``), keyed by bucket index."""

    group: str | None
    buckets: Mapping[int, Bucket]


@dataclass(frozen=True)
class ChainState:
    """The newest alert of a rule and group: its sequence number and when it fired (None: never)."""

    seq: int = 0
    fired_at_ms: int | None = None


@dataclass(frozen=True)
class WindowCount:
    group: str | None
    start_ms: int
    end_ms: int
    count: int
    sources: frozenset[str]
    live: bool  # the window holding now (it may still grow)


@dataclass(frozen=True)
class Plan:
    """What one evaluation of one rule looks at."""

    rule: Rule
    now_ms: int
    first_bucket: int  # the earliest window to evaluate, by its last bucket
    late_since_ms: int | None  # look for articles indexed since then that belong to older windows

    @property
    def step_ms(self) -> int:
        return self.rule.step_seconds * 1000

    @property
    def last_bucket(self) -> int:
        return self.now_ms // self.step_ms

    @property
    def range_start_ms(self) -> int:
        """Articles published from here on feed the evaluated windows."""
        return (self.first_bucket - self.rule.steps_per_window + 1) * self.step_ms

    @property
    def range_end_ms(self) -> int:
        return self.now_ms + FUTURE_TOLERANCE_MS

    @property
    def first_window_end_ms(self) -> int:
        return (self.first_bucket + 1) * self.step_ms


# Articles become searchable about a refresh interval after the indexer stamps `indexed`, and the
# indexer's clock may differ from ours: look this far behind the previous evaluation for late ones.
LATE_MARGIN_MS = 10_000


def plan_evaluation(rule: Rule, now_ms: int, evaluated_until_ms: int | None, lookback_ms: int) -> Plan:
    """The windows to look at now, given when this rule was last evaluated (None: never, or the rule changed)."""
    step_ms = rule.step_seconds * 1000
    last_bucket = now_ms // step_ms
    if evaluated_until_ms is None:
        # A new rule starts with the live window: nothing to catch up on, nothing stale to fire about.
        return Plan(rule, now_ms, last_bucket, None)
    since = max(evaluated_until_ms, now_ms - lookback_ms)
    first_bucket = min(last_bucket, since // step_ms)
    return Plan(rule, now_ms, first_bucket, max(since - LATE_MARGIN_MS, now_ms - lookback_ms))


def widen_for_late(plan: Plan, earliest_late_ms: int | None, lookback_ms: int) -> Plan | None:
    """The plan widened back to the bucket of the earliest late article, or None when none is older."""
    if earliest_late_ms is None:
        return None
    earliest = max(earliest_late_ms, plan.now_ms - lookback_ms)
    bucket = earliest // plan.step_ms
    if bucket >= plan.first_bucket:
        return None
    return replace(plan, first_bucket=bucket)


def windows(plan: Plan, series: GroupSeries) -> Iterator[WindowCount]:
    """Every evaluated window of one group, oldest first."""
    rule, step_ms, k = plan.rule, plan.step_ms, plan.rule.steps_per_window
    want_sources = rule.min_sources > 1
    future = [b for index, b in series.buckets.items() if index > plan.last_bucket]
    for last in range(plan.first_bucket, plan.last_bucket + 1):
        live = last == plan.last_bucket
        members = [series.buckets[i] for i in range(last - k + 1, last + 1) if i in series.buckets]
        if live:
            members += future
        count = sum(b.count for b in members)
        sources = frozenset().union(*(b.sources for b in members)) if want_sources and members else frozenset()
        yield WindowCount(
            group=series.group,
            start_ms=(last - k + 1) * step_ms,
            end_ms=plan.now_ms if live else (last + 1) * step_ms,
            count=count,
            sources=sources,
            live=live,
        )


def crosses(rule: Rule, window: WindowCount) -> bool:
    return window.count >= rule.threshold and (rule.min_sources <= 1 or len(window.sources) >= rule.min_sources)


def eligible(rule: Rule, window: WindowCount, chain: ChainState) -> bool:
    """A crossing window may fire unless it ends within the cooldown of the newest alert (or before it)."""
    if chain.fired_at_ms is None:
        return True
    return window.end_ms >= chain.fired_at_ms + rule.cooldown * 1000


def first_crossing(plan: Plan, series: GroupSeries, chain: ChainState | None) -> WindowCount | None:
    """The earliest window that crosses the threshold and is outside the cooldown (``chain`` None: unknown
    yet, so any crossing window is returned and the caller loads the chain before deciding)."""
    for window in windows(plan, series):
        if crosses(plan.rule, window) and (chain is None or eligible(plan.rule, window, chain)):
            return window
    return None


def peak(plan: Plan, series: GroupSeries) -> WindowCount | None:
    """The evaluated window with the most articles (for `alerts test` and for logs)."""
    return max(windows(plan, series), key=lambda w: (w.count, w.end_ms), default=None)
