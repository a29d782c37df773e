"""Elasticsearch request bodies for evaluating rules, and the parsing of their answers: pure.

Per rule and evaluation, one search counts matching articles per group and per time bucket (a
``composite`` aggregation on the group field over a ``date_histogram`` on ``published``); a second,
tiny one finds late articles (indexed recently, published before the evaluated range). Both go in
one ``_msearch`` for all rules, so an evaluation of every rule is one round trip as long as each
grouped rule has at most ``GROUPS_PER_PAGE`` groups with matching articles in the evaluated range;
beyond that the following pages are fetched (``after``) before the rule counts as evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.rule import MAX_MIN_SOURCES, Rule
from alerts.windows import FUTURE_TOLERANCE_MS, Bucket, GroupSeries, Plan, WindowCount

# Groups per page of a grouped rule's count. A composite aggregation, not `terms`: it pages through
# every group exactly (terms is approximate across shards and cannot page), so a catch-up over many
# groups never skips a crossing one. Composite has no min_doc_count; groups with fewer than
# `threshold` articles in the range are dropped when the answer is parsed.
GROUPS_PER_PAGE = 500
# Elasticsearch refuses an aggregation answer of more than `search.max_buckets` buckets (65,536 by
# default), counting every group's histogram buckets. A live evaluation spans one window (~30 buckets
# a group), but a catch-up spans up to the lookback (6 h of 30 s steps: 720 a group), so a page of
# 500 groups could pass the limit, and the rule would fail every pass while its lag grew. Pages are
# sized so their groups' buckets stay within this budget, leaving room for the `sources` lists.
BUCKET_BUDGET = 20_000
TOP_ARTICLES = 5
LISTED_SOURCES = 20


def query_clause(rule: Rule) -> dict[str, Any]:
    # No `fields`: unprefixed words search every field, exactly as Kibana's Lucene bar does, so the
    # Discover link in an alert shows what the alerter counted.
    return {"query_string": {"query": rule.query, "analyze_wildcard": True}}


def _published(gte_ms: int, lt_ms: int | None = None, lte_ms: int | None = None) -> dict[str, Any]:
    bounds: dict[str, Any] = {"gte": gte_ms, "format": "epoch_millis"}
    if lt_ms is not None:
        bounds["lt"] = lt_ms
    if lte_ms is not None:
        bounds["lte"] = lte_ms
    return {"range": {"published": bounds}}


def groups_per_page(plan: Plan, limit: int = GROUPS_PER_PAGE) -> int:
    """How many groups one page of ``plan``'s count may hold: ``limit``, fewer when each group may have
    many buckets (a long catch-up), at least one."""
    buckets_per_group = (plan.range_end_ms - plan.range_start_ms) // plan.step_ms + 1
    return max(1, min(limit, BUCKET_BUDGET // buckets_per_group))


def histogram_search(
    plan: Plan, *, after: Mapping[str, Any] | None = None, page_size: int = GROUPS_PER_PAGE
) -> dict[str, Any]:
    """One rule's bucket counts; for a grouped rule one page of groups, starting after ``after`` (None: the first)."""
    rule = plan.rule
    histogram: dict[str, Any] = {
        "date_histogram": {"field": "published", "fixed_interval": f"{rule.step_seconds}s", "min_doc_count": 1}
    }
    if rule.min_sources > 1:
        histogram["aggs"] = {"sources": {"terms": {"field": "source", "size": MAX_MIN_SOURCES}}}
    aggs: dict[str, Any] = {"histogram": histogram}
    if rule.group_by:
        composite: dict[str, Any] = {"size": page_size, "sources": [{"group": {"terms": {"field": rule.group_by}}}]}
        if after is not None:
            composite["after"] = dict(after)
        aggs = {"groups": {"composite": composite, "aggs": aggs}}
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": [query_clause(rule), _published(plan.range_start_ms, lte_ms=plan.range_end_ms)]}},
        "aggs": aggs,
    }


def late_search(plan: Plan, lookback_start_ms: int) -> dict[str, Any] | None:
    """Matching articles indexed since the last evaluation but published before the evaluated range."""
    if plan.late_since_ms is None:
        return None
    filters = [
        query_clause(plan.rule),
        {"range": {"indexed": {"gte": plan.late_since_ms, "format": "epoch_millis"}}},
        _published(lookback_start_ms, lt_ms=plan.first_bucket * plan.step_ms),
    ]
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": filters}},
        "aggs": {"earliest": {"min": {"field": "published"}}},
    }


@dataclass(frozen=True)
class HistogramResult:
    """Every group of a rule that can cross in the evaluated range (all groups for `alerts test`)."""

    series: list[GroupSeries]


@dataclass(frozen=True)
class HistogramPage:
    series: list[GroupSeries]
    after: dict[str, Any] | None  # where the next page of groups starts; None: this was the last page


def parse_histogram(
    rule: Rule, body: Mapping[str, Any], *, page_size: int = GROUPS_PER_PAGE, all_groups: bool = False
) -> HistogramPage:
    """One page of a rule's counts. ``all_groups``: keep groups that cannot cross too (`alerts test` shows them)."""
    aggs = body.get("aggregations", {})
    step_ms = rule.step_seconds * 1000
    if not rule.group_by:
        return HistogramPage([GroupSeries(None, _buckets(aggs.get("histogram", {}), step_ms))], None)
    groups = aggs.get("groups", {})
    entries = groups.get("buckets", [])
    series = [
        GroupSeries(str(entry["key"]["group"]), _buckets(entry.get("histogram", {}), step_ms))
        for entry in entries
        # Fewer articles in the whole range than the threshold: no window of it can cross.
        if all_groups or int(entry.get("doc_count", 0)) >= rule.threshold
    ]
    # Elasticsearch returns an after_key with every non-empty page; only a full page may have a successor.
    after = groups.get("after_key") if len(entries) >= page_size else None
    return HistogramPage(series, None if after is None else dict(after))


def _buckets(histogram: Mapping[str, Any], step_ms: int) -> dict[int, Bucket]:
    buckets: dict[int, Bucket] = {}
    for entry in histogram.get("buckets", []):
        sources = frozenset(str(s["key"]) for s in entry.get("sources", {}).get("buckets", []))
        buckets[int(entry["key"]) // step_ms] = Bucket(int(entry["doc_count"]), sources)
    return buckets


def parse_late(body: Mapping[str, Any]) -> int | None:
    value = body.get("aggregations", {}).get("earliest", {}).get("value")
    return None if value is None else int(value)


def window_filters(rule: Rule, window: WindowCount) -> list[dict[str, Any]]:
    """The filters selecting exactly the articles a window counted."""
    if window.live:
        published = _published(window.start_ms, lte_ms=window.end_ms + FUTURE_TOLERANCE_MS)
    else:
        published = _published(window.start_ms, lt_ms=window.end_ms)
    filters = [query_clause(rule), published]
    if rule.group_by and window.group is not None:
        filters.append({"term": {rule.group_by: window.group}})
    return filters


def window_articles_search(rule: Rule, window: WindowCount) -> dict[str, Any]:
    return {
        "size": TOP_ARTICLES,
        "track_total_hits": True,
        "query": {"bool": {"filter": window_filters(rule, window)}},
        "sort": [{"published": {"order": "desc"}}],
        "_source": ["id", "title", "source", "url", "published"],
        "aggs": {
            "first": {"min": {"field": "published"}},
            "last": {"max": {"field": "published"}},
            "sources": {"terms": {"field": "source", "size": LISTED_SOURCES}},
            "source_count": {"cardinality": {"field": "source"}},
        },
    }


@dataclass(frozen=True)
class ArticleRef:
    id: str
    title: str
    source: str
    url: str
    published: str


@dataclass(frozen=True)
class WindowArticles:
    """What an alert shows about its window: the newest articles, the time span and the sources."""

    articles: tuple[ArticleRef, ...]
    first_ms: int | None
    last_ms: int | None
    sources: tuple[str, ...]
    source_count: int


def parse_window_articles(body: Mapping[str, Any]) -> WindowArticles:
    hits = body.get("hits", {}).get("hits", [])
    articles = tuple(
        ArticleRef(
            id=str(hit.get("_source", {}).get("id") or hit.get("_id", "")),
            title=str(hit.get("_source", {}).get("title", "")),
            source=str(hit.get("_source", {}).get("source", "")),
            url=str(hit.get("_source", {}).get("url", "")),
            published=str(hit.get("_source", {}).get("published", "")),
        )
        for hit in hits
    )
    aggs = body.get("aggregations", {})
    first, last = aggs.get("first", {}).get("value"), aggs.get("last", {}).get("value")
    return WindowArticles(
        articles=articles,
        first_ms=None if first is None else int(first),
        last_ms=None if last is None else int(last),
        sources=tuple(str(b["key"]) for b in aggs.get("sources", {}).get("buckets", [])),
        source_count=int(aggs.get("source_count", {}).get("value", 0)),
    )


# validate_query explains a clause it cannot build as MatchNoDocsQuery("failed [field] query, caused by ...").
# The search would run and silently never match, so the alerter refuses such rules at start.
_FAILED_CLAUSE = re.compile(r'failed \[([^\]]+)\] query, caused by ([^:\[]+):\[(.*?)\]"?\)')


def validation_problem(answer: Mapping[str, Any]) -> str | None:
    """Why Elasticsearch's ``_validate/query?explain`` answer rejects a query string, or None when it is fine."""
    explanations = answer.get("explanations") or [{}]
    if not answer.get("valid", False):
        reason = str(explanations[0].get("error") or answer.get("error") or "rejected by Elasticsearch")
        reason = reason.split("ParseException: ", 1)[-1].split("\nWas expecting", 1)[0]
        return reason.strip()
    failed = [_FAILED_CLAUSE.search(str(entry.get("explanation", ""))) for entry in explanations]
    problems = [f"{m.group(1)}: {m.group(3).split(': [')[0]} ({m.group(2)}); it would never match" for m in failed if m]
    return "; ".join(problems) or None
