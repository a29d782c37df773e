"""The progressive release of demo items: deterministic, monotonic, complete, bursts in their slot."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from newswatch.demo.catalogue import all_items, load_demo_feeds
from newswatch.demo.release import (
    BURST_WINDOWS,
    DEFAULT_PLAN,
    ReleasePlan,
    in_burst,
    release_schedule,
    visible_items,
)

ITEMS = all_items(load_demo_feeds())


@dataclass(frozen=True)
class FakeItem:
    uid: str
    published: datetime | None


def _fake_items(count: int, start: datetime) -> list[FakeItem]:
    return [FakeItem(f"item-{index:03d}", start + timedelta(minutes=7 * index)) for index in range(count)]


def test_about_forty_percent_visible_at_start():
    share = len(visible_items(ITEMS, 0.0)) / len(ITEMS)
    assert 0.35 <= share <= 0.45


def test_release_is_monotonic_and_complete_after_the_end():
    previous: set[str] = set()
    for half_second in range(0, (DEFAULT_PLAN.duration + 5) * 2):
        now = {item.uid for item in visible_items(ITEMS, half_second / 2)}
        assert previous <= now, f"an item disappeared at {half_second / 2} s"
        previous = now
    assert len(visible_items(ITEMS, DEFAULT_PLAN.duration - 1)) < len(ITEMS)
    assert len(visible_items(ITEMS, DEFAULT_PLAN.duration)) == len(ITEMS)
    assert len(visible_items(ITEMS, 10_000.0)) == len(ITEMS)


def test_burst_items_are_released_between_30_and_60_seconds():
    schedule = release_schedule(ITEMS)
    burst = [item for item in ITEMS if in_burst(item)]
    assert len(burst) >= 5 * len(BURST_WINDOWS)
    assert all(30 <= schedule[item.uid] <= 60 for item in burst)
    # The earliest window's items all come out within seconds, so a "5 in 15 minutes" rule fires early.
    first_window = [item for item in burst if BURST_WINDOWS[0][0] <= item.published < BURST_WINDOWS[0][1]]
    assert max(schedule[item.uid] for item in first_window) <= 45


def test_burst_items_are_tightly_clustered_in_article_time():
    for start, end in BURST_WINDOWS:
        inside = [item for item in ITEMS if item.published and start <= item.published < end]
        assert len(inside) >= 5 and len({item.feed for item in inside}) >= 2
        assert end - start <= timedelta(minutes=16)


def test_every_item_released_at_a_whole_second_within_the_plan():
    schedule = release_schedule(ITEMS)
    assert set(schedule) == {item.uid for item in ITEMS}
    assert all(isinstance(offset, int) and 0 <= offset <= DEFAULT_PLAN.duration for offset in schedule.values())
    # Items keep appearing through the whole run, not all at once.
    assert len(set(schedule.values())) >= 60


def test_schedule_does_not_depend_on_input_order():
    shuffled = list(ITEMS)
    random.Random(7).shuffle(shuffled)
    assert release_schedule(shuffled) == release_schedule(ITEMS)


def test_visible_items_keep_input_order():
    visible = visible_items(ITEMS, 45.0)
    positions = [ITEMS.index(item) for item in visible]
    assert positions == sorted(positions)


def test_undated_items_count_as_oldest():
    items = [FakeItem("undated", None), *_fake_items(9, datetime(2022, 1, 8, tzinfo=UTC))]
    assert release_schedule(items, ReleasePlan(initial_share=0.1, burst_windows=()))["undated"] == 0


def test_trickle_is_chronological_without_bursts():
    items = _fake_items(20, datetime(2022, 1, 8, tzinfo=UTC))
    schedule = release_schedule(items, ReleasePlan(initial_share=0.25, trickle_seconds=10, burst_windows=()))
    offsets = [schedule[item.uid] for item in items]
    assert offsets[:5] == [0] * 5
    assert offsets == sorted(offsets) and offsets[-1] == 10


def test_all_burst_items_spread_over_the_burst_slot():
    start = datetime(2022, 1, 12, 13, 20, tzinfo=UTC)
    items = [FakeItem(f"b{index}", start + timedelta(seconds=30 * index)) for index in range(7)]
    plan = ReleasePlan(burst_start=30, burst_end=60, burst_windows=((start, start + timedelta(minutes=15)),))
    offsets = sorted(release_schedule(items, plan).values())
    assert offsets[0] == 30 and offsets[-1] == 60


@pytest.mark.parametrize(
    "kwargs", [{"initial_share": 1.5}, {"trickle_seconds": 0}, {"burst_start": 50, "burst_end": 40}]
)
def test_invalid_plans_are_refused(kwargs):
    with pytest.raises(ValueError):
        ReleasePlan(**kwargs)
