"""The evaluation-lag gauge: what operators alert on when the alerter falls behind."""

from __future__ import annotations

from alerts.metrics import evaluation_lag_seconds

T = 1_700_000_000_000


def test_lag_is_now_minus_the_time_evaluated_until() -> None:
    assert evaluation_lag_seconds(T + 1_500, T, running_since_ms=T - 60_000) == 1.5
    assert evaluation_lag_seconds(T + 300_000, T, running_since_ms=T - 60_000) == 300.0  # an outage


def test_a_rule_never_evaluated_lags_from_when_the_alerter_began() -> None:
    assert evaluation_lag_seconds(T + 7_000, None, running_since_ms=T) == 7.0


def test_lag_is_never_negative() -> None:
    assert evaluation_lag_seconds(T, T + 2_000, running_since_ms=T) == 0.0
