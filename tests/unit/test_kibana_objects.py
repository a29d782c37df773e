"""No Kibana runs here, so its saved objects are checked for structure against the index template."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from indexers.document import ClusterCapabilities, mappings

KIBANA_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kibana"
NDJSON = KIBANA_DIR / "newswatch.ndjson"


def load_objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in NDJSON.read_text().splitlines() if line.strip()]


def mapped_fields() -> set[str]:
    properties = mappings(ClusterCapabilities(language_analyzers=False, ilm=False))["properties"]
    fields = set(properties)
    for name, spec in properties.items():
        fields |= {f"{name}.{sub}" for sub in spec.get("fields", {})}
    return fields


def test_ndjson_is_what_the_builder_makes() -> None:
    spec = importlib.util.spec_from_file_location("build_saved_objects", KIBANA_DIR / "build_saved_objects.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert NDJSON.read_text() == module.render(), "run deploy/kibana/build_saved_objects.py and commit the result"


def test_ids_are_unique_and_every_reference_resolves() -> None:
    objects = load_objects()
    keys = [(o["type"], o["id"]) for o in objects]
    assert len(keys) == len(set(keys))
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in keys, f"{obj['id']} refers to missing {ref}"
    dashboard = next(o for o in objects if o["type"] == "dashboard")
    panel_refs = {p["panelRefName"] for p in json.loads(dashboard["attributes"]["panelsJSON"])}
    assert panel_refs == {r["name"] for r in dashboard["references"]}


def test_every_field_used_exists_in_the_index_template() -> None:
    fields = mapped_fields()
    used: set[str] = set()
    for obj in load_objects():
        attributes = obj["attributes"]
        if obj["type"] == "index-pattern":
            used.add(attributes["timeFieldName"])
        if obj["type"] == "search":
            used |= set(attributes["columns"]) | {column for column, _ in attributes["sort"]}
            query = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
            used.add(query.split(":")[0].strip())
        if obj["type"] == "visualization":
            for agg in json.loads(attributes["visState"])["aggs"]:
                if "field" in agg["params"]:
                    used.add(agg["params"]["field"])
    assert used, "the objects use no fields at all?"
    assert used <= fields, f"fields not in the index template: {sorted(used - fields)}"


def test_one_saved_search_per_tag_and_a_data_view_on_news() -> None:
    objects = load_objects()
    view = next(o for o in objects if o["type"] == "index-pattern")
    assert view["attributes"]["title"] == "news"
    searches = {o["attributes"]["title"] for o in objects if o["type"] == "search"}
    assert searches == {"newswatch: nato-russia-talks", "newswatch: troop-buildup"}
