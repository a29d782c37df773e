"""What an article looks like in Elasticsearch, and the index template that maps it.

Pure: building the template from the cluster's capabilities and turning a ``TaggedArticle`` into a
document are plain functions. The Kafka record and the index document are separate shapes on
purpose: the index flattens ``source`` into keyword fields Kibana can aggregate on directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from newswatch.schema import TaggedArticle

ALIAS = "news"
INDEX_PREFIX = "news-v"
TEMPLATE_NAME = "newswatch-news"
# Bump when the mapping changes incompatibly: a new index is created behind the same alias.
MAPPING_VERSION = 1

# Language analyzers of Elasticsearch's analysis-common module, by ISO 639-1 code.
LANGUAGE_ANALYZERS: Mapping[str, str] = {
    "en": "english",
    "ru": "russian",
    "uk": "standard",  # analysis-common has no Ukrainian analyzer (that is a separate plugin)
    "de": "german",
    "fr": "french",
    "pl": "standard",  # Polish needs the analysis-stempel plugin
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
}
TEXT_FIELDS = ("title", "summary", "text")


@dataclass(frozen=True)
class ClusterCapabilities:
    """What the target cluster offers; the local integ-test-zip node offers none of these."""

    language_analyzers: bool
    ilm: bool

    def describe_fallbacks(self) -> list[str]:
        notes = []
        if not self.language_analyzers:
            notes.append(
                "no language analyzers on this cluster (module analysis-common absent): "
                "text is analysed with the standard analyzer only"
            )
        if not self.ilm:
            notes.append("no index lifecycle management on this cluster: indices are kept until deleted")
        return notes


def index_name(version: int = MAPPING_VERSION) -> str:
    return f"{INDEX_PREFIX}{version}"


def _text_field(caps: ClusterCapabilities, *, raw: bool) -> dict[str, Any]:
    field: dict[str, Any] = {"type": "text", "analyzer": "standard"}
    subfields: dict[str, Any] = {}
    if raw:
        subfields["raw"] = {"type": "keyword", "ignore_above": 512}
    if caps.language_analyzers:
        for analyzer in sorted(set(LANGUAGE_ANALYZERS.values()) - {"standard"}):
            subfields[analyzer] = {"type": "text", "analyzer": analyzer}
    if subfields:
        field["fields"] = subfields
    return field


def mappings(caps: ClusterCapabilities) -> dict[str, Any]:
    keyword = {"type": "keyword"}
    return {
        "dynamic": "strict",
        "_meta": {"newswatch_mapping_version": MAPPING_VERSION},
        "properties": {
            "id": keyword,
            "schema_version": {"type": "integer"},
            "version": {"type": "integer"},
            "content_hash": keyword,
            "url": keyword,
            "feed_url": keyword,
            "source": keyword,
            "site": keyword,
            "title": _text_field(caps, raw=True),
            "summary": _text_field(caps, raw=False),
            "text": _text_field(caps, raw=False),
            "published": {"type": "date"},
            "published_inferred": {"type": "boolean"},
            "fetched": {"type": "date"},
            "processed": {"type": "date"},
            "indexed": {"type": "date"},
            "lang": keyword,
            "language_hint": keyword,
            "tags": keyword,
            "scores": {"type": "object", "dynamic": True},
            # Evidence is for reading, not searching: stored in _source, not indexed.
            "tag_evidence": {"type": "object", "enabled": False},
            "places": keyword,
            "entities": keyword,
            "story_id": keyword,
            "duplicate_of": keyword,
        },
        "dynamic_templates": [
            {"scores": {"path_match": "scores.*", "mapping": {"type": "float"}}},
        ],
    }


def index_template(caps: ClusterCapabilities, refresh_interval: str = "1s") -> dict[str, Any]:
    settings: dict[str, Any] = {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        # Alerts and analysts need new articles searchable within seconds; 1s is ES's default made explicit.
        "refresh_interval": refresh_interval,
    }
    return {
        "index_patterns": [f"{INDEX_PREFIX}*"],
        "priority": 200,
        "template": {"settings": settings, "mappings": mappings(caps)},
        "_meta": {"managed_by": "newswatch", "mapping_version": MAPPING_VERSION},
    }


def to_document(article: TaggedArticle, indexed: datetime) -> dict[str, Any]:
    """The index document of a tagged article (``_id`` is ``article.id``)."""
    return {
        "id": article.id,
        "schema_version": article.schema_version,
        "version": article.version,
        "content_hash": article.content_hash,
        "url": article.url,
        "feed_url": article.feed_url,
        "source": article.source.name,
        "site": article.source.site,
        "title": article.title,
        "summary": article.summary,
        "text": article.text,
        "published": article.published.isoformat(),
        "published_inferred": article.published_inferred,
        "fetched": article.fetched.isoformat(),
        "processed": article.processed.isoformat(),
        "indexed": indexed.isoformat(),
        "lang": article.lang,
        "language_hint": article.language,
        "tags": list(article.tags),
        "scores": dict(article.scores),
        "tag_evidence": {tag: [e.model_dump() for e in ev] for tag, ev in article.tag_evidence.items()},
        "places": list(article.places),
        "entities": list(article.entities),
        "story_id": article.story_id,
        "duplicate_of": article.duplicate_of,
    }


def searchable_text_fields(caps: ClusterCapabilities) -> list[str]:
    """Fields a free-text search should query (with boosts), given the cluster's analyzers."""
    fields = ["title^3", "summary^2", "text"]
    if caps.language_analyzers:
        fields += [f"{name}.*" for name in TEXT_FIELDS]
    return fields
