"""Replay the demo as if it were happening now: each item is stamped with the moment it is released.

The demo coverage is dated 8-14 January 2022, but alert rules count articles by their own time in a
window ending now, so a 2022 date would never raise an alert. In live mode the server shifts every
date of an item (published, updated) by the same amount, so that:

- an item released at offset *s* seconds is published at ``start + s``;
- the backlog visible at start (offset 0) keeps its order, compressed into the day before start.

Pure: the schedule and the start instant in, one shift per item out; the XML rewrite keeps
everything else of the item byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from newswatch.demo.catalogue import DemoItem

BACKLOG_SPAN = timedelta(hours=24)
_RSS_DATE = re.compile(r"(<pubDate>)([^<]+)(</pubDate>)")
_ATOM_DATE = re.compile(r"(<(?:published|updated)>)([^<]+)(</(?:published|updated)>)")
_DC_DATE = re.compile(r"(<dc:date>)([^<]+)(</dc:date>)")


def live_shifts(items: Sequence[DemoItem], schedule: Mapping[str, int], started: datetime) -> dict[str, timedelta]:
    """How far to move each dated item's times (uid -> shift)."""
    dated = [item for item in items if item.published is not None]
    backlog = [item for item in dated if schedule[item.uid] == 0]
    shifts: dict[str, timedelta] = {}
    if backlog:
        oldest = min(item.published for item in backlog)  # type: ignore[type-var]
        newest = max(item.published for item in backlog)  # type: ignore[type-var]
        span = (newest - oldest) or timedelta(seconds=1)
        for item in backlog:
            assert item.published is not None
            position = (item.published - oldest) / span  # 0 (oldest) .. 1 (newest)
            target = started - BACKLOG_SPAN * (1 - position) - timedelta(minutes=5)
            shifts[item.uid] = target - item.published
    for item in dated:
        if item.uid not in shifts:
            assert item.published is not None
            shifts[item.uid] = started + timedelta(seconds=schedule[item.uid]) - item.published
    return shifts


def shift_item_dates(raw: str, shift: timedelta) -> str:
    """The item's XML with every date moved by ``shift``, each written in its original style."""

    def rss(match: re.Match[str]) -> str:
        moved = parsedate_to_datetime(match.group(2).strip()) + shift
        return f"{match.group(1)}{format_datetime(moved.astimezone(UTC), usegmt=True)}{match.group(3)}"

    def iso(match: re.Match[str]) -> str:
        moved = datetime.fromisoformat(match.group(2).strip().replace("Z", "+00:00")) + shift
        return f"{match.group(1)}{moved.astimezone(UTC).isoformat().replace('+00:00', 'Z')}{match.group(3)}"

    raw = _RSS_DATE.sub(rss, raw)
    raw = _ATOM_DATE.sub(iso, raw)
    return _DC_DATE.sub(iso, raw)
