"""The demo feeds file: a template in the collectors' format, rendered for a demo server's base URL.

``newswatch/demo/feeds.yaml`` lists the demo feeds with urls of the form ``"{base}/feeds/<file>"``;
the demo server's port is only known once it is listening, so the placeholder is replaced then.
``render_feeds_file(base_url)`` is the one place that does it (the server also serves the rendered
file at ``/feeds.yaml``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

BASE_PLACEHOLDER = "{base}"
TEMPLATE_NAME = "newswatch/demo/feeds.yaml"
# Only the quoted placeholder at the start of a url value is replaced, never a mention in a comment.
_URL_PREFIX = f'"{BASE_PLACEHOLDER}/'


def feeds_template() -> str:
    """The template as shipped, placeholders and comments included."""
    return resources.files("newswatch.demo").joinpath("feeds.yaml").read_text(encoding="utf-8")


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL must be an absolute http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment or any(char in base_url for char in '"\\ \n'):
        raise ValueError(f"base URL must not carry a query, a fragment, quotes or spaces: {base_url!r}")
    return base_url.rstrip("/")


def render_feeds_file(base_url: str) -> str:
    """The demo feeds file with every url pointing at ``base_url`` (e.g. ``http://127.0.0.1:8765``)."""
    base = _check_base_url(base_url)
    lines = feeds_template().splitlines(keepends=True)
    # The template's leading comment explains the placeholder; the rendered file says where it came from.
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    header = f"# Demo feeds served by the newswatch demo server at {base}\n# (rendered from {TEMPLATE_NAME})\n\n"
    return header + "".join(lines).replace(_URL_PREFIX, f'"{base}/')


def demo_feed_entries(base_url: str) -> list[dict[str, Any]]:
    """The rendered feeds file, parsed: one dict per feed (url, name, language, country, interval)."""
    entries = yaml.safe_load(render_feeds_file(base_url))
    if not isinstance(entries, list):
        raise ValueError("the demo feeds file must be a YAML list")
    return entries


def write_feeds_file(base_url: str, path: Path) -> Path:
    path.write_text(render_feeds_file(base_url), encoding="utf-8")
    return path
