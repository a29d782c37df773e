"""`newswatch search` query building, without Elasticsearch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from indexers.document import ClusterCapabilities
from indexers.search import SearchRequest, build_search, parse_duration, read_hits

CAPS = ClusterCapabilities(language_analyzers=False, ilm=False)
NOW = datetime(2022, 1, 12, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"), [("90s", timedelta(seconds=90)), ("2h", timedelta(hours=2)), ("7d", timedelta(days=7))]
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_bad_duration_says_how_to_write_one() -> None:
    with pytest.raises(ValueError, match="e.g. 30s, 15m"):
        parse_duration("two hours")


def test_filters_and_text_query() -> None:
    body = build_search(
        SearchRequest("security guarantees", tags=("nato-russia-talks",), since=timedelta(hours=2), lang="en"),
        CAPS,
        NOW,
    )
    bool_query = body["query"]["bool"]
    assert bool_query["must"][0]["simple_query_string"]["query"] == "security guarantees"
    assert {"term": {"tags": "nato-russia-talks"}} in bool_query["filter"]
    assert {"range": {"published": {"gte": "2022-01-12T10:00:00+00:00"}}} in bool_query["filter"]


def test_empty_query_lists_newest_first() -> None:
    body = build_search(SearchRequest(""), CAPS, NOW)
    assert body["query"]["bool"]["must"] == [{"match_all": {}}] and body["sort"] == [{"published": "desc"}]


def test_read_hits_prefers_a_text_snippet() -> None:
    response = {
        "hits": {"hits": [{"_id": "a", "_source": {"title": "T", "tags": ["x"]}, "highlight": {"text": ["…«talks»…"]}}]}
    }
    [hit] = read_hits(response)
    assert hit.snippet == "…«talks»…" and hit.tags == ["x"]
