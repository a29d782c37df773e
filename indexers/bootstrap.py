"""Idempotent index set-up, run at every indexer start: template, first versioned index, alias.

Also detects what the cluster offers (language analyzers, ILM) so the template uses them when
present and falls back, with one log line each, when they are not (the local integ-test-zip node).
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, Elasticsearch

from indexers.document import (
    ALIAS,
    INDEX_PREFIX,
    MAPPING_VERSION,
    TEMPLATE_NAME,
    ClusterCapabilities,
    index_name,
    index_template,
)


def detect_capabilities(es: Elasticsearch) -> ClusterCapabilities:
    return ClusterCapabilities(language_analyzers=_has_analyzer(es, "english"), ilm=_has_ilm(es))


def _has_analyzer(es: Elasticsearch, analyzer: str) -> bool:
    try:
        es.indices.analyze(analyzer=analyzer, text="troops")
        return True
    except ApiError as exc:
        if exc.status_code == 400:  # "failed to find global analyzer"
            return False
        raise


def _has_ilm(es: Elasticsearch) -> bool:
    try:
        es.ilm.get_status()
        return True
    except ApiError as exc:
        if exc.status_code in (400, 404, 405, 410):  # no handler for /_ilm/*
            return False
        raise


def bootstrap_index(
    es: Elasticsearch,
    caps: ClusterCapabilities,
    log: Any,
    *,
    refresh_interval: str = "1s",
    alias: str = ALIAS,
) -> str:
    """Put the template, create the current index if missing, point the alias at it. Returns the index.

    ``alias`` other than ``news`` (tests) gets its own template and index names derived from it.
    """
    for note in caps.describe_fallbacks():
        log.warning("elasticsearch capability fallback", detail=note)
    prefix = INDEX_PREFIX if alias == ALIAS else f"{alias}-v"
    template = index_template(caps, refresh_interval) | {"index_patterns": [f"{prefix}*"]}
    es.indices.put_index_template(name=TEMPLATE_NAME if alias == ALIAS else f"{alias}-template", **template)
    index = index_name() if alias == ALIAS else f"{prefix}{MAPPING_VERSION}"
    if not es.indices.exists(index=index):
        try:
            es.indices.create(index=index)
        except ApiError as exc:
            if exc.error != "resource_already_exists_exception":  # another indexer won the race
                raise
    es.indices.update_aliases(actions=[{"add": {"index": index, "alias": alias, "is_write_index": True}}])
    es.cluster.health(index=index, wait_for_status="yellow", timeout="30s")
    return index


def bootstrap_from_settings(settings: Any, log: Any) -> str:
    """Detect the cluster's capabilities and set up the template, index and alias the settings name."""
    from newswatch.clients import elasticsearch_client

    es = elasticsearch_client(settings)
    try:
        return bootstrap_index(
            es,
            detect_capabilities(es),
            log,
            refresh_interval=settings.indexer_refresh_interval,
            alias=settings.index_alias,
        )
    finally:
        es.close()
