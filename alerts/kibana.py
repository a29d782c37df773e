"""Kibana Discover links: the rule's query over the alert's window, in Kibana's URL state (Rison). Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

# Characters Rison uses for structure stay readable; everything else is percent-encoded.
_SAFE = "(),:!'*-._~"


def rison_string(text: str) -> str:
    """A Rison string literal: quoted with ', where ! escapes ! and '."""
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def discover_url(base_url: str, data_view_id: str, query: str, start_ms: int, end_ms: int) -> str:
    """Discover on ``data_view_id`` with ``query`` (Lucene syntax) between the two times, absolute."""
    global_state = (
        "(filters:!(),refreshInterval:(pause:!t,value:0),"
        f"time:(from:{rison_string(_iso(start_ms))},to:{rison_string(_iso(end_ms))}))"
    )
    app_state = (
        f"(index:{rison_string(data_view_id)},"
        f"query:(language:lucene,query:{rison_string(query)}),"
        "sort:!(!(published,desc)))"
    )
    base = base_url.rstrip("/")
    return f"{base}/app/discover#/?_g={quote(global_state, safe=_SAFE)}&_a={quote(app_state, safe=_SAFE)}"
