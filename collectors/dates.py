"""UTC times from feed entries, with the rules for dates that cannot be trusted.

A feed's date is *invalid* when it is missing, cannot be parsed, lies more than
``FUTURE_TOLERANCE`` ahead of the fetch time (clock skew is allowed for, "tomorrow's" article is
not) or is before ``EARLIEST_PLAUSIBLE`` (epoch-zero dates from broken CMSes). An invalid date is
replaced by the fetch time and the article is flagged ``published_inferred``; the reason is kept
so the caller can count it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

try:  # feedparser's own date parser knows many odd formats; private, so optional.
    from feedparser.datetimes import _parse_date as _feedparser_parse_date
except ImportError:  # pragma: no cover - depends on the feedparser release
    _feedparser_parse_date = None

FUTURE_TOLERANCE = timedelta(minutes=10)
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)

# Entry fields in order of preference: (parsed struct, raw string).
_DATE_FIELDS = (
    ("published_parsed", "published"),
    ("updated_parsed", "updated"),
    ("created_parsed", "created"),
)


class DateProblem(StrEnum):
    MISSING = "missing"
    UNPARSEABLE = "unparseable"
    FUTURE = "future"
    IMPLAUSIBLY_OLD = "implausibly_old"


@dataclass(frozen=True, slots=True)
class PublishedTime:
    value: datetime
    inferred: bool
    problem: DateProblem | None = None
    raw: str = ""


def _from_struct(value: time.struct_time | tuple[int, ...]) -> datetime | None:
    # feedparser's *_parsed structs are already in UTC.
    try:
        year, month, day, hour, minute, second = (int(v) for v in tuple(value)[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)  # 60 = leap second
    except (ValueError, TypeError, OverflowError):
        return None


def _from_string(value: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    parsed: datetime | None = None
    try:
        parsed = parsedate_to_datetime(text)  # RFC 822/1123, the RSS format
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(text)  # RFC 3339 / ISO 8601, the Atom format
        except ValueError:
            parsed = None
    if parsed is None and _feedparser_parse_date is not None:
        try:
            struct = _feedparser_parse_date(text)
        except Exception:  # a private parser: any failure means "unparseable"
            struct = None
        return _from_struct(struct) if struct else None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # feeds without a zone mean UTC far more often than not
    return parsed.astimezone(UTC)


def to_utc(value: time.struct_time | tuple[int, ...] | datetime | str | None) -> datetime | None:
    """A timezone-aware UTC datetime from a feedparser struct, a datetime or a string; None if invalid."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str):
        return _from_string(value)
    return _from_struct(value)


def check_date(
    value: datetime | None, fetched_at: datetime, *, future_tolerance: timedelta = FUTURE_TOLERANCE
) -> DateProblem | None:
    if value is None:
        return DateProblem.UNPARSEABLE
    if value > fetched_at + future_tolerance:
        return DateProblem.FUTURE
    if value < EARLIEST_PLAUSIBLE:
        return DateProblem.IMPLAUSIBLY_OLD
    return None


def resolve_published(
    entry: Mapping[str, Any], fetched_at: datetime, *, future_tolerance: timedelta = FUTURE_TOLERANCE
) -> PublishedTime:
    """The entry's publication time, or the fetch time flagged as inferred.

    Tries published, then updated, then created; the first valid one wins. When none is valid,
    the problem reported is that of the first date the entry had (or MISSING).
    """
    first_problem: DateProblem | None = None
    first_raw = ""
    for parsed_key, raw_key in _DATE_FIELDS:
        raw = entry.get(raw_key)
        struct = entry.get(parsed_key)
        if struct is None and not raw:
            continue
        candidate = to_utc(struct) if struct is not None else None
        if candidate is None and isinstance(raw, str):
            candidate = to_utc(raw)
        problem = check_date(candidate, fetched_at, future_tolerance=future_tolerance)
        raw_text = raw if isinstance(raw, str) else ""
        if problem is None and candidate is not None:
            return PublishedTime(candidate, inferred=False, raw=raw_text)
        if first_problem is None:
            first_problem, first_raw = problem, raw_text
    return PublishedTime(fetched_at, inferred=True, problem=first_problem or DateProblem.MISSING, raw=first_raw)
