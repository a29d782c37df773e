"""Progressive release of the demo items, so that a new user sees the stream move.

Pure and deterministic: given the items and the seconds elapsed since the demo server started, it
says which items are visible. Every item gets a whole-second release offset:

- **backlog** (offset 0): the oldest non-burst items, ``initial_share`` of all items (~40 %);
- **trickle** (1 s .. ``trickle_seconds``): the remaining non-burst items, oldest first, evenly
  spaced, so the live view keeps ticking;
- **burst** (``burst_start`` .. ``burst_end``): the items whose article time falls inside one of
  ``burst_windows``, oldest first, evenly spaced. Those windows are the short spells of the demo
  coverage in which many sources report the same event within minutes (the Geneva, Brussels and
  Vienna talks, the troop reports), so the default alert rules fire within the first two minutes.

Offsets are whole seconds so that a feed's Last-Modified (start time + offset) changes whenever its
content does, even for clients that only send If-Modified-Since (HTTP dates have 1 s resolution).
An item's own date is never changed: it stays the January 2022 date written in its feed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar


class Releasable(Protocol):
    @property
    def uid(self) -> str: ...

    @property
    def published(self) -> datetime | None: ...


T = TypeVar("T", bound=Releasable)


def _window(start: str, minutes: int) -> tuple[datetime, datetime]:
    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    return begin, begin + timedelta(minutes=minutes)


# Article-time windows (UTC, start inclusive, end exclusive) of the demo coverage peaks.
BURST_WINDOWS: tuple[tuple[datetime, datetime], ...] = (
    _window("2022-01-10T16:40", 15),  # US-Russia strategic stability talks end in Geneva
    _window("2022-01-11T09:15", 15),  # live-fire drills of ~3,000 troops near Ukraine's border
    _window("2022-01-12T13:20", 16),  # NATO-Russia Council in Brussels: Stoltenberg's press conference
    _window("2022-01-13T10:50", 15),  # OSCE Permanent Council in Vienna
    _window("2022-01-14T07:40", 15),  # reports of more troops and trains moving toward Ukraine
)


@dataclass(frozen=True)
class ReleasePlan:
    initial_share: float = 0.4
    trickle_seconds: int = 90
    burst_start: int = 30
    burst_end: int = 60
    burst_windows: tuple[tuple[datetime, datetime], ...] = BURST_WINDOWS

    def __post_init__(self) -> None:
        if not 0.0 <= self.initial_share <= 1.0:
            raise ValueError("initial_share must be between 0 and 1")
        if self.trickle_seconds < 1 or not 0 <= self.burst_start <= self.burst_end:
            raise ValueError("release timings must be positive and ordered")

    @property
    def duration(self) -> int:
        """Seconds after which every item is visible."""
        return max(self.trickle_seconds, self.burst_end)


DEFAULT_PLAN = ReleasePlan()


def in_burst(item: Releasable, plan: ReleasePlan = DEFAULT_PLAN) -> bool:
    if item.published is None:
        return False
    return any(start <= item.published < end for start, end in plan.burst_windows)


def _chronological(items: Iterable[T]) -> list[T]:
    # Undated items count as the oldest; the uid breaks ties so the order never depends on input order.
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(items, key=lambda item: (item.published or oldest, item.uid))


def _spread(count: int, first: int, last: int) -> list[int]:
    """``count`` whole-second offsets from ``first`` to ``last``, evenly spaced, non-decreasing."""
    if count == 0:
        return []
    if count == 1:
        return [first]
    return [first + math.floor((last - first) * index / (count - 1)) for index in range(count)]


def release_schedule(items: Iterable[Releasable], plan: ReleasePlan = DEFAULT_PLAN) -> dict[str, int]:
    """Map each item's uid to the whole second (since start) at which it becomes visible."""
    ordered = _chronological(items)
    burst = [item for item in ordered if in_burst(item, plan)]
    regular = [item for item in ordered if not in_burst(item, plan)]
    backlog_size = min(round(plan.initial_share * len(ordered)), len(regular))
    backlog, trickle = regular[:backlog_size], regular[backlog_size:]

    schedule = {item.uid: 0 for item in backlog}
    for index, item in enumerate(trickle):
        schedule[item.uid] = math.ceil(plan.trickle_seconds * (index + 1) / len(trickle))
    for item, offset in zip(burst, _spread(len(burst), plan.burst_start, plan.burst_end), strict=True):
        schedule[item.uid] = offset
    return schedule


def visible_items(items: Sequence[T], elapsed: float, plan: ReleasePlan = DEFAULT_PLAN) -> list[T]:
    """The items visible ``elapsed`` seconds after the start, in their input order."""
    schedule = release_schedule(items, plan)
    return [item for item in items if schedule[item.uid] <= elapsed]
