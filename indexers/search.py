"""`newswatch search`: the query an analyst would type, turned into Elasticsearch's DSL (pure), and the hits printed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from indexers.document import ClusterCapabilities, searchable_text_fields

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `2h`, `7d`, `1w` -> timedelta; anything else is a clear error."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and a unit, e.g. 30s, 15m, 2h, 7d, 1w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class SearchRequest:
    query: str
    tags: tuple[str, ...] = ()
    since: timedelta | None = None
    lang: str | None = None
    limit: int = 20


def build_search(request: SearchRequest, caps: ClusterCapabilities, now: datetime) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [{"term": {"tags": tag}} for tag in request.tags]
    if request.lang:
        filters.append({"term": {"lang": request.lang}})
    if request.since is not None:
        filters.append({"range": {"published": {"gte": (now - request.since).isoformat()}}})
    must: list[dict[str, Any]] = []
    if request.query.strip():
        # simple_query_string: analysts may use "phrases", -exclusions and OR without syntax errors.
        must.append(
            {
                "simple_query_string": {
                    "query": request.query,
                    "fields": searchable_text_fields(caps),
                    "default_operator": "and",
                }
            }
        )
    return {
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
        "size": request.limit,
        "sort": ["_score", {"published": "desc"}] if must else [{"published": "desc"}],
        "highlight": {
            "fields": {"text": {}, "summary": {}, "title": {}},
            "pre_tags": ["«"],
            "post_tags": ["»"],
            "fragment_size": 160,
            "number_of_fragments": 1,
        },
        "_source": ["title", "url", "source", "published", "tags", "lang", "places", "story_id"],
    }


@dataclass(frozen=True)
class Hit:
    id: str
    published: str
    source: str
    tags: list[str]
    title: str
    url: str
    snippet: str
    lang: str


def read_hits(response: dict[str, Any]) -> list[Hit]:
    hits = []
    for hit in response.get("hits", {}).get("hits", []):
        src = hit.get("_source", {})
        highlight = hit.get("highlight", {})
        snippet = next(
            iter(highlight.get("text", []) or highlight.get("summary", []) or highlight.get("title", [])), ""
        )
        hits.append(
            Hit(
                id=hit["_id"],
                published=src.get("published", ""),
                source=src.get("source", ""),
                tags=list(src.get("tags", [])),
                title=src.get("title", ""),
                url=src.get("url", ""),
                snippet=snippet,
                lang=src.get("lang", ""),
            )
        )
    return hits
