"""Live mode of the demo: items are stamped with their release time, the XML otherwise untouched."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import feedparser

from newswatch.demo.catalogue import all_items, load_demo_feeds
from newswatch.demo.livedates import live_shifts, shift_item_dates
from newswatch.demo.release import release_schedule

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_released_items_are_published_at_their_release_moment() -> None:
    items = all_items(load_demo_feeds())
    schedule = release_schedule(items)
    shifts = live_shifts(items, schedule, START)
    for item in items:
        if item.published is None:
            assert item.uid not in shifts
            continue
        moved = item.published + shifts[item.uid]
        if schedule[item.uid] > 0:
            assert moved == START + timedelta(seconds=schedule[item.uid])
        else:
            assert START - timedelta(hours=25) <= moved < START


def test_backlog_keeps_its_order() -> None:
    items = all_items(load_demo_feeds())
    schedule = release_schedule(items)
    shifts = live_shifts(items, schedule, START)
    backlog = sorted((i for i in items if i.published and schedule[i.uid] == 0), key=lambda i: i.published)
    moved = [i.published + shifts[i.uid] for i in backlog]
    assert moved == sorted(moved)


def test_shifted_item_still_parses_with_the_new_date() -> None:
    feeds = load_demo_feeds()
    for feed in feeds:
        item = next(i for i in feed.items if i.published is not None)
        shift = START - item.published
        body = (feed.head + shift_item_dates(item.raw, shift) + feed.tail).encode()
        parsed = feedparser.parse(io.BytesIO(body))
        entry = parsed.entries[0]
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        assert datetime(*stamp[:6], tzinfo=UTC) == START, feed.filename
