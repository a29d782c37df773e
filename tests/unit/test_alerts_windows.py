"""Window counting, crossing and cooldown: the decisions behind "no floods, no gaps", without services."""

from __future__ import annotations

from alerts.queries import (
    BUCKET_BUDGET,
    GROUPS_PER_PAGE,
    groups_per_page,
    histogram_search,
    late_search,
    parse_histogram,
    parse_late,
)
from alerts.rule import Rule
from alerts.windows import (
    FUTURE_TOLERANCE_MS,
    LATE_MARGIN_MS,
    Bucket,
    ChainState,
    GroupSeries,
    eligible,
    first_crossing,
    plan_evaluation,
    widen_for_late,
    windows,
)

# window 10 s in steps of 1 s, threshold 3, cooldown 30 s
RULE = Rule(name="r", query="tags:x", window_seconds=10, threshold=3, cooldown_seconds=30, window_text="10s")
T = 1_700_000_000_000  # a whole second, in ms
LOOKBACK = 3600_000


def series(*published_ms: int, group: str | None = None, step_ms: int = 1000) -> GroupSeries:
    buckets: dict[int, int] = {}
    for ms in published_ms:
        buckets[ms // step_ms] = buckets.get(ms // step_ms, 0) + 1
    return GroupSeries(group, {index: Bucket(count) for index, count in buckets.items()})


def test_a_new_rule_looks_at_the_live_window_only() -> None:
    plan = plan_evaluation(RULE, T + 500, None, LOOKBACK)
    assert plan.first_bucket == plan.last_bucket == (T + 500) // 1000
    assert plan.range_start_ms == T - 9000 and plan.range_end_ms == T + 500 + FUTURE_TOLERANCE_MS
    assert plan.late_since_ms is None
    (live,) = windows(plan, series(T - 9000, T - 5000, T + 400))
    assert live.live and live.count == 3 and live.end_ms == T + 500 and live.start_ms == T - 9000


def test_crossing_in_the_live_window_fires_once_then_cooldown() -> None:
    plan = plan_evaluation(RULE, T + 500, T - 500, LOOKBACK)
    data = series(T - 3000, T - 2000, T + 100)
    window = first_crossing(plan, data, ChainState())
    assert window is not None and window.count == 3 and window.live
    fired = ChainState(seq=1, fired_at_ms=T + 500)
    # the next second, same articles: inside the cooldown
    plan2 = plan_evaluation(RULE, T + 1500, T + 500, LOOKBACK)
    assert first_crossing(plan2, data, fired) is None
    # 30 s later a new burst: outside the cooldown
    later = series(T + 31_000, T + 31_100, T + 31_200)
    plan3 = plan_evaluation(RULE, T + 31_500, T + 30_500, LOOKBACK)
    assert first_crossing(plan3, later, fired) is not None


def test_no_window_older_than_the_newest_alert_ever_fires_again() -> None:
    fired = ChainState(seq=4, fired_at_ms=T)
    old_burst = series(T - 60_000, T - 59_000, T - 58_000)
    plan = plan_evaluation(RULE, T + 100_000, T - 70_000, LOOKBACK)  # re-evaluating the old range
    assert first_crossing(plan, old_burst, fired) is None


def test_catch_up_after_downtime_fires_once_for_the_earliest_crossing() -> None:
    # down from T to T+120 s; two separate bursts happened meanwhile, both crossing
    bursts = series(T + 20_000, T + 20_500, T + 21_000, T + 80_000, T + 80_200, T + 80_400)
    plan = plan_evaluation(RULE, T + 120_000, T, LOOKBACK)
    assert plan.first_bucket == T // 1000
    window = first_crossing(plan, bursts, ChainState())
    assert window is not None and not window.live
    assert window.start_ms <= T + 20_000 and window.end_ms >= T + 21_000
    assert window.end_ms - window.start_ms == 10_000
    # once fired (at T+120 s), the second burst is older than the alert: no second alert
    assert first_crossing(plan, bursts, ChainState(1, T + 120_000)) is None


def test_catch_up_is_bounded_by_the_lookback() -> None:
    plan = plan_evaluation(RULE, T, T - 10 * LOOKBACK, LOOKBACK)
    assert plan.first_bucket == (T - LOOKBACK) // 1000


def test_hopping_windows_catch_a_burst_shorter_than_the_window() -> None:
    # 3 articles spread over 9 s, crossing two bucket boundaries: one 10 s window holds them all
    plan = plan_evaluation(RULE, T + 60_000, T, LOOKBACK)
    window = first_crossing(plan, series(T + 10_200, T + 14_000, T + 19_100), ChainState())
    assert window is not None and window.count == 3
    # ...but 3 articles spread over 11 s never share a window
    assert first_crossing(plan, series(T + 10_000, T + 15_000, T + 21_000), ChainState()) is None


def test_articles_slightly_in_the_future_count_in_the_live_window() -> None:
    plan = plan_evaluation(RULE, T, T - 1000, LOOKBACK)
    window = first_crossing(plan, series(T - 1000, T + 2000, T + 30_000), ChainState())
    assert window is not None and window.live and window.count == 3


def test_min_sources_needs_distinct_sources_in_the_window() -> None:
    rule = Rule(name="r", query="q", window_seconds=10, threshold=3, min_sources=2)
    same = GroupSeries(None, {T // 1000: Bucket(3, frozenset({"A"}))})
    mixed = GroupSeries(None, {T // 1000 - 1: Bucket(2, frozenset({"A"})), T // 1000: Bucket(1, frozenset({"B"}))})
    plan = plan_evaluation(rule, T + 100, T - 500, LOOKBACK)
    assert first_crossing(plan, same, ChainState()) is None
    crossing = first_crossing(plan, mixed, ChainState())
    assert crossing is not None and crossing.sources == {"A", "B"}


def test_late_articles_widen_the_plan_back_to_their_window() -> None:
    plan = plan_evaluation(RULE, T + 100_000, T + 99_000, LOOKBACK)
    assert plan.late_since_ms == T + 99_000 - LATE_MARGIN_MS
    assert widen_for_late(plan, None, LOOKBACK) is None
    assert widen_for_late(plan, T + 99_500, LOOKBACK) is None  # already inside the evaluated range
    wider = widen_for_late(plan, T + 20_000, LOOKBACK)
    assert wider is not None and wider.first_bucket == (T + 20_000) // 1000
    late_burst = series(T + 18_000, T + 19_000, T + 20_000)
    assert first_crossing(plan, late_burst, ChainState()) is None
    found = first_crossing(wider, late_burst, ChainState())
    assert found is not None and found.end_ms == T + 21_000


def test_eligibility_is_measured_by_window_end() -> None:
    window = next(iter(windows(plan_evaluation(RULE, T, None, LOOKBACK), series(T))))
    assert eligible(RULE, window, ChainState())
    assert not eligible(RULE, window, ChainState(1, T - 29_999))
    assert eligible(RULE, window, ChainState(1, T - 30_000))


def test_histogram_request_and_answer() -> None:
    rule = Rule(name="r", query="tags:x", window_seconds=10, threshold=3, group_by="places", min_sources=2)
    plan = plan_evaluation(rule, T, T - 1000, LOOKBACK)
    body = histogram_search(plan)
    groups = body["aggs"]["groups"]
    assert groups["composite"] == {"size": GROUPS_PER_PAGE, "sources": [{"group": {"terms": {"field": "places"}}}]}
    assert groups["aggs"]["histogram"]["date_histogram"]["fixed_interval"] == "1s"
    assert "sources" in groups["aggs"]["histogram"]["aggs"]
    answer = {
        "aggregations": {
            "groups": {
                "after_key": {"group": "Ukraine"},
                "buckets": [
                    {
                        "key": {"group": "Ukraine"},
                        "doc_count": 3,
                        "histogram": {
                            "buckets": [
                                {"key": T - 1000, "doc_count": 2, "sources": {"buckets": [{"key": "A"}, {"key": "B"}]}},
                                {"key": T, "doc_count": 1, "sources": {"buckets": [{"key": "C"}]}},
                            ]
                        },
                    }
                ],
            }
        }
    }
    page = parse_histogram(rule, answer)
    assert page.after is None  # fewer groups than a page: the last page, although Elasticsearch gave an after_key
    (parsed,) = page.series
    assert parsed.group == "Ukraine" and parsed.buckets[T // 1000 - 1] == Bucket(2, frozenset({"A", "B"}))
    window = first_crossing(plan, parsed, ChainState())
    assert window is not None and window.count == 3 and window.sources == {"A", "B", "C"}


def _group_entry(group: str, count: int) -> dict[str, object]:
    return {"key": {"group": group}, "doc_count": count, "histogram": {"buckets": [{"key": T, "doc_count": count}]}}


def test_grouped_counts_page_through_every_group() -> None:
    rule = Rule(name="r", query="tags:x", window_seconds=10, threshold=3, group_by="places")
    plan = plan_evaluation(rule, T, T - 1000, LOOKBACK)
    assert "after" not in histogram_search(plan, page_size=2)["aggs"]["groups"]["composite"]
    # a full page: there may be more groups, and the next request starts after the last key
    full = {
        "aggregations": {
            "groups": {
                "after_key": {"group": "Crimea"},
                "buckets": [_group_entry("Belarus", 5), _group_entry("Crimea", 1)],
            }
        }
    }
    page = parse_histogram(rule, full, page_size=2)
    assert page.after == {"group": "Crimea"}
    assert [s.group for s in page.series] == ["Belarus"]  # Crimea has fewer articles than the threshold
    second = histogram_search(plan, after=page.after, page_size=2)["aggs"]["groups"]["composite"]
    assert second["after"] == {"group": "Crimea"} and second["size"] == 2
    # a short page (or an empty one) ends the paging
    last = {"aggregations": {"groups": {"after_key": {"group": "Ukraine"}, "buckets": [_group_entry("Ukraine", 3)]}}}
    assert parse_histogram(rule, last, page_size=2).after is None
    assert parse_histogram(rule, {"aggregations": {"groups": {"buckets": []}}}, page_size=2).after is None
    # `alerts test` shows groups that cannot cross too
    assert [s.group for s in parse_histogram(rule, full, page_size=2, all_groups=True).series] == ["Belarus", "Crimea"]


def test_an_ungrouped_rule_is_one_page() -> None:
    body = histogram_search(plan_evaluation(RULE, T, T - 1000, LOOKBACK))
    assert "groups" not in body["aggs"]
    page = parse_histogram(RULE, {"aggregations": {"histogram": {"buckets": [{"key": T, "doc_count": 2}]}}})
    assert page.after is None and page.series[0].group is None and page.series[0].buckets[T // 1000].count == 2


def test_late_request_only_after_a_first_evaluation() -> None:
    assert late_search(plan_evaluation(RULE, T, None, LOOKBACK), T - LOOKBACK) is None
    plan = plan_evaluation(RULE, T, T - 1000, LOOKBACK)
    body = late_search(plan, T - LOOKBACK)
    assert body is not None and body["aggs"] == {"earliest": {"min": {"field": "published"}}}
    assert parse_late({"aggregations": {"earliest": {"value": None}}}) is None
    assert parse_late({"aggregations": {"earliest": {"value": 1.7e12}}}) == 1_700_000_000_000


def test_a_long_catch_up_pages_fewer_groups_so_no_answer_passes_the_bucket_limit() -> None:
    # 15-minute windows in 30 s steps, grouped by place, 6 hours of lookback
    rule = Rule(name="r", query="tags:x", window_seconds=900, threshold=3, group_by="places")
    live = plan_evaluation(rule, T, T - 1000, 6 * LOOKBACK)
    assert groups_per_page(live) == GROUPS_PER_PAGE  # ~32 buckets a group: a full page fits
    catch_up = plan_evaluation(rule, T, T - 6 * LOOKBACK, 6 * LOOKBACK)  # down for six hours
    buckets_per_group = (catch_up.range_end_ms - catch_up.range_start_ms) // catch_up.step_ms + 1
    assert buckets_per_group > 700
    size = groups_per_page(catch_up)
    assert 1 <= size < GROUPS_PER_PAGE and size * buckets_per_group <= BUCKET_BUDGET < (size + 1) * buckets_per_group
    assert groups_per_page(catch_up, limit=3) == 3  # a smaller configured page stays as it is
    # however long the range, a page holds at least one group
    assert groups_per_page(plan_evaluation(Rule(name="r", query="x", window_seconds=10, threshold=1), T, 0, T)) == 1
