"""Build deploy/kibana/newswatch.ndjson: the data view, saved searches, visualisations and dashboard.

Run it after changing the objects: `python deploy/kibana/build_saved_objects.py`. A unit test checks
that the committed NDJSON is what this script builds and that every field it uses is in the index
template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_VIEW_ID = "newswatch-news"
TAGS = ("nato-russia-talks", "troop-buildup")
OUTPUT = Path(__file__).with_name("newswatch.ndjson")
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def _search_source(query: str) -> dict[str, Any]:
    source = {"query": {"query": query, "language": "kuery"}, "filter": [], "indexRefName": INDEX_REF}
    return {"searchSourceJSON": json.dumps(source)}


def _data_view_ref() -> list[dict[str, str]]:
    return [{"name": INDEX_REF, "type": "index-pattern", "id": DATA_VIEW_ID}]


def data_view(alias: str = "news") -> dict[str, Any]:
    return {
        "type": "index-pattern",
        "id": DATA_VIEW_ID,
        "attributes": {"title": alias, "name": "newswatch articles", "timeFieldName": "published"},
        "references": [],
    }


def saved_search(tag: str) -> dict[str, Any]:
    return {
        "type": "search",
        "id": f"newswatch-search-{tag}",
        "attributes": {
            "title": f"newswatch: {tag}",
            "description": f"Articles tagged {tag}, newest first, with where and who.",
            "columns": ["title", "source", "lang", "places", "entities", "url"],
            "sort": [["published", "desc"]],
            "kibanaSavedObjectMeta": _search_source(f'tags : "{tag}"'),
        },
        "references": _data_view_ref(),
    }


def _visualization(
    vis_id: str, title: str, vis_type: str, aggs: list[dict[str, Any]], params: dict[str, Any]
) -> dict[str, Any]:
    vis_state = {"title": title, "type": vis_type, "params": params, "aggs": aggs}
    return {
        "type": "visualization",
        "id": vis_id,
        "attributes": {
            "title": title,
            "description": "",
            "version": 1,
            "visState": json.dumps(vis_state),
            "uiStateJSON": "{}",
            "kibanaSavedObjectMeta": _search_source(""),
        },
        "references": _data_view_ref(),
    }


def _count() -> dict[str, Any]:
    return {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}


def _terms(agg_id: str, field: str, size: int, schema: str) -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "terms",
        "schema": schema,
        "params": {"field": field, "size": size, "order": "desc", "orderBy": "1"},
    }


def visualizations() -> list[dict[str, Any]]:
    volume = _visualization(
        "newswatch-volume-per-tag",
        "newswatch: articles per tag over time",
        "histogram",
        [
            _count(),
            {
                "id": "2",
                "enabled": True,
                "type": "date_histogram",
                "schema": "segment",
                "params": {"field": "published", "interval": "auto", "min_doc_count": 1},
            },
            _terms("3", "tags", 10, "group"),
        ],
        {"type": "histogram", "addLegend": True, "legendPosition": "right"},
    )
    sources = _visualization(
        "newswatch-top-sources",
        "newswatch: top sources",
        "table",
        [_count(), _terms("2", "source", 20, "bucket")],
        {"perPage": 20, "showTotal": True},
    )
    places = _visualization(
        "newswatch-top-places",
        "newswatch: top places",
        "table",
        [_count(), _terms("2", "places", 20, "bucket")],
        {"perPage": 20, "showTotal": True},
    )
    return [volume, sources, places]


def dashboard(panel_ids: list[tuple[str, str]]) -> dict[str, Any]:
    panels = []
    references = []
    layout = [(0, 0, 48, 15), (0, 15, 24, 15), (24, 15, 24, 15), (0, 30, 24, 15), (24, 30, 24, 15)]
    for number, ((object_type, object_id), (x, y, w, h)) in enumerate(zip(panel_ids, layout, strict=True)):
        ref = f"panel_{number}"
        panels.append(
            {
                "version": "8.19.0",
                "type": object_type,
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(number)},
                "panelIndex": str(number),
                "embeddableConfig": {},
                "panelRefName": ref,
            }
        )
        references.append({"name": ref, "type": object_type, "id": object_id})
    return {
        "type": "dashboard",
        "id": "newswatch-overview",
        "attributes": {
            "title": "newswatch: overview",
            "description": "Volume per tag, top sources and places, and the latest tagged articles.",
            "panelsJSON": json.dumps(panels),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": True,
            "timeFrom": "now-24h",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 10000},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []})
            },
        },
        "references": references,
    }


def build() -> list[dict[str, Any]]:
    searches = [saved_search(tag) for tag in TAGS]
    visuals = visualizations()
    panel_ids = [("visualization", v["id"]) for v in visuals] + [("search", s["id"]) for s in searches]
    return [data_view(), *searches, *visuals, dashboard(panel_ids)]


def render() -> str:
    return "".join(json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n" for obj in build())


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
