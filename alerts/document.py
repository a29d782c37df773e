"""The alert document in ``news-alerts``, its ids, and the alerter's state documents: pure.

Ids are what make alerts exactly-once across restarts and across several alerter processes:

- alert ``<rule>:<group key>:<seq>``: the seq-th alert of a rule and group. Every process that decides
  to fire creates the *next* id with ``op_type=create``; Elasticsearch lets exactly one succeed, and
  only that process delivers. A loser reads the winner's alert and is then inside its cooldown.
- state ``chain:<rule>:<group key>``: a hint of the newest seq (the alerts themselves are the truth:
  a process walks forward from the hint with real-time GETs).
- state ``watermark:<rule>``: until when the rule was evaluated, so a restart catches up from there.

The alert document doubles as the delivery outbox: ``deliveries.<channel>`` records each channel's
outcome, and ``delivery_state``/``lease_*`` let another process finish deliveries of a crashed one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.kibana import discover_url
from alerts.queries import WindowArticles
from alerts.rule import Rule
from alerts.windows import ChainState, WindowCount

PENDING, SENT, FAILED = "pending", "sent", "failed"
DELIVERING, DONE = "delivering", "done"

_KEYWORD = {"type": "keyword", "ignore_above": 2048}
_DATE = {"type": "date"}
_LONG = {"type": "long"}

ALERTS_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "alert_id": _KEYWORD,
        "rule": _KEYWORD,
        "seq": _LONG,
        "rule_fingerprint": _KEYWORD,
        "query": {"type": "keyword", "ignore_above": 8191},
        "group_by": _KEYWORD,
        "group": _KEYWORD,
        "window": _KEYWORD,
        "window_seconds": _LONG,
        "step_seconds": _LONG,
        "threshold": _LONG,
        "min_sources": _LONG,
        "cooldown_seconds": _LONG,
        "count": _LONG,
        "window_start": _DATE,
        "window_end": _DATE,
        "live": {"type": "boolean"},
        "first_article": _DATE,
        "last_article": _DATE,
        "source_count": _LONG,
        "sources": _KEYWORD,
        "top_articles": {
            "properties": {
                "id": _KEYWORD,
                "title": {"type": "text", "fields": {"raw": _KEYWORD}},
                "source": _KEYWORD,
                "url": _KEYWORD,
                "published": _DATE,
            }
        },
        "kibana_url": {"type": "keyword", "index": False},
        "fired_at": _DATE,
        "detection_delay_seconds": {"type": "float"},
        "fired_by": _KEYWORD,
        "channels": _KEYWORD,
        # One object per channel; channel names come from configuration, hence dynamic (typed below).
        "deliveries": {"type": "object", "dynamic": True},
        "delivery_state": _KEYWORD,
        "lease_owner": _KEYWORD,
        "lease_until": _DATE,
    },
    "dynamic_templates": [
        {"delivery_times": {"path_match": "deliveries.*.at", "mapping": _DATE}},
        {"delivery_attempts": {"path_match": "deliveries.*.attempts", "mapping": {"type": "integer"}}},
        {"delivery_text": {"path_match": "deliveries.*", "match_mapping_type": "string", "mapping": _KEYWORD}},
    ],
}

STATE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "kind": _KEYWORD,
        "rule": _KEYWORD,
        "group": _KEYWORD,
        "seq": _LONG,
        "fired_at": _DATE,
        "alert_id": _KEYWORD,
        "evaluated_until": _DATE,
        "rule_fingerprint": _KEYWORD,
        "updated_by": _KEYWORD,
        "updated_at": _DATE,
    },
}

INDEX_SETTINGS: dict[str, Any] = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}


def state_index(alerts_index: str) -> str:
    return f"{alerts_index}-state"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(value: str | int | float) -> int:
    if isinstance(value, int | float):
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def group_key(group: str | None) -> str:
    # Group values are free text (places in any script); a short hash keeps ids ASCII and bounded.
    return "all" if group is None else hashlib.sha256(group.encode()).hexdigest()[:16]


def alert_id(rule: str, group: str | None, seq: int) -> str:
    return f"{rule}:{group_key(group)}:{seq:06d}"


def chain_id(rule: str, group: str | None) -> str:
    return f"chain:{rule}:{group_key(group)}"


def watermark_id(rule: str) -> str:
    return f"watermark:{rule}"


def group_query(rule: Rule, group: str | None) -> str:
    """The rule's query narrowed to one group, in query-string syntax (for Kibana)."""
    if rule.group_by is None or group is None:
        return rule.query
    escaped = group.replace("\\", "\\\\").replace('"', '\\"')
    return f'({rule.query}) AND {rule.group_by}:"{escaped}"'


def build_alert(
    rule: Rule,
    window: WindowCount,
    articles: WindowArticles,
    *,
    seq: int,
    fired_at_ms: int,
    fired_by: str,
    targets: Mapping[str, str],
    lease_until_ms: int,
    kibana_base: str,
    kibana_data_view: str,
) -> dict[str, Any]:
    """The alert as written to ``news-alerts``. ``targets``: channel -> where it goes, free of secrets."""
    link_end = window.end_ms if not window.live else max(window.end_ms, articles.last_ms or window.end_ms)
    return {
        "alert_id": alert_id(rule.name, window.group, seq),
        "rule": rule.name,
        "seq": seq,
        "rule_fingerprint": rule.fingerprint,
        "query": rule.query,
        "group_by": rule.group_by,
        "group": window.group,
        "window": rule.window_text or f"{rule.window_seconds}s",
        "window_seconds": rule.window_seconds,
        "step_seconds": rule.step_seconds,
        "threshold": rule.threshold,
        "min_sources": rule.min_sources,
        "cooldown_seconds": rule.cooldown,
        "count": window.count,
        "window_start": iso(window.start_ms),
        "window_end": iso(window.end_ms),
        "live": window.live,
        "first_article": None if articles.first_ms is None else iso(articles.first_ms),
        "last_article": None if articles.last_ms is None else iso(articles.last_ms),
        "source_count": max(articles.source_count, len(window.sources)),
        "sources": list(articles.sources),
        "top_articles": [
            {"id": a.id, "title": a.title, "source": a.source, "url": a.url, "published": a.published or None}
            for a in articles.articles
        ],
        "kibana_url": discover_url(
            kibana_base, kibana_data_view, group_query(rule, window.group), window.start_ms, link_end + 1000
        ),
        "fired_at": iso(fired_at_ms),
        # How long after its window closed the crossing was seen: ~0 live, more after downtime or late data.
        "detection_delay_seconds": max(0.0, (fired_at_ms - window.end_ms) / 1000),
        "fired_by": fired_by,
        "channels": list(targets),
        "deliveries": {name: {"status": PENDING, "attempts": 0, "target": target} for name, target in targets.items()},
        "delivery_state": DELIVERING,
        "lease_owner": fired_by,
        "lease_until": iso(lease_until_ms),
    }


def chain_after(doc: Mapping[str, Any]) -> ChainState:
    """The chain state once ``doc`` (an alert) is the newest alert of its rule and group."""
    return ChainState(seq=int(doc["seq"]), fired_at_ms=epoch_ms(doc["fired_at"]))


def chain_document(doc: Mapping[str, Any], updated_by: str, now_ms: int) -> dict[str, Any]:
    return {
        "kind": "chain",
        "rule": doc["rule"],
        "group": doc["group"],
        "seq": doc["seq"],
        "fired_at": doc["fired_at"],
        "alert_id": doc["alert_id"],
        "updated_by": updated_by,
        "updated_at": iso(now_ms),
    }


def watermark_document(rule: Rule, evaluated_until_ms: int, updated_by: str) -> dict[str, Any]:
    return {
        "kind": "watermark",
        "rule": rule.name,
        "evaluated_until": iso(evaluated_until_ms),
        "rule_fingerprint": rule.fingerprint,
        "updated_by": updated_by,
        "updated_at": iso(evaluated_until_ms),
    }


def unfinished_channels(doc: Mapping[str, Any]) -> list[str]:
    """Channels of an alert still to deliver (neither sent nor finally failed)."""
    deliveries = doc.get("deliveries") or {}
    return [name for name in doc.get("channels", []) if deliveries.get(name, {}).get("status") not in (SENT, FAILED)]
